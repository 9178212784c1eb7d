{#- Every period of every grain that has started on or before the as-of date. -#}
with dates as (
    select * from {{ ref('dim_date') }}
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

days as (
    select dates.*
    from dates
    cross join as_of
    where dates.date_day <= as_of.as_of_date
),

period_starts as (
    select distinct 'day' as grain, date_day as period_start from days
    union all
    select distinct 'week' as grain, week_start as period_start from days
    union all
    select distinct 'month' as grain, month_start as period_start from days
    union all
    select distinct 'quarter' as grain, quarter_start as period_start from days
    union all
    select distinct 'year' as grain, year_start as period_start from days
),

bounded as (
    select
        grain,
        period_start,
        {{ kpi_period_end('grain', 'period_start') }} as period_end
    from period_starts
),

final as (
    select
        bounded.grain,
        bounded.period_start,
        bounded.period_end,
        least(bounded.period_end, as_of.as_of_date) as eval_date,
        bounded.period_end <= as_of.as_of_date as is_complete,
        {{ kpi_days_between('bounded.period_start', 'bounded.period_end') }} + 1 as days_in_period,
        {{ kpi_days_between('bounded.period_start', 'least(bounded.period_end, as_of.as_of_date)') }} + 1 as days_elapsed,
        as_of.as_of_date
    from bounded
    cross join as_of
)

select * from final
