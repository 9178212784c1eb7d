{#- Additive KPI parts at (leaf org unit, business date) in total: the dimension-free rows of the one
    pass per fact model (int_kpi_measures_by_dimension_daily). -#}
with measures as (
    select * from {{ ref('int_kpi_measures_by_dimension_daily') }}
    where dimension is null
),

final as (
    select
        measure_model,
        kpi_id,
        kpi_version,
        part,
        is_semi_additive,
        org_unit_id,
        date_day,
        value
    from measures
)

select * from final
