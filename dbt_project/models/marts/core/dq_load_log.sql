with

load_log as (
    select * from {{ ref('stg_lake_meta__load_log') }}
),

final as (
    select
        source_name as source,
        table_name as {{ adapter.quote('table') }},
        partition_date,
        status,
        rows_read,
        rows_loaded,
        rows_quarantined,
        message,
        source_ref,
        batch_id,
        loaded_at_utc as loaded_at,
        content_sha256
    from load_log
)

select * from final
