with

source as (
    select * from {{ source('raw_hr', 'training_records') }}
),

renamed as (
    select
        cast(training_id as {{ dbt.type_string() }}) as training_id,
        cast(employee_id as {{ dbt.type_string() }}) as employee_id,
        cast(training_date as date) as training_date,
        cast(course as {{ dbt.type_string() }}) as course,
        cast(hours as double) as hours,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['training_id'], latest_version_order()) }}
),

final as (
    select
        training_id,
        employee_id,
        training_date,
        course,
        hours,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
