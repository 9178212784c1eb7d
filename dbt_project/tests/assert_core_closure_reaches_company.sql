{{ config(meta={'dagster': {'ref': {'name': 'int_org_closure_daily'}}}) }}
{#- Every org unit, on every day, has exactly one self row (depth 0) and its topmost ancestor is a
    company: the hierarchy valid that day is a tree with no cycle and no dangling parent. -#}
with

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

units as (
    select * from {{ ref('int_org_units_daily') }}
),

per_unit_day as (
    select
        closure.date_day,
        closure.descendant_id,
        sum(case when closure.depth = 0 then 1 else 0 end) as self_rows,
        max(closure.depth) as max_depth
    from closure
    group by closure.date_day, closure.descendant_id
),

topmost as (
    select
        per_unit_day.date_day,
        per_unit_day.descendant_id,
        per_unit_day.self_rows,
        units.unit_type as top_unit_type
    from per_unit_day
    inner join closure
        on closure.date_day = per_unit_day.date_day
        and closure.descendant_id = per_unit_day.descendant_id
        and closure.depth = per_unit_day.max_depth
    left join units
        on units.date_day = closure.date_day
        and units.org_unit_id = closure.ancestor_id
)

select *
from topmost
where self_rows <> 1 or top_unit_type is null or top_unit_type <> 'company'
