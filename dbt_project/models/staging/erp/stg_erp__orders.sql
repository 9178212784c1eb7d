with

source as (
    select * from {{ source('raw_erp', 'orders') }}
),

renamed as (
    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(sales_rep_id as {{ dbt.type_string() }}) as sales_rep_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        {{ to_utc('order_ts') }} as order_at_utc,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(order_type as {{ dbt.type_string() }}) as order_type,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(currency as {{ dbt.type_string() }}) as currency,
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
    {{ deduplicate_latest('renamed', ['order_id'], latest_version_order()) }}
),

final as (
    select
        order_id,
        customer_id,
        sales_rep_id,
        org_unit_id,
        order_at_utc,
        {{ utc_to_local_date('order_at_utc') }} as order_date,
        channel,
        order_type,
        status,
        currency,
        created_at_utc,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
