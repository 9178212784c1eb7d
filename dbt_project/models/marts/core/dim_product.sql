with

products as (
    select * from {{ ref('stg_erp__products') }}
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
        updated_at_utc
    from products
)

select * from final
