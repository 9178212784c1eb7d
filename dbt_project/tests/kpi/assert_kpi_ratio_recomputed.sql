{{ config(tags=['consistency', 'kpi'], meta={'dagster': {'ref': {'name': 'kpi_actuals'}}}) }}
{#- Ratio KPIs: actual = scale × numerator / denominator on every row with data (null exactly when
    the denominator is 0; a period without data has no numerator, denominator or value), at every
    grain and level. Rows returned = violations. -#}
with actuals as (
    select * from {{ ref('kpi_actuals') }}
),

versions as (
    select * from {{ ref('kpi_definitions') }}
),

checked as (
    select
        actuals.kpi_id,
        actuals.org_unit_id,
        actuals.grain,
        actuals.period_start,
        actuals.actual_value,
        actuals.numerator,
        actuals.denominator,
        actuals.data_status,
        versions.measure_scale * actuals.numerator / nullif(actuals.denominator, 0) as expected_value
    from actuals
    inner join versions
        on versions.kpi_id = actuals.kpi_id
        and versions.version = actuals.kpi_version
    where versions.measure_type = 'ratio'
)

select *
from checked
where (data_status = 'no_data' and (numerator is not null or denominator is not null or actual_value is not null))
    or (data_status <> 'no_data' and (numerator is null or denominator is null))
    or (expected_value is null) <> (actual_value is null)
    or abs(actual_value - expected_value) > 1e-9 * greatest(1, abs(expected_value))
