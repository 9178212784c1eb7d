{#- Attainment and status per KPI × org unit × month/quarter/year period. -#}
with scored as (
    select * from {{ ref('int_kpi_attainment_scored') }}
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        actual_value,
        target_value,
        target_low,
        target_high,
        expected_to_date,
        attainment,
        attainment_to_date,
        status,
        is_complete,
        kpi_version,
        is_verified
    from scored
)

select * from final
