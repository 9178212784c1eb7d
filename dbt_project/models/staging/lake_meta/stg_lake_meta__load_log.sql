with

source as (
    select * from {{ source('lake_meta', 'load_log') }}
),

renamed as (
    select
        cast(source as {{ dbt.type_string() }}) as source_name,
        cast({{ adapter.quote('table') }} as {{ dbt.type_string() }}) as table_name,
        cast(partition_date as date) as partition_date,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(rows_read as bigint) as rows_read,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(rows_quarantined as bigint) as rows_quarantined,
        cast(message as {{ dbt.type_string() }}) as message,
        cast(source_ref as {{ dbt.type_string() }}) as source_ref,
        cast(batch_id as {{ dbt.type_string() }}) as batch_id,
        {{ to_utc('loaded_at') }} as loaded_at_utc,
        cast(content_sha256 as {{ dbt.type_string() }}) as content_sha256
    from source
),

deduplicated as (
    -- one file per partition normally; should a log ever hold several attempts, the last one counts
    {{ deduplicate_latest('renamed', ['source_name', 'table_name', 'partition_date'], ['loaded_at_utc desc nulls last', 'batch_id desc']) }}
),

final as (
    select
        source_name,
        table_name,
        partition_date,
        status,
        rows_read,
        rows_loaded,
        rows_quarantined,
        message,
        source_ref,
        batch_id,
        loaded_at_utc,
        content_sha256
    from deduplicated
)

select * from final
