with

snapshots as (
    select * from {{ ref('stg_erp__inventory_snapshots') }}
),

products as (
    select * from {{ ref('stg_erp__products') }}
),

final as (
    select
        snapshots.snapshot_date,
        snapshots.warehouse_id as org_unit_id,
        snapshots.product_id,
        products.category as product_category,
        snapshots.quantity_on_hand,
        snapshots.inventory_value
    from snapshots
    left join products
        on products.product_id = snapshots.product_id
)

select * from final
