with

responses as (
    select * from {{ ref('stg_survey__nps_responses') }}
),

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

final as (
    select
        responses.response_id,
        responses.response_date,
        responses.submitted_at_utc,
        -- the survey names the account team; when it does not, the customer's account team owns it
        coalesce(responses.account_team_id, customers.account_team_id) as org_unit_id,
        responses.customer_id,
        customers.region,
        customers.segment,
        responses.touchpoint,
        responses.score,
        responses.score >= 9 as is_promoter,
        responses.score <= 6 as is_detractor
    from responses
    left join customers
        on customers.customer_id = responses.customer_id
)

select * from final
