{#- Transitive closure of the org hierarchy per day: (date_day, ancestor_id, descendant_id, depth),
    depth 0 = the unit itself. Built from the hierarchy valid on each day, so a fact joined on its own
    business date rolls up along the re-organised tree from the day of the re-organisation on
    ({{ doc('reorganisation_rule') }}). -#}
with recursive

org_units_daily as (
    select * from {{ ref('int_org_units_daily') }}
),

closure (date_day, ancestor_id, descendant_id, depth, next_parent_id) as (
    select
        date_day,
        org_unit_id,
        org_unit_id,
        0,
        parent_org_unit_id
    from org_units_daily

    union all

    select
        closure.date_day,
        parents.org_unit_id,
        closure.descendant_id,
        closure.depth + 1,
        parents.parent_org_unit_id
    from closure
    inner join org_units_daily as parents
        on parents.date_day = closure.date_day
        and parents.org_unit_id = closure.next_parent_id
    where closure.depth < 20  -- a cycle in the source cannot loop forever (tested separately)
),

final as (
    select
        date_day,
        ancestor_id,
        descendant_id,
        cast(depth as integer) as depth
    from closure
)

select * from final
