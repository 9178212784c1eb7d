{#- Additive KPIs whose children's set targets don't add up to the parent's set target (same plan,
    period and grain; children = direct children on the period's evaluation day). All children set:
    the sum must equal the parent's; some set: their sum must not exceed the parent's.
    Tolerance: var kpi_target_tolerance (relative, default 0.001). -#}
{%- set tolerance = var('kpi_target_tolerance', 0.001) -%}
with targets as (
    select * from {{ ref('int_kpi_targets_resolved') }}
),

spine as (
    select * from {{ ref('int_kpi_spine') }}
    where grain in ('month', 'quarter', 'year')
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

parents as (
    select
        targets.kpi_id,
        targets.org_unit_id,
        targets.grain,
        targets.period_start,
        targets.period_end,
        targets.plan_version,
        targets.target_value,
        spine.eval_date
    from targets
    inner join spine
        on spine.kpi_id = targets.kpi_id
        and spine.org_unit_id = targets.org_unit_id
        and spine.grain = targets.grain
        and spine.period_start = targets.period_start
    inner join versions
        on versions.kpi_id = targets.kpi_id
        and versions.version = targets.kpi_version
    where targets.source = 'set'
        and versions.measure_type in ('sum', 'count', 'last')
        and targets.target_value is not null
),

children as (
    select
        parents.kpi_id,
        parents.org_unit_id,
        parents.grain,
        parents.period_start,
        count(*) as children_count,
        count(child_targets.target_value) as children_with_target,
        sum(child_targets.target_value) as children_target_sum
    from parents
    inner join closure
        on closure.date_day = parents.eval_date
        and closure.ancestor_id = parents.org_unit_id
        and closure.depth = 1
    left join targets as child_targets
        on child_targets.kpi_id = parents.kpi_id
        and child_targets.org_unit_id = closure.descendant_id
        and child_targets.grain = parents.grain
        and child_targets.period_start = parents.period_start
        and child_targets.source = 'set'
        and child_targets.plan_version = parents.plan_version
    group by parents.kpi_id, parents.org_unit_id, parents.grain, parents.period_start
),

compared as (
    select
        parents.kpi_id,
        parents.org_unit_id,
        parents.grain,
        parents.period_start,
        parents.period_end,
        parents.plan_version,
        parents.target_value as parent_target,
        children.children_target_sum,
        children.children_with_target,
        children.children_count,
        children.children_target_sum - parents.target_value as difference,
        case
            when children.children_with_target = children.children_count
                and abs(children.children_target_sum - parents.target_value)
                    > {{ tolerance }} * greatest(abs(parents.target_value), 1e-9)
                then 'children_do_not_add_up'
            when children.children_with_target < children.children_count
                and children.children_target_sum - parents.target_value
                    > {{ tolerance }} * greatest(abs(parents.target_value), 1e-9)
                then 'children_exceed_parent'
        end as finding
    from parents
    inner join children
        on children.kpi_id = parents.kpi_id
        and children.org_unit_id = parents.org_unit_id
        and children.grain = parents.grain
        and children.period_start = parents.period_start
    where children.children_with_target > 0
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        plan_version,
        parent_target,
        children_target_sum,
        children_with_target,
        children_count,
        difference,
        difference / nullif(parent_target, 0) as relative_difference,
        finding
    from compared
    where finding is not null
)

select * from final
