{#- Employees counted in each org unit (its own members, not its subtree) on each day from the HR
    history's real start — the first day an assignment is effective, or the calendar's first day if
    that is earlier — to the last business date of the data. Every unit valid on a day has a row (0
    when it has no direct members), so a unit's last-day value is never missing; before the first
    assignment there is no row (no data, not 0). -#}
with

bounds as (
    select * from {{ ref('int_calendar_bounds') }}
),

org_units_daily as (
    select * from {{ ref('int_org_units_daily') }}
),

assignments as (
    select * from {{ ref('int_employee_assignments_effective') }}
),

history_start as (
    select min(effective_from) as first_day from assignments
),

business_days as (
    select org_units_daily.date_day, org_units_daily.org_unit_id
    from org_units_daily
    cross join bounds
    cross join history_start
    where org_units_daily.date_day >= history_start.first_day
        and org_units_daily.date_day <= bounds.last_business_date
),

days as (
    select distinct date_day from business_days
),

members as (
    select
        days.date_day,
        assignments.org_unit_id,
        count(distinct assignments.employee_id) as headcount
    from days
    inner join assignments
        on assignments.effective_from <= days.date_day
        and (assignments.effective_to is null or days.date_day < assignments.effective_to)
    group by days.date_day, assignments.org_unit_id
),

final as (
    select
        coalesce(business_days.date_day, members.date_day) as date_day,
        coalesce(business_days.org_unit_id, members.org_unit_id) as org_unit_id,
        cast(coalesce(members.headcount, 0) as bigint) as headcount
    from business_days
    full outer join members
        on members.date_day = business_days.date_day
        and members.org_unit_id = business_days.org_unit_id
)

select * from final
