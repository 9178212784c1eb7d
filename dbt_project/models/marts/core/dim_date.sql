{%- set fiscal_start_month = var('fiscal_year_start_month', 1) | int -%}

with

date_spine as (
    select * from {{ ref('int_date_spine') }}
),

holidays as (
    select
        cast({{ adapter.quote('date') }} as date) as holiday_date,
        cast(name as {{ dbt.type_string() }}) as holiday_name,
        cast(name_zh as {{ dbt.type_string() }}) as holiday_name_zh,
        cast(is_day_off as boolean) as is_day_off
    from {{ ref('cn_public_holidays') }}
),

calendar as (
    select
        date_day,
        {{ iso_day_of_week('date_day') }} as day_of_week,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(extract(quarter from date_day) as integer) as quarter_of_year,
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(doy from date_day) as integer) as day_of_year,
        {{ iso_year('date_day') }} as iso_year,
        {{ iso_week('date_day') }} as iso_week,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        cast({{ dbt.last_day('date_day', 'month') }} as date) as month_end,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
        cast({{ dbt.last_day('date_day', 'quarter') }} as date) as quarter_end,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start,
        cast({{ dbt.last_day('date_day', 'year') }} as date) as year_end
    from date_spine
),

with_weeks as (
    select
        calendar.*,
        cast({{ dbt.dateadd('day', '1 - day_of_week', 'date_day') }} as date) as week_start,
        -- fiscal years are named by the calendar year they start in
        calendar_year - case when month_of_year < {{ fiscal_start_month }} then 1 else 0 end as fiscal_year,
        cast(floor(((month_of_year - {{ fiscal_start_month }} + 12) % 12) / 3) as integer) + 1 as fiscal_quarter
    from calendar
),

final as (
    select
        with_weeks.date_day,
        with_weeks.day_of_week,
        with_weeks.day_of_month,
        with_weeks.day_of_year,
        with_weeks.date_day = with_weeks.month_end as is_month_end,
        with_weeks.week_start,
        cast({{ dbt.dateadd('day', 6, 'with_weeks.week_start') }} as date) as week_end,
        with_weeks.iso_year,
        with_weeks.iso_week,
        with_weeks.month_of_year,
        with_weeks.month_start,
        with_weeks.month_end,
        cast(extract(day from with_weeks.month_end) as integer) as days_in_month,
        with_weeks.quarter_of_year,
        with_weeks.quarter_start,
        with_weeks.quarter_end,
        with_weeks.calendar_year,
        with_weeks.year_start,
        with_weeks.year_end,
        with_weeks.fiscal_year,
        with_weeks.fiscal_quarter,
        with_weeks.day_of_week >= 6 as is_weekend,
        coalesce(holidays.is_day_off, false) as is_holiday,
        holidays.holiday_name,
        holidays.holiday_name_zh,
        coalesce(not holidays.is_day_off, false) as is_adjusted_workday,
        case
            when holidays.holiday_date is not null then not holidays.is_day_off
            else with_weeks.day_of_week < 6
        end as is_workday
    from with_weeks
    left join holidays
        on holidays.holiday_date = with_weeks.date_day
)

select * from final
