with

source as (
    select * from {{ source('raw_hr', 'employee_assignments') }}
),

renamed as (
    select
        cast(assignment_id as {{ dbt.type_string() }}) as assignment_id,
        cast(employee_id as {{ dbt.type_string() }}) as employee_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(role as {{ dbt.type_string() }}) as role,
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
    {{ deduplicate_latest('renamed', ['assignment_id'], latest_version_order()) }}
),

final as (
    select
        assignment_id,
        employee_id,
        org_unit_id,
        role,
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
