{#- Org units as SCD2 rows with their level and path. The path of a row is the chain of ancestors
    on the row's last valid day (for open rows: the current structure). -#}
with recursive

org_units as (
    select * from {{ ref('stg_hr__org_units') }}
),

anchored as (
    select
        org_unit_id,
        valid_from,
        coalesce(
            cast({{ dbt.dateadd('day', -1, 'valid_to') }} as date),
            cast('9999-12-30' as date)
        ) as path_date,
        parent_org_unit_id
    from org_units
),

ancestry (org_unit_id, valid_from, path_date, next_parent_id, depth, path) as (
    select
        org_unit_id,
        valid_from,
        path_date,
        parent_org_unit_id,
        0,
        cast(org_unit_id as {{ dbt.type_string() }})
    from anchored

    union all

    select
        ancestry.org_unit_id,
        ancestry.valid_from,
        ancestry.path_date,
        parents.parent_org_unit_id,
        ancestry.depth + 1,
        parents.org_unit_id || '/' || ancestry.path
    from ancestry
    inner join org_units as parents
        on parents.org_unit_id = ancestry.next_parent_id
        and parents.valid_from <= ancestry.path_date
        and (parents.valid_to is null or ancestry.path_date < parents.valid_to)
    where ancestry.depth < 20
),

full_paths as (
    {{ deduplicate_latest('ancestry', ['org_unit_id', 'valid_from'], ['depth desc']) }}
),

final as (
    select
        org_units.org_unit_id,
        org_units.org_unit_name as name,
        org_units.org_unit_name_zh as name_zh,
        org_units.unit_type,
        case org_units.unit_type
            when 'company' then 1
            when 'division' then 2
            when 'department' then 3
            when 'team' then 4
            else cast(full_paths.depth as integer) + 1
        end as level,
        org_units.parent_org_unit_id,
        full_paths.path,
        org_units.manager_employee_id,
        org_units.valid_from,
        org_units.valid_to,
        org_units.valid_to is null as is_current
    from org_units
    inner join full_paths
        on full_paths.org_unit_id = org_units.org_unit_id
        and full_paths.valid_from = org_units.valid_from
)

select * from final
