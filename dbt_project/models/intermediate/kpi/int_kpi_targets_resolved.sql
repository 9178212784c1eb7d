{#-
    One target per (KPI, org unit, month/quarter/year period) where one is expected, in this order:
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

    A plan value is never replaced silently: a plan row rejected at the door or outside the KPI's
    possible range (int_kpi_plan_targets), and every target phased or allocated from it, has
    `target_status = 'rejected'` and the reason — it does not fall through to the catalog rule; so has
    every target of a plan whose Targets sheet was rejected as a whole, and a catalog-rule target that
    is impossible (outside value_min / value_max: +10 % on a 98 % share). A target that needs last
    year's value (growth rule, allocation by share) needs a complete base period (data_status ok):
    without one it is `missing`, and says so. `target_note` names the plan file and version and the
    sheet row, the unit a target was allocated from, or the catalog rule — or why there is no target.
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

plan_info as (
    select * from {{ ref('stg_finance__plan_info') }}
),

rejected_loads as (
    select * from {{ ref('dq_load_log') }}
    where source = 'finance' and {{ adapter.quote('table') }} = 'targets' and status = 'rejected'
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

catalog_anchor_ids as (
    {{ kpi_rows(anchor_rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('org_unit_id', 'string')]) }}
),

catalog_anchor_types as (
    {{ kpi_rows(anchor_type_rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('unit_type', 'string')]) }}
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

rejected_sheets as (
    -- plans whose Targets sheet was rejected as a whole (the latest load of its partition)
    select plan_info.plan_version, plan_info.workbook_file, min(rejected_loads.message) as message
    from plan_info
    inner join rejected_loads on rejected_loads.partition_date = plan_info.valid_from
    group by plan_info.plan_version, plan_info.workbook_file
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
        versions.value_min,
        versions.value_max,
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
    -- last year's value of the same unit and period: a growth base only when complete and with data
    -- for the whole period (data_status ok); `ly_problem` says why it is not one
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        case when actuals.data_status = 'ok' and actuals.is_complete then actuals.actual_value end as ly_value,
        -- a share of a parent's value stays meaningful over a partial period: allocation may use it
        case when actuals.data_status in ('ok', 'partial') and actuals.is_complete then actuals.actual_value end
            as ly_share_value,
        case
            when actuals.kpi_id is null then 'has no value'
            when actuals.data_status = 'no_data' then 'has no data (its inputs start '
                || coalesce(cast(actuals.data_start as {{ dbt.type_string() }}), 'nowhere') || ')'
            when actuals.data_status = 'partial' then 'is incomplete (its inputs start '
                || cast(actuals.data_start as {{ dbt.type_string() }}) || ')'
            when not actuals.is_complete then 'is not over yet'
            when actuals.actual_value is null then 'has no value'
        end as ly_problem
    from targeted
    left join actuals
        on actuals.kpi_id = targeted.kpi_id
        and actuals.org_unit_id = targeted.org_unit_id
        and actuals.grain = targeted.grain
        and actuals.period_start = {{ kpi_add_years('targeted.period_start', -1) }}
),

applicable_plans as (
    -- per period: the plan of the period's year valid on its evaluation day (latest valid_from)
    select
        ranked.grain,
        ranked.period_start,
        ranked.plan_version,
        rejected_sheets.message as sheet_rejection,
        rejected_sheets.workbook_file as rejected_file
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
    left join rejected_sheets on rejected_sheets.plan_version = ranked.plan_version
    where ranked.plan_rank = 1
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
    where grain in ('quarter', 'year') and target_status = 'ok'
),

seasonal_history as (
    -- last year's seasonality is used only when every month (quarter) of last year's enclosing
    -- quarter (year) has a non-zero actual from complete data: else phasing is linear by days
    select
        containers.kpi_id,
        containers.org_unit_id,
        containers.grain as container_grain,
        containers.period_start as container_start,
        parts.grain as part_grain,
        count(case when parts.actual_value <> 0 and parts.data_status = 'ok' then 1 end)
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
            when set_targets.target_status <> 'ok' then null
            when not targeted.is_time_additive then set_targets.target_value
            when history.is_complete_history and ly_whole.ly_value <> 0 and ly_part.ly_value is not null
                then set_targets.target_value * ly_part.ly_value / ly_whole.ly_value
            else set_targets.target_value * targeted.days_in_period
                / ({{ kpi_days_between('set_targets.period_start', kpi_period_end('set_targets.grain', 'set_targets.period_start')) }} + 1)
        end as target_value,
        set_targets.target_low,
        set_targets.target_high,
        set_targets.target_status,
        case
            when set_targets.target_status <> 'ok' then 'phased from the rejected ' || set_targets.period_label
                || ' target: ' || set_targets.rejection_reason
            else 'phased from the ' || set_targets.period_label || ' target of '
                || coalesce(set_targets.plan_file, set_targets.plan_version) || ' (' || set_targets.plan_version || ')'
                || case
                    when not targeted.is_time_additive then ''
                    when history.is_complete_history and ly_whole.ly_value <> 0 and ly_part.ly_value is not null
                        then ' by last year''s seasonality'
                    else ' by days'
                end
        end as target_note,
        set_targets.plan_file,
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
    select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high, source,
           target_status, target_note, plan_file
    from (
        select *, row_number() over (
            partition by kpi_id, org_unit_id, grain, period_start
            -- the unit's own row of the period first; a loaded row before a rejected one of the same key
            order by priority, case target_status when 'ok' then 0 else 1 end
        ) as anchor_rank
        from (
            select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high,
                   'set' as source, 0 as priority, target_status,
                   case
                       when target_status <> 'ok' then 'plan row rejected: ' || rejection_reason
                       else 'set by ' || coalesce(plan_file, plan_version) || ' (' || plan_version || ')'
                           || coalesce(', sheet Targets row ' || cast(sheet_row as {{ dbt.type_string() }}), '')
                   end as target_note,
                   plan_file
            from set_targets
            union all
            select kpi_id, org_unit_id, grain, period_start, plan_version, target_value, target_low, target_high,
                   'allocated' as source, priority, target_status, target_note, plan_file
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
        cast(null as {{ dbt.type_string() }}) as plan_version,
        targeted.rule_fixed_value as target_value,
        targeted.rule_low as target_low,
        targeted.rule_high as target_high,
        'catalog_rule' as source,
        'ok' as target_status,
        'catalog rule: fixed target' as target_note,
        cast(null as {{ dbt.type_string() }}) as plan_file
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
            anchors.target_status,
            anchors.target_note,
            anchors.plan_file,
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
            when nearest_anchor.depth = 0 or not nearest_anchor.is_unit_additive
                or nearest_anchor.target_status <> 'ok' then 1.0
            when ly_anchor.ly_share_value is not null and ly_anchor.ly_share_value <> 0 and ly_unit.ly_share_value is not null
                then ly_unit.ly_share_value / ly_anchor.ly_share_value
        end as share,
        nearest_anchor.target_value,
        nearest_anchor.target_low,
        nearest_anchor.target_high,
        case when nearest_anchor.depth = 0 then nearest_anchor.source else 'allocated' end as source,
        nearest_anchor.target_status,
        case
            when nearest_anchor.depth = 0 then nearest_anchor.target_note
            when nearest_anchor.target_status <> 'ok'
                then 'allocated from the rejected target of ' || nearest_anchor.anchor_org_unit_id || ': '
                    || nearest_anchor.target_note
            when not nearest_anchor.is_unit_additive
                then 'inherited from ' || nearest_anchor.anchor_org_unit_id || ' (' || nearest_anchor.target_note || ')'
            else 'allocated from ' || nearest_anchor.anchor_org_unit_id || ' by last year''s share ('
                || nearest_anchor.target_note || ')'
        end as target_note,
        nearest_anchor.plan_file,
        case when nearest_anchor.depth > 0 then nearest_anchor.anchor_org_unit_id end as allocated_from,
        -- why an additive anchor of an ancestor could not be shared out to this unit
        case
            when nearest_anchor.depth > 0 and nearest_anchor.is_unit_additive and nearest_anchor.target_status = 'ok'
                and not (ly_anchor.ly_share_value is not null and ly_anchor.ly_share_value <> 0
                         and ly_unit.ly_share_value is not null)
                then 'no share of ' || nearest_anchor.anchor_org_unit_id || '''s target: last year '
                    || case
                        when ly_anchor.ly_share_value = 0 then 'was 0 at ' || nearest_anchor.anchor_org_unit_id
                        else coalesce(ly_unit.ly_problem, ly_anchor.ly_problem, 'has no value')
                    end
        end as share_problem
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

share_problems as (
    -- a plan target above the unit that could not be shared out to it
    select kpi_id, org_unit_id, grain, period_start, min(share_problem) as share_problem
    from allocated_by_tier
    where tier = 0 and share_problem is not null
    group by kpi_id, org_unit_id, grain, period_start
),

resolved as (
    select
        targeted.kpi_id,
        targeted.org_unit_id,
        targeted.grain,
        targeted.period_start,
        targeted.period_end,
        targeted.kpi_version,
        targeted.value_min,
        targeted.value_max,
        applicable_plans.sheet_rejection,
        applicable_plans.rejected_file,
        allocated.kpi_id is not null as has_anchor,
        allocated.target_status as anchor_status,
        share_problems.share_problem,
        last_year.ly_problem,
        last_year.ly_value,
        targeted.target_rule,
        targeted.target_rule_value,
        targeted.is_unit_additive,
        own.data_status = 'no_data' as has_no_data,
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
        allocated.target_note as anchor_note,
        allocated.plan_version,
        allocated.plan_file,
        allocated.allocated_from
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
    left join applicable_plans
        on applicable_plans.grain = targeted.grain
        and applicable_plans.period_start = targeted.period_start
    left join share_problems
        on share_problems.kpi_id = targeted.kpi_id
        and share_problems.org_unit_id = targeted.org_unit_id
        and share_problems.grain = targeted.grain
        and share_problems.period_start = targeted.period_start
    left join actuals as own
        on own.kpi_id = targeted.kpi_id
        and own.org_unit_id = targeted.org_unit_id
        and own.grain = targeted.grain
        and own.period_start = targeted.period_start
),

judged as (
    select
        *,
        case
            when sheet_rejection is not null then 'rejected'
            when has_anchor and anchor_status <> 'ok' then 'rejected'
            when target_value is null and (target_low is null or target_high is null) then 'missing'
            when value_min is not null and (target_value < value_min or target_low < value_min) then 'rejected'
            when value_max is not null and (target_value > value_max or target_high > value_max) then 'rejected'
            else 'ok'
        end as target_status
    from resolved
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        kpi_version,
        case when target_status = 'ok' then target_value end as target_value,
        case when target_status = 'ok' then target_low end as target_low,
        case when target_status = 'ok' then target_high end as target_high,
        case when sheet_rejection is null then source else 'set' end as source,
        case when sheet_rejection is null then plan_version end as plan_version,
        coalesce(rejected_file, plan_file) as plan_file,
        allocated_from,
        target_status,
        case
            when sheet_rejection is not null then 'the plan''s Targets sheet was rejected: ' || sheet_rejection
            when has_anchor and target_status = 'ok' then anchor_note
            when has_anchor and anchor_status <> 'ok' then anchor_note
            when target_status = 'rejected' then 'impossible target ' || {{ message_number('target_value') }}
                || ' (' || coalesce(anchor_note, 'catalog rule ' || target_rule
                    || case when target_rule = 'growth_vs_last_year'
                        then ' ' || {{ number_text(round_half_away('target_rule_value * 100', 2)) }} || ' % on last year''s '
                            || {{ message_number('ly_value') }} else '' end)
                || '): ' || kpi_id || ' can only take values in ['
                || coalesce(cast(value_min as {{ dbt.type_string() }}), '−∞') || ', ' || coalesce(cast(value_max as {{ dbt.type_string() }}), '∞') || ']'
            when target_status = 'missing' then coalesce(share_problem,
                case when target_rule = 'growth_vs_last_year'
                    then 'growth target needs a complete base period: last year ' || coalesce(ly_problem, 'has no value')
                end,
                'no target: the catalog rule gives none here')
            when target_rule = 'growth_vs_last_year' then 'catalog rule: '
                || case when target_rule_value >= 0 then '+' else '' end
                || {{ number_text(round_half_away('target_rule_value * 100', 2)) }} || ' % on last year (' || {{ message_number('ly_value') }} || ')'
            else 'catalog rule: fixed target'
        end as target_note
    from judged
    -- a row wherever a target is expected: the plan applies, a fixed non-additive rule (fixed additive
    -- targets are anchors), a growth rule or a plan target that could not be shared out to the unit —
    -- those two not for a period without data (nothing to judge; no target is missing there)
    where has_anchor or sheet_rejection is not null
        or (coalesce(not has_no_data, true) and (share_problem is not null or target_rule = 'growth_vs_last_year'))
        or (target_rule = 'fixed' and not is_unit_additive)
)

select * from final
