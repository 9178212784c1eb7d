with

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

final as (
    select
        customer_id,
        customer_name,
        segment,
        region,
        city,
        account_team_id,
        created_at_utc,
        created_date,
        updated_at_utc
    from customers
)

select * from final
