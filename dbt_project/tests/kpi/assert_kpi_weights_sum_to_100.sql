{{ config(tags=['consistency', 'kpi']) }}
{#- The weights of an org unit's KPIs sum to 100 in every validity interval. Rows returned = violations. -#}
with weights as (
    select * from {{ ref('kpi_weights') }}
),

totals as (
    select org_unit_id, valid_from, sum(weight) as weight_total, count(*) as kpi_count
    from weights
    group by org_unit_id, valid_from
)

select * from totals
where abs(weight_total - 100) > 1e-9
