{{ config(meta={'dagster': {'ref': {'name': 'fct_revenue_events'}}}) }}
{#- The sale events of an order add up to the order's net amount (fct_orders). -#}
with

events as (
    select * from {{ ref('fct_revenue_events') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

sale_totals as (
    select order_id, sum(net_amount) as sale_net_amount
    from events
    where event_type = 'sale'
    group by order_id
)

select
    orders.order_id,
    orders.order_net_amount,
    sale_totals.sale_net_amount
from orders
full outer join sale_totals
    on sale_totals.order_id = orders.order_id
where abs(coalesce(orders.order_net_amount, 0) - coalesce(sale_totals.sale_net_amount, 0)) > 0.01
