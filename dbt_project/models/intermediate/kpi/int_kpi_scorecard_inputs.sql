{#- Weighted KPIs of each org unit and period with their attainment (to date while running; null when
    the value is not judged: no data for the whole period or no usable target, with the reason), the
    weights valid on the period's evaluation day, and the unit's parent on that day. -#}
with scored as (
    select * from {{ ref('int_kpi_attainment_scored') }}
),

weights as (
    select * from {{ ref('int_kpi_weights_resolved') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

final as (
    select
        scored.org_unit_id,
        parents.ancestor_id as parent_org_unit_id,
        scored.grain,
        scored.period_start,
        scored.is_complete,
        scored.kpi_id,
        weights.weight,
        -- only a judged value counts (data for the whole period and a usable target)
        case when scored.status is not null then scored.attainment_to_date end as attainment,
        scored.score_cap,
        case
            when scored.data_status = 'no_data' then 'no data'
            when scored.data_status = 'partial' then 'partial data'
            when scored.target_status is null then 'no target'
            when scored.target_status <> 'ok' then 'target ' || scored.target_status
            when scored.status is null then 'no attainment'
        end as unscored_reason
    from scored
    inner join weights
        on weights.org_unit_id = scored.org_unit_id
        and weights.kpi_id = scored.kpi_id
        and weights.valid_from <= scored.eval_date
        and (weights.valid_to is null or scored.eval_date < weights.valid_to)
    left join closure as parents
        on parents.date_day = scored.eval_date
        and parents.descendant_id = scored.org_unit_id
        and parents.depth = 1
)

select * from final
