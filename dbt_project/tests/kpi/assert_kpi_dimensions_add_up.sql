{{ config(tags=['consistency', 'kpi'], meta={'dagster': {'ref': {'name': 'kpi_actuals_by_dimension'}}}) }}
{#- kpi_actuals_by_dimension: for each (KPI, unit, period, dimension) the parts add up to kpi_actuals —
    values for sum/count KPIs, numerators and denominators for ratios. Rows returned = violations. -#}
with breakdown as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        dimension,
        sum(actual_value) as value_sum,
        sum(numerator) as numerator_sum,
        sum(denominator) as denominator_sum
    from {{ ref('kpi_actuals_by_dimension') }}
    group by kpi_id, org_unit_id, grain, period_start, dimension
),

actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
),

compared as (
    select
        breakdown.*,
        actuals.measure_type,
        actuals.actual_value,
        actuals.numerator,
        actuals.denominator
    from breakdown
    inner join actuals
        on actuals.kpi_id = breakdown.kpi_id
        and actuals.org_unit_id = breakdown.org_unit_id
        and actuals.grain = breakdown.grain
        and actuals.period_start = breakdown.period_start
)

select *
from compared
where (measure_type in ('sum', 'count') and abs(value_sum - actual_value) > 1e-6 * greatest(1, abs(actual_value)))
    or (measure_type = 'ratio' and (
        abs(numerator_sum - numerator) > 1e-6 * greatest(1, abs(numerator))
        or abs(denominator_sum - denominator) > 1e-6 * greatest(1, abs(denominator))))
