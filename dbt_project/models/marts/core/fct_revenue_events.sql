{#- One row per sale line (event_type 'sale', on the order's local date) and per return (event_type
    'return', on the return's local date), signed: returns are negative. Cancelled lines and lines of
    cancelled orders keep their gross amount but have net, cost and quantity 0.

    Incremental (delete+insert on event_id): a run recomputes every event of each order touched by a
    raw row loaded since the fact's latest _loaded_at minus var('incremental_lookback_days') - the
    order, its lines, their returns, its customer or its lines' products - so a full refresh gives the
    same table. -#}
{%- set lookback_days = var('incremental_lookback_days', 3) | int -%}

with

orders as (
    select * from {{ ref('stg_erp__orders') }}
),

order_lines as (
    select * from {{ ref('stg_erp__order_lines') }}
),

returns as (
    select * from {{ ref('stg_erp__returns') }}
),

products as (
    select * from {{ ref('stg_erp__products') }}
),

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

{% if is_incremental() %}
watermark as (
    select
        {{ dbt.dateadd('day', -lookback_days, "coalesce(max(_loaded_at), cast('1900-01-01' as timestamp))") }} as loaded_since
    from {{ this }}
),

changed_orders as (
    select orders.order_id
    from orders
    where orders._loaded_at > (select loaded_since from watermark)

    union

    select order_lines.order_id
    from order_lines
    where order_lines._loaded_at > (select loaded_since from watermark)

    union

    select order_lines.order_id
    from returns
    inner join order_lines
        on order_lines.order_line_id = returns.order_line_id
    where returns._loaded_at > (select loaded_since from watermark)

    union

    select orders.order_id
    from customers
    inner join orders
        on orders.customer_id = customers.customer_id
    where customers._loaded_at > (select loaded_since from watermark)

    union

    select order_lines.order_id
    from products
    inner join order_lines
        on order_lines.product_id = products.product_id
    where products._loaded_at > (select loaded_since from watermark)
),

scoped_lines as (
    select order_lines.*
    from order_lines
    where order_lines.order_id in (select order_id from changed_orders)
),
{% else %}
scoped_lines as (
    select * from order_lines
),
{% endif %}

line_context as (
    select
        scoped_lines.order_line_id,
        scoped_lines.order_id,
        scoped_lines.product_id,
        scoped_lines.quantity,
        scoped_lines.unit_price,
        scoped_lines.discount_pct,
        scoped_lines.unit_cost,
        scoped_lines.is_cancelled or orders.status = 'cancelled' as is_cancelled,
        orders.order_date,
        orders.org_unit_id,
        orders.sales_rep_id,
        orders.customer_id,
        orders.channel,
        products.category as product_category,
        customers.region,
        customers.segment,
        greatest(
            scoped_lines._loaded_at,
            orders._loaded_at,
            coalesce(products._loaded_at, scoped_lines._loaded_at),
            coalesce(customers._loaded_at, scoped_lines._loaded_at)
        ) as _loaded_at
    from scoped_lines
    inner join orders
        on orders.order_id = scoped_lines.order_id
    left join products
        on products.product_id = scoped_lines.product_id
    left join customers
        on customers.customer_id = orders.customer_id
),

sales as (
    select
        order_line_id as event_id,
        'sale' as event_type,
        order_date as event_date,
        order_id,
        order_line_id,
        org_unit_id,
        sales_rep_id,
        customer_id,
        product_id,
        product_category,
        channel,
        region,
        segment,
        is_cancelled,
        case when is_cancelled then 0 else quantity end as quantity,
        {{ round_half_away("quantity * unit_price", 2) }} as gross_amount,
        case when is_cancelled then 0 else {{ round_half_away("quantity * unit_price * (1 - discount_pct)", 2) }} end as net_amount,
        case when is_cancelled then 0 else {{ round_half_away("quantity * unit_cost", 2) }} end as cost_amount,
        _loaded_at
    from line_context
),

returned as (
    select
        returns.return_id as event_id,
        'return' as event_type,
        returns.return_date as event_date,
        line_context.order_id,
        line_context.order_line_id,
        line_context.org_unit_id,
        line_context.sales_rep_id,
        line_context.customer_id,
        line_context.product_id,
        line_context.product_category,
        line_context.channel,
        line_context.region,
        line_context.segment,
        false as is_cancelled,
        -returns.quantity as quantity,
        -{{ round_half_away("returns.quantity * line_context.unit_price", 2) }} as gross_amount,
        -{{ round_half_away("returns.refund_amount", 2) }} as net_amount,
        -{{ round_half_away("returns.quantity * line_context.unit_cost", 2) }} as cost_amount,
        greatest(returns._loaded_at, line_context._loaded_at) as _loaded_at
    from returns
    inner join line_context
        on line_context.order_line_id = returns.order_line_id
),

events as (
    select * from sales
    union all
    select * from returned
),

final as (
    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        event_date,
        order_id,
        order_line_id,
        org_unit_id,
        sales_rep_id,
        customer_id,
        product_id,
        product_category,
        channel,
        region,
        segment,
        is_cancelled,
        cast(quantity as bigint) as quantity,
        cast(gross_amount as double) as gross_amount,
        cast(net_amount as double) as net_amount,
        cast(cost_amount as double) as cost_amount,
        _loaded_at,
        -- last: the Spark target partitions the table by it (an incremental run replaces the months it touches)
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as event_month
    from events
)

select * from final
