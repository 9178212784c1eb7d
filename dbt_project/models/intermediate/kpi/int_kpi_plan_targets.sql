{#- Every target row of every plan workbook, with where it comes from and whether it can be used:
    the rows loaded into the lake (period label parsed into grain and period_start; unparseable
    labels get a null grain, tested) and the rows quarantined at the door (rule and reason from the
    quarantine). A loaded target outside the values its KPI can take (kpi_definitions.value_min /
    value_max) is rejected here. `target_status`: ok | rejected; `target_note` says why, naming the
    workbook, the row and the rule. A rejected plan row makes its KPI × unit × period target
    rejected in int_kpi_targets_resolved — never silently replaced by a fallback. -#}
with targets as (
    select * from {{ ref('stg_finance__targets') }}
),

plan_info as (
    select * from {{ ref('stg_finance__plan_info') }}
),

problems as (
    select * from {{ ref('int_dq_problem_rows') }}
    where source = 'finance' and table_name = 'targets' and problem = 'quarantined_rows' and _raw is not null
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
    where is_current
),

loaded as (
    select
        cast(plan_version as {{ dbt.type_string() }}) as plan_version,
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        trim(cast(period as {{ dbt.type_string() }})) as period_label,
        cast(target_value as double) as target_value,
        cast(target_low as double) as target_low,
        cast(target_high as double) as target_high,
        _row_number + 1 as sheet_row,  -- the header is the sheet's first row
        cast(null as {{ dbt.type_string() }}) as rejection
    from targets
),

quarantined as (
    -- rows rejected at the door (a formula without a value, an unknown org unit, a text target, …)
    select
        {{ dq_raw_field('plan_version') }} as plan_version,
        {{ dq_raw_field('kpi_id') }} as kpi_id,
        {{ dq_raw_field('org_unit_id') }} as org_unit_id,
        trim({{ dq_raw_field('period') }}) as period_label,
        cast(null as double) as target_value,
        cast(null as double) as target_low,
        cast(null as double) as target_high,
        cast(null as bigint) as sheet_row,
        message as rejection
    from problems
    where message not like 'quarantined: duplicate_key%'
),

unioned as (
    select * from loaded
    union all
    select * from quarantined
),

parsed as (
    select
        unioned.*,
        {{ kpi_plan_period_grain('unioned.period_label') }} as grain,
        {{ kpi_plan_period_start('unioned.period_label') }} as period_start
    from unioned
),

checked as (
    select
        parsed.*,
        case
            when parsed.rejection is not null then parsed.rejection
            when versions.value_min is not null and (parsed.target_value < versions.value_min
                    or parsed.target_low < versions.value_min or parsed.target_high < versions.value_min)
                then 'target ' || cast(coalesce(parsed.target_value, parsed.target_low) as {{ dbt.type_string() }})
                    || ' is below the lowest value ' || parsed.kpi_id || ' can take (' || cast(versions.value_min as {{ dbt.type_string() }})
                    || ', ' || coalesce(versions.range_source, 'range') || ') (rule: possible)'
            when versions.value_max is not null and (parsed.target_value > versions.value_max
                    or parsed.target_low > versions.value_max or parsed.target_high > versions.value_max)
                then 'target ' || cast(coalesce(parsed.target_value, parsed.target_high) as {{ dbt.type_string() }})
                    || ' is above the highest value ' || parsed.kpi_id || ' can take (' || cast(versions.value_max as {{ dbt.type_string() }})
                    || ', ' || coalesce(versions.range_source, 'range') || ') (rule: possible)'
        end as rejection_reason
    from parsed
    left join versions on versions.kpi_id = parsed.kpi_id
),

final as (
    select
        checked.plan_version,
        checked.kpi_id,
        checked.org_unit_id,
        checked.period_label,
        checked.grain,
        checked.period_start,
        case when checked.rejection_reason is null then checked.target_value end as target_value,
        case when checked.rejection_reason is null then checked.target_low end as target_low,
        case when checked.rejection_reason is null then checked.target_high end as target_high,
        case when checked.rejection_reason is null then 'ok' else 'rejected' end as target_status,
        plan_info.workbook_file as plan_file,
        checked.sheet_row,
        checked.rejection_reason
    from checked
    left join plan_info on plan_info.plan_version = checked.plan_version
)

select * from final
