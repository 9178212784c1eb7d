{#- One row per ticket (latest version), on the local date it was opened.

    Incremental (delete+insert on ticket_id): a run recomputes the tickets loaded since the fact's
    latest _loaded_at minus var('incremental_lookback_days') and the tickets of customers changed in
    that window (region and segment are the customer's current ones). A full refresh gives the same
    table. -#}
{%- set lookback_days = var('incremental_lookback_days', 3) | int -%}

with

tickets as (
    select * from {{ ref('stg_servicedesk__tickets') }}
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

scoped_tickets as (
    select tickets.*
    from tickets
    where tickets._loaded_at > (select loaded_since from watermark)
        or tickets.customer_id in (
            select customers.customer_id
            from customers
            where customers._loaded_at > (select loaded_since from watermark)
        )
),
{% else %}
scoped_tickets as (
    select * from tickets
),
{% endif %}

final as (
    select
        scoped_tickets.ticket_id,
        scoped_tickets.opened_date,
        scoped_tickets.opened_at_utc,
        scoped_tickets.team_id as org_unit_id,
        scoped_tickets.agent_id,
        scoped_tickets.customer_id,
        scoped_tickets.priority,
        scoped_tickets.channel,
        scoped_tickets.category,
        customers.region,
        customers.segment,
        cast({{ seconds_between('scoped_tickets.opened_at_utc', 'scoped_tickets.first_response_at_utc') }} as bigint)
            as first_response_seconds,
        scoped_tickets.resolved_at_utc is not null as is_resolved,
        cast({{ seconds_between('scoped_tickets.opened_at_utc', 'scoped_tickets.resolved_at_utc') }} as double) / 3600.0
            as resolution_hours,
        scoped_tickets.csat,
        scoped_tickets.is_complaint,
        scoped_tickets.first_response_at_utc,
        scoped_tickets.resolved_at_utc,
        scoped_tickets.resolved_date,
        greatest(scoped_tickets._loaded_at, coalesce(customers._loaded_at, scoped_tickets._loaded_at)) as _loaded_at,
        -- last: the Spark target partitions the table by it (an incremental run replaces the months it touches)
        cast({{ dbt.date_trunc('month', 'scoped_tickets.opened_date') }} as date) as opened_month
    from scoped_tickets
    left join customers
        on customers.customer_id = scoped_tickets.customer_id
)

select * from final
