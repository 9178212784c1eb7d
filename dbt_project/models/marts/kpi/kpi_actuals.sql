{#- Every KPI × in-scope org unit × period up to the as-of date, exactly once. -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        actual_value,
        numerator,
        denominator,
        kpi_version,
        is_complete,
        days_elapsed,
        days_in_period,
        is_verified,
        data_status,
        data_start,
        value_low,
        value_high,
        unverified_reason,
        unverified_tables
    from actuals
)

select * from final
