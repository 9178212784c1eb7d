with

source as (
    select * from {{ source('raw_erp', 'order_lines') }}
),

renamed as (
    select
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_no as integer) as line_no,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as double) as unit_price,
        cast(discount_pct as double) as discount_pct,
        cast(unit_cost as double) as unit_cost,
        cast(is_cancelled as boolean) as is_cancelled,
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
    {{ deduplicate_latest('renamed', ['order_line_id'], latest_version_order()) }}
),

final as (
    select
        order_line_id,
        order_id,
        line_no,
        product_id,
        quantity,
        unit_price,
        discount_pct,
        unit_cost,
        is_cancelled,
        created_at_utc,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
