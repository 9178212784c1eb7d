{#-
    KPI weights per org unit over time. Catalog weights (per KPI version) name org units explicitly
    or apply `by_unit_type` to the units of that type in the KPI's scope; a unit named explicitly by
    any KPI takes only its explicit weights. The finance plan's Weights sheet replaces an org unit's
    catalog weights for as long as the plan version is valid (its fiscal year at most). Rows change
    only at breakpoints (a KPI version or plan version starting or ending).
-#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set rows = [] -%}
{%- for w in catalog['weights'] -%}
    {%- if w['org_unit_id'] -%}
        {%- do rows.append({'kpi_id': w['kpi_id'], 'kpi_version': w['version'], 'org_unit_id': w['org_unit_id'],
                            'unit_type': none, 'scope_root_id': none, 'weight': w['weight']}) -%}
    {%- else -%}
        {%- for root in w['scope'] -%}
            {%- do rows.append({'kpi_id': w['kpi_id'], 'kpi_version': w['version'], 'org_unit_id': none,
                                'unit_type': w['unit_type'], 'scope_root_id': root, 'weight': w['weight']}) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endfor -%}

with catalog_weights as (
    {{ kpi_rows(rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('org_unit_id', 'string'),
                       ('unit_type', 'string'), ('scope_root_id', 'string'), ('weight', 'double')]) }}
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

plan_versions as (
    select * from {{ ref('int_kpi_plan_versions') }}
),

plan_weights as (
    select * from {{ ref('stg_finance__weights') }}
),

org_units as (
    select distinct org_unit_id, unit_type from {{ ref('dim_org_unit') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

plan_validity as (
    select
        plan_version,
        valid_from,
        least(
            coalesce(valid_to, cast(cast(fiscal_year + 1 as {{ dbt.type_string() }}) || '-01-01' as date)),
            cast(cast(fiscal_year + 1 as {{ dbt.type_string() }}) || '-01-01' as date)
        ) as valid_to
    from plan_versions
),

breakpoints as (
    select valid_from as starts_on from versions
    union
    select valid_to from versions where valid_to is not null
    union
    select valid_from from plan_validity
    union
    select valid_to from plan_validity
),

intervals as (
    select
        starts_on,
        lead(starts_on) over (order by starts_on) as ends_before
    from breakpoints
),

catalog_active as (
    select intervals.starts_on, intervals.ends_before, catalog_weights.*
    from intervals
    inner join versions on versions.valid_from <= intervals.starts_on
        and (versions.valid_to is null or intervals.starts_on < versions.valid_to)
    inner join catalog_weights
        on catalog_weights.kpi_id = versions.kpi_id
        and catalog_weights.kpi_version = versions.version
),

scope_members as (
    select distinct ancestor_id as scope_root_id, descendant_id as org_unit_id from closure
),

catalog_by_type as (
    select distinct
        catalog_active.starts_on,
        catalog_active.ends_before,
        scope_members.org_unit_id,
        catalog_active.kpi_id,
        catalog_active.weight
    from catalog_active
    inner join scope_members on scope_members.scope_root_id = catalog_active.scope_root_id
    inner join org_units
        on org_units.org_unit_id = scope_members.org_unit_id
        and org_units.unit_type = catalog_active.unit_type
    where catalog_active.unit_type is not null
),

catalog_explicit as (
    select starts_on, ends_before, org_unit_id, kpi_id, weight
    from catalog_active
    where catalog_active.org_unit_id is not null
),

catalog_resolved as (
    select * from catalog_explicit
    union all
    select catalog_by_type.*
    from catalog_by_type
    where not exists (
        select 1 from catalog_explicit
        where catalog_explicit.starts_on = catalog_by_type.starts_on
            and catalog_explicit.org_unit_id = catalog_by_type.org_unit_id
    )
),

plan_active as (
    select
        intervals.starts_on,
        intervals.ends_before,
        cast(plan_weights.org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(plan_weights.kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(plan_weights.weight as double) as weight,
        plan_validity.plan_version
    from intervals
    inner join plan_validity
        on plan_validity.valid_from <= intervals.starts_on
        and intervals.starts_on < plan_validity.valid_to
    inner join plan_weights on plan_weights.plan_version = plan_validity.plan_version
),

final as (
    select
        org_unit_id,
        kpi_id,
        weight,
        'plan' as source,
        plan_version,
        starts_on as valid_from,
        ends_before as valid_to
    from plan_active
    union all
    select
        org_unit_id,
        kpi_id,
        weight,
        'catalog' as source,
        cast(null as {{ dbt.type_string() }}) as plan_version,
        starts_on as valid_from,
        ends_before as valid_to
    from catalog_resolved
    where not exists (
        select 1 from plan_active
        where plan_active.starts_on = catalog_resolved.starts_on
            and plan_active.org_unit_id = catalog_resolved.org_unit_id
    )
)

select * from final
