with

source as (
    select * from {{ source('raw_hr', 'org_units') }}
),

renamed as (
    select
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(name as {{ dbt.type_string() }}) as org_unit_name,
        cast(name_zh as {{ dbt.type_string() }}) as org_unit_name_zh,
        cast(unit_type as {{ dbt.type_string() }}) as unit_type,
        cast(parent_org_unit_id as {{ dbt.type_string() }}) as parent_org_unit_id,
        cast(manager_employee_id as {{ dbt.type_string() }}) as manager_employee_id,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['org_unit_id', 'valid_from'], latest_version_order()) }}
),

final as (
    select
        org_unit_id,
        org_unit_name,
        org_unit_name_zh,
        unit_type,
        parent_org_unit_id,
        manager_employee_id,
        valid_from,
        valid_to,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
