{#- One row: the business-date range of the data and the date-spine range (whole fiscal years
    covering the data and the holiday calendar). -#}
{%- set fiscal_start_month = var('fiscal_year_start_month', 1) | int -%}
{%- set as_of_date = var('as_of_date', none) -%}

with

orders as (
    select order_date as business_date from {{ ref('stg_erp__orders') }}
),

returns as (
    select return_date as business_date from {{ ref('stg_erp__returns') }}
),

inventory_snapshots as (
    select snapshot_date as business_date from {{ ref('stg_erp__inventory_snapshots') }}
),

training_records as (
    select training_date as business_date from {{ ref('stg_hr__training_records') }}
),

tickets as (
    select opened_date as business_date from {{ ref('stg_servicedesk__tickets') }}
),

nps_responses as (
    select response_date as business_date from {{ ref('stg_survey__nps_responses') }}
),

production_runs as (
    select finish_date as business_date from {{ ref('stg_mes__production_runs') }}
),

bugs as (
    select created_date as business_date from {{ ref('stg_engineering__bugs') }}
),

releases as (
    select release_date as business_date from {{ ref('stg_engineering__releases') }}
),

holidays as (
    select cast({{ adapter.quote('date') }} as date) as holiday_date from {{ ref('cn_public_holidays') }}
),

business_dates as (
    select business_date from orders
    union all select business_date from returns
    union all select business_date from inventory_snapshots
    union all select business_date from training_records
    union all select business_date from tickets
    union all select business_date from nps_responses
    union all select business_date from production_runs
    union all select business_date from bugs
    union all select business_date from releases
),

data_bounds as (
    select
        min(business_date) as first_data_date,
        max(business_date) as last_data_date
    from business_dates
),

holiday_bounds as (
    select
        min(holiday_date) as first_holiday_date,
        max(holiday_date) as last_holiday_date
    from holidays
),

bounds as (
    select
        coalesce(data_bounds.first_data_date, holiday_bounds.first_holiday_date) as first_business_date,
        {% if as_of_date -%}
        cast('{{ as_of_date }}' as date) as last_business_date,
        {%- else -%}
        coalesce(data_bounds.last_data_date, holiday_bounds.last_holiday_date) as last_business_date,
        {%- endif %}
        holiday_bounds.first_holiday_date,
        holiday_bounds.last_holiday_date
    from data_bounds
    cross join holiday_bounds
),

calendar_years as (
    select
        first_business_date,
        last_business_date,
        cast({{ dbt.date_trunc('year', 'least(first_business_date, coalesce(first_holiday_date, first_business_date))') }} as date)
            as first_year_start,
        cast({{ dbt.date_trunc('year', 'greatest(last_business_date, coalesce(last_holiday_date, last_business_date))') }} as date)
            as last_year_start
    from bounds
),

final as (
    select
        first_business_date,
        last_business_date,
        {#- whole fiscal years (named by the calendar year they start in) around whole calendar years -#}
        {%- if fiscal_start_month == 1 %}
        first_year_start as spine_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('year', 1, 'last_year_start')) }} as date) as spine_end
        {%- else %}
        cast({{ dbt.dateadd('month', fiscal_start_month - 13, 'first_year_start') }} as date) as spine_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 11 + fiscal_start_month, 'last_year_start')) }} as date)
            as spine_end
        {%- endif %}
    from calendar_years
)

select * from final
