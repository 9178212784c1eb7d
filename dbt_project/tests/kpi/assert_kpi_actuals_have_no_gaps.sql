{{ config(tags=['consistency', 'kpi'], meta={'dagster': {'ref': {'name': 'kpi_actuals'}}}) }}
{#- No silent gaps: every KPI version × grain × period up to the as-of date has a value for each of the
    version's scope roots (scope roots are valid in every period they exist), and kpi_actuals holds
    exactly the spine's rows. Rows returned = violations. -#}
with actuals as (
    select * from {{ ref('kpi_actuals') }}
),

spine as (
    select * from {{ ref('int_kpi_spine') }}
),

periods as (
    select * from {{ ref('int_kpi_periods') }}
),

version_grains as (
    select * from {{ ref('int_kpi_version_grains') }}
),

version_scopes as (
    select * from {{ ref('int_kpi_version_scopes') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

expected_root_rows as (
    select
        version_grains.kpi_id,
        version_scopes.scope_root_id as org_unit_id,
        periods.grain,
        periods.period_start
    from periods
    inner join version_grains
        on version_grains.grain = periods.grain
        and version_grains.valid_from <= periods.eval_date
        and (version_grains.valid_to is null or periods.eval_date < version_grains.valid_to)
    inner join version_scopes
        on version_scopes.kpi_id = version_grains.kpi_id
        and version_scopes.kpi_version = version_grains.kpi_version
    -- the root exists on the period's evaluation day
    inner join closure
        on closure.date_day = periods.eval_date
        and closure.ancestor_id = version_scopes.scope_root_id
        and closure.depth = 0
),

missing_periods as (
    select 'missing period' as problem, expected_root_rows.kpi_id, expected_root_rows.org_unit_id,
           expected_root_rows.grain, expected_root_rows.period_start
    from expected_root_rows
    left join actuals
        on actuals.kpi_id = expected_root_rows.kpi_id
        and actuals.org_unit_id = expected_root_rows.org_unit_id
        and actuals.grain = expected_root_rows.grain
        and actuals.period_start = expected_root_rows.period_start
    where actuals.kpi_id is null
),

missing_rows as (
    select 'spine row missing' as problem, spine.kpi_id, spine.org_unit_id, spine.grain, spine.period_start
    from spine
    left join actuals
        on actuals.kpi_id = spine.kpi_id
        and actuals.org_unit_id = spine.org_unit_id
        and actuals.grain = spine.grain
        and actuals.period_start = spine.period_start
    where actuals.kpi_id is null
),

extra_rows as (
    select 'row outside the spine' as problem, actuals.kpi_id, actuals.org_unit_id, actuals.grain, actuals.period_start
    from actuals
    left join spine
        on spine.kpi_id = actuals.kpi_id
        and spine.org_unit_id = actuals.org_unit_id
        and spine.grain = actuals.grain
        and spine.period_start = actuals.period_start
    where spine.kpi_id is null
)

select * from missing_periods
union all
select * from missing_rows
union all
select * from extra_rows
