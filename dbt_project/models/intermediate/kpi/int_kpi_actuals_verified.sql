{#- KPI values with the trust flag: unverified when a raw partition feeding one of the KPI's facts
    was rejected or had quarantined rows inside the period (see macros/kpi/kpi_verification.sql). -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals') }}
),

version_models as (
    select * from {{ ref('int_kpi_version_models') }}
),

unverified_days as (
    select * from {{ ref('int_kpi_unverified_days') }}
),

unverified_rows as (
    select distinct
        actuals.kpi_id,
        actuals.org_unit_id,
        actuals.grain,
        actuals.period_start
    from actuals
    inner join version_models
        on version_models.kpi_id = actuals.kpi_id
        and version_models.kpi_version = actuals.kpi_version
    inner join unverified_days
        on unverified_days.measure_model = version_models.measure_model
        and unverified_days.date_day between actuals.period_start and actuals.eval_date
),

final as (
    select
        actuals.kpi_id,
        actuals.org_unit_id,
        actuals.grain,
        actuals.period_start,
        actuals.period_end,
        actuals.actual_value,
        actuals.numerator,
        actuals.denominator,
        actuals.kpi_version,
        actuals.is_complete,
        actuals.days_elapsed,
        actuals.days_in_period,
        unverified_rows.kpi_id is null as is_verified,
        actuals.eval_date,
        actuals.measure_type
    from actuals
    left join unverified_rows
        on unverified_rows.kpi_id = actuals.kpi_id
        and unverified_rows.org_unit_id = actuals.org_unit_id
        and unverified_rows.grain = actuals.grain
        and unverified_rows.period_start = actuals.period_start
)

select * from final
