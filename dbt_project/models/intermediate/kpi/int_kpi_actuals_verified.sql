{#- KPI values with the trust flag: unverified when a source check failed on a business day of the
    period (up to its evaluation day) for one of the KPI version's fact models (see
    macros/kpi/kpi_verification.sql). `first_unverified_day` is the earliest such day (null when
    verified): kpi_attainment holds a status change back from it. -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals') }}
),

version_models as (
    select * from {{ ref('int_kpi_version_models') }}
),

unverified_days as (
    select * from {{ ref('int_kpi_unverified_days') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

grains as (
    select 'day' as grain union all select 'week' union all select 'month'
    union all select 'quarter' union all select 'year'
),

unverified_periods as (
    -- every period that contains an unverified day of a fact model (equality-joinable to actuals)
    select
        unverified_days.measure_model,
        grains.grain,
        case grains.grain
            when 'day' then dates.date_day
            when 'week' then dates.week_start
            when 'month' then dates.month_start
            when 'quarter' then dates.quarter_start
            else dates.year_start
        end as period_start,
        min(unverified_days.date_day) as first_unverified_day
    from unverified_days
    inner join dates on dates.date_day = unverified_days.date_day
    cross join grains
    group by 1, 2, 3
),

unverified_versions as (
    select
        version_models.kpi_id,
        version_models.kpi_version,
        unverified_periods.grain,
        unverified_periods.period_start,
        min(unverified_periods.first_unverified_day) as first_unverified_day
    from unverified_periods
    inner join version_models on version_models.measure_model = unverified_periods.measure_model
    group by 1, 2, 3, 4
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
        unverified_versions.first_unverified_day is null as is_verified,
        actuals.eval_date,
        actuals.measure_type,
        unverified_versions.first_unverified_day
    from actuals
    left join unverified_versions
        on unverified_versions.kpi_id = actuals.kpi_id
        and unverified_versions.kpi_version = actuals.kpi_version
        and unverified_versions.grain = actuals.grain
        and unverified_versions.period_start = actuals.period_start
        and unverified_versions.first_unverified_day <= actuals.eval_date
)

select * from final
