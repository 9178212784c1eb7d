{#- Org relationships per period: (ancestor, descendant, depth) holding on any day of the period up
    to the as-of date (from the daily closure, so a re-organised unit belongs to both parents in the
    period of the move — for scoping only; values always roll up along the closure of the fact's day). -#}
with closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

closure_days as (
    select
        closure.ancestor_id,
        closure.descendant_id,
        closure.depth,
        dates.date_day,
        dates.week_start,
        dates.month_start,
        dates.quarter_start,
        dates.year_start
    from closure
    inner join dates on dates.date_day = closure.date_day
    cross join as_of
    where closure.date_day <= as_of.as_of_date
),

grouped as (
    select
        ancestor_id,
        descendant_id,
        depth,
        date_day,
        week_start,
        month_start,
        quarter_start,
        year_start
    from closure_days
    group by grouping sets (
        (ancestor_id, descendant_id, depth, date_day),
        (ancestor_id, descendant_id, depth, week_start),
        (ancestor_id, descendant_id, depth, month_start),
        (ancestor_id, descendant_id, depth, quarter_start),
        (ancestor_id, descendant_id, depth, year_start)
    )
),

final as (
    select
        {{ kpi_grouping_set_period() }},
        ancestor_id,
        descendant_id,
        depth
    from grouped
)

select * from final
