with

source as (
    select * from {{ source('raw_erp', 'inventory_snapshots') }}
),

renamed as (
    select
        cast(snapshot_date as date) as snapshot_date,
        cast(warehouse_id as {{ dbt.type_string() }}) as warehouse_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(quantity_on_hand as bigint) as quantity_on_hand,
        cast(inventory_value as double) as inventory_value,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['snapshot_date', 'warehouse_id', 'product_id'], latest_version_order()) }}
),

final as (
    select
        snapshot_date,
        warehouse_id,
        product_id,
        quantity_on_hand,
        inventory_value,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
