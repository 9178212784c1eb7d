{{ config(tags=['consistency', 'kpi'], meta={'dagster': {'ref': {'name': 'int_kpi_actuals_verified'}}}) }}
{#- Additive and semi-additive KPIs at day grain: a unit's value = Σ its children's values (children
    on that day, per the org closure of the day) + the facts booked on the unit itself. For ratio
    KPIs the same holds for the numerator and the denominator (the parent ratio is recomputed from
    the summed parts, never averaged). Rows returned = violations. -#}
with actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
    where grain = 'day' and measure_type in ('sum', 'count', 'last', 'ratio')
),

measures as (
    select * from {{ ref('int_kpi_measures_daily') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

own_facts as (
    select
        kpi_id,
        kpi_version,
        org_unit_id,
        date_day,
        sum(case when part = 'value' then value end) as own_value,
        sum(case when part = 'numerator' then value end) as own_numerator,
        sum(case when part = 'denominator' then value end) as own_denominator
    from measures
    group by kpi_id, kpi_version, org_unit_id, date_day
),

children as (
    select
        parent.kpi_id,
        parent.org_unit_id,
        parent.period_start,
        sum(child.actual_value) as children_value,
        sum(child.numerator) as children_numerator,
        sum(child.denominator) as children_denominator
    from actuals as parent
    inner join closure
        on closure.date_day = parent.period_start
        and closure.ancestor_id = parent.org_unit_id
        and closure.depth = 1
    inner join actuals as child
        on child.kpi_id = parent.kpi_id
        and child.org_unit_id = closure.descendant_id
        and child.period_start = parent.period_start
    group by parent.kpi_id, parent.org_unit_id, parent.period_start
),

compared as (
    select
        actuals.kpi_id,
        actuals.org_unit_id,
        actuals.period_start,
        actuals.measure_type,
        case when actuals.measure_type = 'ratio' then actuals.numerator else actuals.actual_value end as parent_value,
        case when actuals.measure_type = 'ratio'
            then coalesce(children.children_numerator, 0) + coalesce(own_facts.own_numerator, 0)
            else coalesce(children.children_value, 0) + coalesce(own_facts.own_value, 0)
        end as expected_value,
        actuals.denominator as parent_denominator,
        coalesce(children.children_denominator, 0) + coalesce(own_facts.own_denominator, 0) as expected_denominator
    from actuals
    left join children
        on children.kpi_id = actuals.kpi_id
        and children.org_unit_id = actuals.org_unit_id
        and children.period_start = actuals.period_start
    left join own_facts
        on own_facts.kpi_id = actuals.kpi_id
        and own_facts.kpi_version = actuals.kpi_version
        and own_facts.org_unit_id = actuals.org_unit_id
        and own_facts.date_day = actuals.period_start
)

select *
from compared
where abs(parent_value - expected_value) > 1e-6 * greatest(1, abs(expected_value))
    or (measure_type = 'ratio'
        and abs(parent_denominator - expected_denominator) > 1e-6 * greatest(1, abs(expected_denominator)))
