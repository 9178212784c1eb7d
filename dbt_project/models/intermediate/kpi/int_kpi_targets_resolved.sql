{#-
    One target per (KPI, org unit, month/quarter/year period) where one can be derived, in this order:
    1. the finance plan valid for the period (the version valid on the period's last day, or on the
       as-of date while running): a target `set` for the unit, or phased from that plan's target of the
       unit for the enclosing quarter/year (additive KPIs by last year's seasonality, linear by days without
       history; other KPIs take the enclosing target as is) — source `allocated`;
    2. else allocated top-down from the nearest ancestor (org closure of the period's evaluation day)
       with such a plan target: additive and semi-additive KPIs by the unit's share of the ancestor's
       last-year actual (no target from the plan without that history); ratio / non-additive KPIs
       inherit the ancestor's target — source `allocated`;
    3. else the catalog's default rule: `fixed` additive targets apply at `target.org_units` and are
       allocated below them as in 2; `fixed` non-additive targets apply to every unit; `growth_vs_last_year`
       is the unit's own last-year actual × (1 + value) — source `catalog_rule` (or `allocated`).
-#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set anchor_rows = [] -%}
{%- set anchor_type_rows = [] -%}
{%- for v in catalog['versions'] if v['target_rule'] == 'fixed' and v['measure_type'] in ('sum', 'count', 'last') -%}
    {%- for unit in v['target_org_units'] -%}
        {%- do anchor_rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'org_unit_id': unit}) -%}
    {%- endfor -%}
    {%- for unit_type in v.get('target_unit_types', []) -%}
        {%- do anchor_type_rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'unit_type': unit_type}) -%}
    {%- endfor -%}
{%- endfor -%}

with spine as (
    select * from {{ ref('int_kpi_spine') }}
    where grain in ('month', 'quarter', 'year')
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

actuals as (
    select * from {{ ref('int_kpi_actuals_verified') }}
    where grain in ('month', 'quarter', 'year')
),

periods as (
    select * from {{ ref('int_kpi_periods') }}
    where grain in ('month', 'quarter', 'year')
),

plan_versions as (
    select * from {{ ref('int_kpi_plan_versions') }}
),

plan_targets as (
    select * from {{ ref('int_kpi_plan_targets') }}
    where grain is not null
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

catalog_anchor_ids as (
    {{ kpi_rows(anchor_rows, [('kpi_id', 'varchar'), ('kpi_version', 'integer'), ('org_unit_id', 'varchar')]) }}
),

catalog_anchor_types as (
    {{ kpi_rows(anchor_type_rows, [('kpi_id', 'varchar'), ('kpi_version', 'integer'), ('unit_type', 'varchar')]) }}
),

org_unit_types as (
    select distinct org_unit_id, unit_type from {{ ref('dim_org_unit') }}
),

catalog_anchor_units as (
    select kpi_id, kpi_version, org_unit_id from catalog_anchor_ids
    union
    select catalog_anchor_types.kpi_id, catalog_anchor_types.kpi_version, org_unit_types.org_unit_id
    from catalog_anchor_types
    inner join org_unit_types on org_unit_types.unit_type = catalog_anchor_types.unit_type
),

targeted as (
    select
        spine.kpi_id,
        spine.org_unit_id,
        spine.grain,
        spine.period_start,
        spine.period_end,
        spine.eval_date,
        spine.kpi_version,
        spine.days_in_period,
        versions.measure_type,
        versions.measure_type in ('sum', 'count') as is_time_additive,
        versions.measure_type in ('sum', 'count', 'last') as is_unit_additive,
        versions.target_rule,
        versions.target_rule_value,
        versions.target_low as rule_low,
        versions.target_high as rule_high,
        case spine.grain
            when 'month' then coalesce(versions.target_month, versions.target_rule_value)
            when 'quarter' then coalesce(versions.target_quarter, versions.target_rule_value)
            else coalesce(versions.target_year, versions.target_rule_value)
        end as rule_fixed_value,
        dates.quarter_start,
        dates.year_start
    from spine
    inner join versions
        on versions.kpi_id = spine.kpi_id
        and versions.version = spine.kpi_version
    inner join dates on dates.date_day = spine.period_start
),

last_year as (
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        actuals.actual_value as ly_value
    from targeted
    inner join actuals
        on actuals.kpi_id = targeted.kpi_id
        and actuals.org_unit_id = targeted.org_unit_id
        and actuals.grain = targeted.grain
        and actuals.period_start = {{ kpi_add_years('targeted.period_start', -1) }}
),

applicable_plans as (
    -- per period: the plan of the period's year valid on its evaluation day (latest valid_from)
    select grain, period_start, plan_version
    from (
        select
            periods.grain,
            periods.period_start,
            plan_versions.plan_version,
            row_number() over (
                partition by periods.grain, periods.period_start
                order by plan_versions.valid_from desc, plan_versions.plan_version desc
            ) as plan_rank
        from periods
        inner join plan_versions
            on plan_versions.fiscal_year = extract(year from periods.period_start)
            and plan_versions.valid_from <= periods.eval_date
    ) as ranked
    where plan_rank = 1
),

set_targets as (
    select plan_targets.*
    from plan_targets
    inner join applicable_plans
        on applicable_plans.plan_version = plan_targets.plan_version
        and applicable_plans.grain = plan_targets.grain
        and applicable_plans.period_start = plan_targets.period_start
),

containers as (
    select distinct kpi_id, org_unit_id, grain, period_start
    from plan_targets
    where grain in ('quarter', 'year')
),

seasonal_history as (
    -- last year's seasonality is used only when every month (quarter) of last year's enclosing
    -- quarter (year) has a non-zero actual: partial history phases linearly by days instead
    select
        containers.kpi_id,
        containers.org_unit_id,
        containers.grain as container_grain,
        containers.period_start as container_start,
        parts.grain as part_grain,
        count(case when parts.actual_value <> 0 then 1 end)
            = case when containers.grain = 'quarter' then 3 when parts.grain = 'quarter' then 4 else 12 end
            as is_complete_history
    from containers
    inner join actuals as parts
        on parts.kpi_id = containers.kpi_id
        and parts.org_unit_id = containers.org_unit_id
        and parts.grain in ('month', 'quarter')
        and parts.grain <> containers.grain
        and parts.period_start >= {{ kpi_add_years('containers.period_start', -1) }}
        and parts.period_start <= {{ kpi_add_years(kpi_period_end('containers.grain', 'containers.period_start'), -1) }}
    group by containers.kpi_id, containers.org_unit_id, containers.grain, containers.period_start, parts.grain
),

phased as (
    -- a unit's own target of the enclosing quarter / year, phased down to this period
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        set_targets.plan_version,
        case
            when not targeted.is_time_additive then set_targets.target_value
            when history.is_complete_history and ly_whole.ly_value <> 0 and ly_part.ly_value is not null
                then set_targets.target_value * ly_part.ly_value / ly_whole.ly_value
            else set_targets.target_value * targeted.days_in_period
                / ({{ kpi_days_between('set_targets.period_start', kpi_period_end('set_targets.grain', 'set_targets.period_start')) }} + 1)
        end as target_value,
        set_targets.target_low,
        set_targets.target_high,
        case set_targets.grain when 'quarter' then 1 else 2 end as priority
    from targeted
    -- the plan valid for this (shorter) period, and that plan's target of the enclosing period
    inner join applicable_plans
        on applicable_plans.grain = targeted.grain
        and applicable_plans.period_start = targeted.period_start
    inner join plan_targets as set_targets
        on set_targets.plan_version = applicable_plans.plan_version
        and set_targets.kpi_id = targeted.kpi_id
        and set_targets.org_unit_id = targeted.org_unit_id
        and (
            (targeted.grain = 'month' and set_targets.grain = 'quarter' and set_targets.period_start = targeted.quarter_start)
            or (targeted.grain in ('month', 'quarter') and set_targets.grain = 'year' and set_targets.period_start = targeted.year_start)
        )
    left join seasonal_history as history
        on history.kpi_id = set_targets.kpi_id
        and history.org_unit_id = set_targets.org_unit_id
        and history.container_grain = set_targets.grain
        and history.container_start = set_targets.period_start
        and history.part_grain = targeted.grain
    left join last_year as ly_part
        on ly_part.kpi_id = targeted.kpi_id
        and ly_part.org_unit_id = targeted.org_unit_id
        and ly_part.grain = targeted.grain
        and ly_part.period_start = targeted.period_start
    left join last_year as ly_whole
        on ly_whole.kpi_id = set_targets.kpi_id
        and ly_whole.org_unit_id = set_targets.org_unit_id
        and ly_whole.grain = set_targets.grain
        and ly_whole.period_start = set_targets.period_start
),

plan_anchors as (
    select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high, source
    from (
        select *, row_number() over (partition by kpi_id, org_unit_id, grain, period_start order by priority) as anchor_rank
        from (
            select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high,
                   'set' as source, 0 as priority
            from set_targets
            union all
            select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high,
                   'allocated' as source, priority
            from phased
        ) as candidates
    ) as ranked
    where anchor_rank = 1
),

catalog_anchors as (
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        cast(null as varchar) as plan_version,
        targeted.rule_fixed_value as target_value,
        targeted.rule_low as target_low,
        targeted.rule_high as target_high,
        'catalog_rule' as source
    from targeted
    inner join catalog_anchor_units
        on catalog_anchor_units.kpi_id = targeted.kpi_id
        and catalog_anchor_units.kpi_version = targeted.kpi_version
        and catalog_anchor_units.org_unit_id = targeted.org_unit_id
),

anchors as (
    select *, 0 as tier from plan_anchors
    union all
    select *, 1 as tier from catalog_anchors
),

nearest_anchor as (
    -- per tier (plan, catalog): the nearest ancestor-or-self with an anchor
    select *
    from (
        select
            targeted.kpi_id,
            targeted.org_unit_id,
            targeted.grain,
            targeted.period_start,
            targeted.is_unit_additive,
            closure.depth,
            anchors.org_unit_id as anchor_org_unit_id,
            anchors.plan_version,
            anchors.target_value,
            anchors.target_low,
            anchors.target_high,
            anchors.source,
            anchors.tier,
            row_number() over (
                partition by targeted.kpi_id, targeted.org_unit_id, targeted.grain, targeted.period_start, anchors.tier
                order by closure.depth
            ) as anchor_rank
        from targeted
        inner join closure
            on closure.date_day = targeted.eval_date
            and closure.descendant_id = targeted.org_unit_id
        inner join anchors
            on anchors.kpi_id = targeted.kpi_id
            and anchors.org_unit_id = closure.ancestor_id
            and anchors.grain = targeted.grain
            and anchors.period_start = targeted.period_start
    ) as ranked
    where anchor_rank = 1
),

allocated_by_tier as (
    select
        nearest_anchor.tier,
        nearest_anchor.kpi_id,
        nearest_anchor.org_unit_id,
        nearest_anchor.grain,
        nearest_anchor.period_start,
        nearest_anchor.plan_version,
        case
            when nearest_anchor.depth = 0 or not nearest_anchor.is_unit_additive then 1.0
            when ly_anchor.ly_value is not null and ly_anchor.ly_value <> 0 and ly_unit.ly_value is not null
                then ly_unit.ly_value / ly_anchor.ly_value
        end as share,
        nearest_anchor.target_value,
        nearest_anchor.target_low,
        nearest_anchor.target_high,
        case when nearest_anchor.depth = 0 then nearest_anchor.source else 'allocated' end as source
    from nearest_anchor
    left join last_year as ly_unit
        on ly_unit.kpi_id = nearest_anchor.kpi_id
        and ly_unit.org_unit_id = nearest_anchor.org_unit_id
        and ly_unit.grain = nearest_anchor.grain
        and ly_unit.period_start = nearest_anchor.period_start
    left join last_year as ly_anchor
        on ly_anchor.kpi_id = nearest_anchor.kpi_id
        and ly_anchor.org_unit_id = nearest_anchor.anchor_org_unit_id
        and ly_anchor.grain = nearest_anchor.grain
        and ly_anchor.period_start = nearest_anchor.period_start
),

allocated as (
    -- the plan's target when it can be allocated here (needs last year's history for additive KPIs),
    -- else the catalog's fixed anchors
    select *
    from (
        select
            *,
            row_number() over (
                partition by kpi_id, org_unit_id, grain, period_start order by tier
            ) as tier_rank
        from allocated_by_tier
        where share is not null
    ) as ranked
    where tier_rank = 1
),

resolved as (
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        targeted.period_end,
        targeted.kpi_version,
        case
            when allocated.kpi_id is not null then allocated.target_value * allocated.share
            when targeted.target_rule = 'growth_vs_last_year' then last_year.ly_value * (1 + targeted.target_rule_value)
            when targeted.target_rule = 'fixed' and not targeted.is_unit_additive then targeted.rule_fixed_value
        end as target_value,
        case
            when allocated.kpi_id is not null then allocated.target_low * allocated.share
            when targeted.target_rule = 'fixed' and not targeted.is_unit_additive then targeted.rule_low
        end as target_low,
        case
            when allocated.kpi_id is not null then allocated.target_high * allocated.share
            when targeted.target_rule = 'fixed' and not targeted.is_unit_additive then targeted.rule_high
        end as target_high,
        coalesce(allocated.source, 'catalog_rule') as source,
        allocated.plan_version
    from targeted
    left join allocated
        on allocated.kpi_id = targeted.kpi_id
        and allocated.org_unit_id = targeted.org_unit_id
        and allocated.grain = targeted.grain
        and allocated.period_start = targeted.period_start
    left join last_year
        on last_year.kpi_id = targeted.kpi_id
        and last_year.org_unit_id = targeted.org_unit_id
        and last_year.grain = targeted.grain
        and last_year.period_start = targeted.period_start
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        kpi_version,
        target_value,
        target_low,
        target_high,
        source,
        plan_version
    from resolved
    where target_value is not null or (target_low is not null and target_high is not null)
)

select * from final
