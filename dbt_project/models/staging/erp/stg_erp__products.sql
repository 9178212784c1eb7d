with

source as (
    select * from {{ source('raw_erp', 'products') }}
),

renamed as (
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(name as {{ dbt.type_string() }}) as product_name,
        cast(name_zh as {{ dbt.type_string() }}) as product_name_zh,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(product_line as {{ dbt.type_string() }}) as product_line,
        cast(list_price as double) as list_price,
        cast(unit_cost as double) as unit_cost,
        cast(is_active as boolean) as is_active,
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
    {{ deduplicate_latest('renamed', ['product_id'], latest_version_order()) }}
),

final as (
    select
        product_id,
        product_name,
        product_name_zh,
        category,
        product_line,
        list_price,
        unit_cost,
        is_active,
        created_at_utc,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
