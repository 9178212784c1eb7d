{#- Every (KPI, org unit, grain, period) that must have a value: the period's evaluated version
    (valid on the period's last day, or on the as-of date while running), every grain the version
    reports at, every org unit valid in the period inside the version's scope (descendants of a scope
    root within scope_max_depth, plus the root's ancestors). -#}
with periods as (
    select * from {{ ref('int_kpi_periods') }}
),

version_grains as (
    select * from {{ ref('int_kpi_version_grains') }}
),

version_scopes as (
    select * from {{ ref('int_kpi_version_scopes') }}
),

org_periods as (
    select * from {{ ref('int_kpi_org_periods') }}
),

evaluated_versions as (
    select
        version_grains.kpi_id,
        version_grains.kpi_version,
        periods.grain,
        periods.period_start,
        periods.period_end,
        periods.eval_date,
        periods.is_complete,
        periods.days_in_period,
        periods.days_elapsed
    from periods
    inner join version_grains
        on version_grains.grain = periods.grain
        and version_grains.valid_from <= periods.eval_date
        and (version_grains.valid_to is null or periods.eval_date < version_grains.valid_to)
),

scoped_units as (
    -- the scope roots and their descendants (within the depth limit)
    select
        version_scopes.kpi_id,
        version_scopes.kpi_version,
        org_periods.grain,
        org_periods.period_start,
        org_periods.descendant_id as org_unit_id
    from version_scopes
    inner join org_periods
        on org_periods.ancestor_id = version_scopes.scope_root_id
        and (version_scopes.scope_max_depth is null or org_periods.depth <= version_scopes.scope_max_depth)
    union
    -- the scope roots' ancestors
    select
        version_scopes.kpi_id,
        version_scopes.kpi_version,
        org_periods.grain,
        org_periods.period_start,
        org_periods.ancestor_id as org_unit_id
    from version_scopes
    inner join org_periods
        on org_periods.descendant_id = version_scopes.scope_root_id
),

final as (
    select distinct
        evaluated_versions.kpi_id,
        scoped_units.org_unit_id,
        evaluated_versions.grain,
        evaluated_versions.period_start,
        evaluated_versions.period_end,
        evaluated_versions.eval_date,
        evaluated_versions.kpi_version,
        evaluated_versions.is_complete,
        evaluated_versions.days_elapsed,
        evaluated_versions.days_in_period
    from evaluated_versions
    inner join scoped_units
        on scoped_units.kpi_id = evaluated_versions.kpi_id
        and scoped_units.kpi_version = evaluated_versions.kpi_version
        and scoped_units.grain = evaluated_versions.grain
        and scoped_units.period_start = evaluated_versions.period_start
)

select * from final
