with

source as (
    select * from {{ source('raw_hr', 'employees') }}
),

renamed as (
    select
        cast(employee_id as {{ dbt.type_string() }}) as employee_id,
        cast(full_name as {{ dbt.type_string() }}) as full_name,
        cast(full_name_zh as {{ dbt.type_string() }}) as full_name_zh,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(job_title as {{ dbt.type_string() }}) as job_title,
        cast(hire_date as date) as hire_date,
        cast(termination_date as date) as termination_date,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['employee_id'], latest_version_order()) }}
),

final as (
    select
        employee_id,
        full_name,
        full_name_zh,
        email,
        job_title,
        hire_date,
        termination_date,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
