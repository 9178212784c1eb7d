{{ config(tags=['consistency', 'kpi']) }}
{#- Time roll-ups: for sum/count KPIs (and ratio numerators/denominators) a week, month, quarter or
    year equals the sum of its days; a `last` KPI equals its value on the period's evaluation day.
    Compared where every day of the period was evaluated with the period's own KPI version.
    Rows returned = violations. -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
    where measure_type in ('sum', 'count', 'last', 'ratio')
),

days as (
    select * from actuals where grain = 'day'
),

periods as (
    select * from actuals where grain <> 'day'
),

summed as (
    select
        periods.kpi_id,
        periods.org_unit_id,
        periods.grain,
        periods.period_start,
        max(periods.measure_type) as measure_type,
        max(periods.actual_value) as period_value,
        max(periods.numerator) as period_numerator,
        max(periods.denominator) as period_denominator,
        sum(days.actual_value) as days_value,
        sum(days.numerator) as days_numerator,
        sum(days.denominator) as days_denominator,
        sum(case when days.period_start = periods.eval_date then days.actual_value end) as eval_day_value,
        count(distinct days.kpi_version) as versions_seen,
        min(days.kpi_version) as min_version,
        max(periods.kpi_version) as period_version
    from periods
    inner join days
        on days.kpi_id = periods.kpi_id
        and days.org_unit_id = periods.org_unit_id
        and days.period_start between periods.period_start and periods.eval_date
    group by periods.kpi_id, periods.org_unit_id, periods.grain, periods.period_start
)

select *
from summed
where versions_seen = 1
    and min_version = period_version
    and (
        (measure_type in ('sum', 'count') and abs(period_value - days_value) > 1e-6 * greatest(1, abs(days_value)))
        or (measure_type = 'last' and abs(period_value - coalesce(eval_day_value, 0)) > 1e-6 * greatest(1, abs(period_value)))
        or (measure_type = 'ratio' and (
            abs(period_numerator - days_numerator) > 1e-6 * greatest(1, abs(days_numerator))
            or abs(period_denominator - days_denominator) > 1e-6 * greatest(1, abs(days_denominator))))
    )
