{#- One row per order, on its local order date. order_net_amount = Σ line net amounts (0 for
    cancelled lines and cancelled orders; returns are not subtracted - they are revenue events of
    their own date). is_repeat_customer: the customer had an earlier non-cancelled order.

    Incremental (delete+insert on order_id): a run recomputes every order of each customer touched by
    a raw row loaded since the fact's latest _loaded_at minus var('incremental_lookback_days') - an
    order, an order line or the customer itself - because the repeat flag depends on the customer's
    whole order history. A full refresh gives the same table. -#}
{%- set lookback_days = var('incremental_lookback_days', 3) | int -%}

with

orders as (
    select * from {{ ref('stg_erp__orders') }}
),

order_lines as (
    select * from {{ ref('stg_erp__order_lines') }}
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

changed_customers as (
    select orders.customer_id
    from orders
    where orders._loaded_at > (select loaded_since from watermark)

    union

    select orders.customer_id
    from order_lines
    inner join orders
        on orders.order_id = order_lines.order_id
    where order_lines._loaded_at > (select loaded_since from watermark)

    union

    select customers.customer_id
    from customers
    where customers._loaded_at > (select loaded_since from watermark)

    union

    -- an order that moved to another customer: its old customer's flags change too
    select existing.customer_id
    from {{ this }} as existing
    inner join orders
        on orders.order_id = existing.order_id
    where orders._loaded_at > (select loaded_since from watermark)
),

scoped_orders as (
    select orders.*
    from orders
    where orders.customer_id in (select customer_id from changed_customers)
),
{% else %}
scoped_orders as (
    select * from orders
),
{% endif %}

line_totals as (
    select
        order_lines.order_id,
        count(*) as line_count,
        -- line amounts rounded to the cent first, exactly as fct_revenue_events books them, so the
        -- order total equals the sum of its sale events
        sum(case when order_lines.is_cancelled then 0
                 else {{ round_half_away("order_lines.quantity * order_lines.unit_price * (1 - order_lines.discount_pct)", 2) }} end)
            as lines_net_amount,
        sum({{ round_half_away("order_lines.quantity * order_lines.unit_price", 2) }}) as lines_gross_amount,
        max(order_lines._loaded_at) as _loaded_at
    from order_lines
    where order_lines.order_id in (select order_id from scoped_orders)
    group by order_lines.order_id
),

flagged as (
    select
        scoped_orders.*,
        scoped_orders.status = 'cancelled' as is_cancelled,
        coalesce(
            sum(case when scoped_orders.status = 'cancelled' then 0 else 1 end) over (
                partition by scoped_orders.customer_id
                order by scoped_orders.order_at_utc, scoped_orders.order_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) > 0 as is_repeat_customer
    from scoped_orders
),

final as (
    select
        flagged.order_id,
        flagged.order_date,
        flagged.order_at_utc,
        flagged.org_unit_id,
        flagged.sales_rep_id,
        flagged.customer_id,
        flagged.channel,
        flagged.order_type,
        flagged.status,
        customers.region,
        customers.segment,
        flagged.is_cancelled,
        flagged.is_repeat_customer,
        flagged.order_type = 'contract' and not flagged.is_cancelled as is_new_contract,
        cast(case when flagged.is_cancelled then 0
                  else {{ round_half_away("coalesce(line_totals.lines_net_amount, 0)", 2) }} end as double) as order_net_amount,
        cast({{ round_half_away("coalesce(line_totals.lines_gross_amount, 0)", 2) }} as double) as order_gross_amount,
        cast(coalesce(line_totals.line_count, 0) as bigint) as line_count,
        greatest(
            flagged._loaded_at,
            coalesce(line_totals._loaded_at, flagged._loaded_at),
            coalesce(customers._loaded_at, flagged._loaded_at)
        ) as _loaded_at,
        -- last: the Spark target partitions the table by it (an incremental run replaces the months it touches)
        cast({{ dbt.date_trunc('month', 'flagged.order_date') }} as date) as order_month
    from flagged
    left join line_totals
        on line_totals.order_id = flagged.order_id
    left join customers
        on customers.customer_id = flagged.customer_id
)

select * from final
