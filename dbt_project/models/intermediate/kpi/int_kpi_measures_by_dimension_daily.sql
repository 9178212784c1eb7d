{#- Additive KPI parts at (leaf org unit, business date), in total (dimension null) and by each
    gap-explaining dimension of the fact: ONE aggregation (one scan) per fact model. -#}
with measures as (
    {{ kpi_additive_daily_sql() }}
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
        dimension,
        dimension_value,
        value
    from measures
)

select * from final
