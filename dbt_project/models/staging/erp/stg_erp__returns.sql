with

source as (
    select * from {{ source('raw_erp', 'returns') }}
),

renamed as (
    select
        cast(return_id as {{ dbt.type_string() }}) as return_id,
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,
        {{ to_utc('return_ts') }} as return_at_utc,
        cast(quantity as bigint) as quantity,
        cast(refund_amount as double) as refund_amount,
        cast(reason as {{ dbt.type_string() }}) as reason,
        {{ to_utc('created_at') }} as created_at_utc,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['return_id'], latest_version_order()) }}
),

final as (
    select
        return_id,
        order_line_id,
        return_at_utc,
        {{ utc_to_local_date('return_at_utc') }} as return_date,
        quantity,
        refund_amount,
        reason,
        created_at_utc,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
