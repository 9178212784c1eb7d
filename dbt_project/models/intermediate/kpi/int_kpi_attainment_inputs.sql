{#- Everything attainment needs, per KPI × org unit × month/quarter/year period: the actual, the
    target, the KPI version's direction and thresholds, and last year's actuals for phasing. -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
),

targets as (
    select * from {{ ref('int_kpi_targets_resolved') }}
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

period_actuals as (
    select * from actuals
    where grain in ('month', 'quarter', 'year')
),

last_year_full as (
    select
        period_actuals.kpi_id,
        period_actuals.org_unit_id,
        period_actuals.grain,
        period_actuals.period_start,
        previous.actual_value as ly_full
    from period_actuals
    inner join actuals as previous
        on previous.kpi_id = period_actuals.kpi_id
        and previous.org_unit_id = period_actuals.org_unit_id
        and previous.grain = period_actuals.grain
        and previous.period_start = {{ kpi_add_years('period_actuals.period_start', -1) }}
        and previous.data_status = 'ok'
    where not period_actuals.is_complete
),

distinct_to_date as (
    select * from {{ ref('int_kpi_distinct_to_date') }}
),

last_year_to_date as (
    -- last year's daily actuals over the same number of elapsed days (running periods only)
    select
        period_actuals.kpi_id,
        period_actuals.org_unit_id,
        period_actuals.grain,
        period_actuals.period_start,
        sum(previous_days.actual_value) as ly_to_date
    from period_actuals
    inner join actuals as previous_days
        on previous_days.kpi_id = period_actuals.kpi_id
        and previous_days.org_unit_id = period_actuals.org_unit_id
        and previous_days.grain = 'day'
        and previous_days.period_start >= {{ kpi_add_years('period_actuals.period_start', -1) }}
        and previous_days.period_start <= {{ kpi_add_days(kpi_add_years('period_actuals.period_start', -1), 'period_actuals.days_elapsed - 1') }}
    where not period_actuals.is_complete
    group by period_actuals.kpi_id, period_actuals.org_unit_id, period_actuals.grain, period_actuals.period_start
),

final as (
    select
        period_actuals.kpi_id,
        period_actuals.org_unit_id,
        period_actuals.grain,
        period_actuals.period_start,
        period_actuals.period_end,
        period_actuals.eval_date,
        period_actuals.kpi_version,
        versions.direction,
        versions.measure_type,
        versions.measure_type in ('sum', 'count') as is_time_additive,
        -- values that accumulate over a period: their target is phased to date
        versions.measure_type in ('sum', 'count', 'count_distinct') as is_accumulating,
        versions.amber_threshold,
        versions.score_cap,
        period_actuals.actual_value,
        targets.target_value,
        targets.target_low,
        targets.target_high,
        targets.source as target_source,
        targets.target_status,
        targets.target_note,
        targets.plan_version,
        targets.plan_file,
        case
            when versions.measure_type = 'count_distinct' then distinct_to_date.ly_to_date
            else last_year_to_date.ly_to_date
        end as ly_to_date,
        last_year_full.ly_full,
        period_actuals.is_complete,
        period_actuals.days_elapsed,
        period_actuals.days_in_period,
        period_actuals.is_verified,
        period_actuals.first_unverified_day,
        period_actuals.value_low,
        period_actuals.value_high,
        period_actuals.unverified_reason,
        period_actuals.unverified_tables,
        period_actuals.data_status,
        period_actuals.data_start
    from period_actuals
    inner join versions
        on versions.kpi_id = period_actuals.kpi_id
        and versions.version = period_actuals.kpi_version
    left join targets
        on targets.kpi_id = period_actuals.kpi_id
        and targets.org_unit_id = period_actuals.org_unit_id
        and targets.grain = period_actuals.grain
        and targets.period_start = period_actuals.period_start
    left join last_year_full
        on last_year_full.kpi_id = period_actuals.kpi_id
        and last_year_full.org_unit_id = period_actuals.org_unit_id
        and last_year_full.grain = period_actuals.grain
        and last_year_full.period_start = period_actuals.period_start
    left join distinct_to_date
        on distinct_to_date.kpi_id = period_actuals.kpi_id
        and distinct_to_date.kpi_version = period_actuals.kpi_version
        and distinct_to_date.org_unit_id = period_actuals.org_unit_id
        and distinct_to_date.grain = period_actuals.grain
        and distinct_to_date.period_start = period_actuals.period_start
    left join last_year_to_date
        on last_year_to_date.kpi_id = period_actuals.kpi_id
        and last_year_to_date.org_unit_id = period_actuals.org_unit_id
        and last_year_to_date.grain = period_actuals.grain
        and last_year_to_date.period_start = period_actuals.period_start
)

select * from final
