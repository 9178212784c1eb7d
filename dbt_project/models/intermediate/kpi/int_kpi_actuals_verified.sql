{#- KPI values with the trust flag at the grain of the value: a value is unverified when an unresolved
    source problem (int_kpi_problem_effects) can change it — one whose days overlap the period up to its
    evaluation day, in a table upstream of the KPI, on the value's org unit or one below it (a problem
    with no known unit counts for every unit). `value_low` / `value_high` bound what the value can be
    once the problems are fixed (null when that is unknown); kpi_attainment calls a value verified
    after all when its status is the same anywhere in that range. A derived KPI's range is its formula
    over the ranges of the KPIs it uses (interval arithmetic, rendered by the catalog compiler).
    `first_unverified_day` is the earliest affected day (null when verified): kpi_attainment holds a
    status change back from it. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set derived = catalog['versions'] | selectattr('measure_type', 'equalto', 'derived') | list -%}
{%- set refs = [] -%}
{%- for v in derived -%}{%- for r in v['derived_refs'] if r not in refs -%}{%- do refs.append(r) -%}{%- endfor -%}{%- endfor -%}
{%- set columns = ['kpi_id', 'org_unit_id', 'grain', 'period_start', 'period_end', 'actual_value', 'numerator',
                   'denominator', 'kpi_version', 'is_complete', 'days_elapsed', 'days_in_period', 'eval_date',
                   'measure_type', 'first_unverified_day', 'data_status', 'data_start', 'unverified_reason',
                   'unverified_tables', 'value_min', 'value_max'] -%}
with actuals as (
    select * from {{ ref('int_kpi_actuals') }}
),

effects as (
    select * from {{ ref('int_kpi_problem_effects') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

effect_units as (
    -- the units whose values each effect can change: its own unit's ancestors on its first day
    -- (a unit not in the hierarchy that day, or no unit at all: any unit, unit = null)
    select effects.*, closure.ancestor_id as affected_unit_id
    from effects
    left join closure
        on closure.date_day = effects.first_day
        and closure.descendant_id = effects.org_unit_id
),

matched as (
    select
        actuals.kpi_id,
        actuals.org_unit_id,
        actuals.grain,
        actuals.period_start,
        effect_units.part,
        effect_units.problem_id,
        effect_units.source,
        effect_units.table_name,
        effect_units.problem,
        effect_units.rows_affected,
        effect_units.bound,
        greatest(effect_units.first_day, actuals.period_start) as first_day
    from actuals
    inner join effect_units
        on effect_units.kpi_id = actuals.kpi_id
        and effect_units.kpi_version = actuals.kpi_version
        and effect_units.first_day <= actuals.eval_date
        and effect_units.last_day >= actuals.period_start
        and (effect_units.affected_unit_id = actuals.org_unit_id or effect_units.affected_unit_id is null)
),

per_part as (
    select
        kpi_id, org_unit_id, grain, period_start, part,
        case when count(*) = count(bound) then sum(bound) end as bound
    from matched
    group by kpi_id, org_unit_id, grain, period_start, part
),

per_table as (
    select
        kpi_id, org_unit_id, grain, period_start, source, table_name,
        min(first_day) as first_day,
        sum(case when problem = 'quarantined_rows' then coalesce(rows_affected, 1) else 0 end) as quarantined_rows,
        count(case when problem = 'rejected_partition' then 1 end) as rejected_partitions,
        count(case when problem = 'stale' then 1 end) as stale,
        count(case when problem = 'missing_feed' then 1 end) as missing_days,
        count(case when problem = 'low_volume' then 1 end) as low_days
    from (
        select distinct kpi_id, org_unit_id, grain, period_start, problem_id, source, table_name, problem,
            rows_affected, first_day
        from matched
    ) as distinct_problems
    group by kpi_id, org_unit_id, grain, period_start, source, table_name
),

per_value as (
    select
        per_table.kpi_id,
        per_table.org_unit_id,
        per_table.grain,
        per_table.period_start,
        min(per_table.first_day) as first_unverified_day,
        {{ ordered_string_agg("per_table.source || '.' || per_table.table_name", "', '",
                              'per_table.source, per_table.table_name') }} as unverified_tables,
        {% set unverified_reason %}
            per_table.source || '.' || per_table.table_name || ': '
            || trim(both ', ' from
                case when per_table.quarantined_rows > 0
                    then cast(per_table.quarantined_rows as {{ dbt.type_string() }}) || ' quarantined row(s), ' else '' end
                || case when per_table.rejected_partitions > 0
                    then cast(per_table.rejected_partitions as {{ dbt.type_string() }}) || ' rejected partition(s), ' else '' end
                || case when per_table.stale > 0 then 'stale, ' else '' end
                || case when per_table.missing_days > 0
                    then 'no rows delivered on ' || cast(per_table.missing_days as {{ dbt.type_string() }}) || ' day(s), ' else '' end
                || case when per_table.low_days > 0 then 'far fewer rows than usual, ' else '' end)
            || ' from ' || cast(per_table.first_day as {{ dbt.type_string() }})
        {%- endset %}
        {{ ordered_string_agg(unverified_reason, "'; '", 'per_table.source, per_table.table_name') }} as unverified_reason
    from per_table
    group by per_table.kpi_id, per_table.org_unit_id, per_table.grain, per_table.period_start
),

bounds as (
    select
        kpi_id, org_unit_id, grain, period_start,
        -- a part without effects moves by 0; a part with an unknown effect leaves the bound unknown
        max(case when part = 'value' then 1 else 0 end) as has_value_part,
        min(case when part = 'value' then coalesce(bound, -1) end) as value_bound_or_unknown,
        min(case when part = 'numerator' then coalesce(bound, -1) end) as numerator_bound_or_unknown,
        min(case when part = 'denominator' then coalesce(bound, -1) end) as denominator_bound_or_unknown
    from per_part
    group by kpi_id, org_unit_id, grain, period_start
),

ranged as (
    select
        actuals.*,
        per_value.first_unverified_day,
        per_value.unverified_tables,
        per_value.unverified_reason,
        versions.scale,
        versions.value_min,
        versions.value_max,
        case when bounds.value_bound_or_unknown < 0 then null else coalesce(bounds.value_bound_or_unknown, 0) end
            as value_bound,
        case when bounds.numerator_bound_or_unknown < 0 then null else coalesce(bounds.numerator_bound_or_unknown, 0) end
            as numerator_bound,
        case when bounds.denominator_bound_or_unknown < 0 then null else coalesce(bounds.denominator_bound_or_unknown, 0) end
            as denominator_bound
    from actuals
    inner join versions
        on versions.kpi_id = actuals.kpi_id
        and versions.version = actuals.kpi_version
    left join per_value
        on per_value.kpi_id = actuals.kpi_id
        and per_value.org_unit_id = actuals.org_unit_id
        and per_value.grain = actuals.grain
        and per_value.period_start = actuals.period_start
    left join bounds
        on bounds.kpi_id = actuals.kpi_id
        and bounds.org_unit_id = actuals.org_unit_id
        and bounds.grain = actuals.grain
        and bounds.period_start = actuals.period_start
),

interval_values as (
    select
        *,
        case
            when first_unverified_day is null then actual_value
            when actual_value is null then null
            when measure_type in ('sum', 'count', 'last', 'count_distinct') then actual_value - value_bound
            when measure_type = 'ratio' and denominator - denominator_bound > 0 then scale * least(
                (numerator - numerator_bound) / (denominator + denominator_bound),
                (numerator - numerator_bound) / (denominator - denominator_bound),
                (numerator + numerator_bound) / (denominator + denominator_bound),
                (numerator + numerator_bound) / (denominator - denominator_bound))
        end as raw_low,
        case
            when first_unverified_day is null then actual_value
            when actual_value is null then null
            when measure_type in ('sum', 'count', 'last', 'count_distinct') then actual_value + value_bound
            when measure_type = 'ratio' and denominator - denominator_bound > 0 then scale * greatest(
                (numerator - numerator_bound) / (denominator + denominator_bound),
                (numerator - numerator_bound) / (denominator - denominator_bound),
                (numerator + numerator_bound) / (denominator + denominator_bound),
                (numerator + numerator_bound) / (denominator - denominator_bound))
        end as raw_high
    from ranged
),

interval_0 as (
    select
        {%- for c in columns %}
        {{ c }},
        {%- endfor %}
        raw_low,
        raw_high
    from interval_values
)
{%- for level in range(1, catalog['derived_levels'] + 1) %}
{%- set at_level = derived | selectattr('derived_level', 'equalto', level) | list %},

{%- for end in ('low', 'high') %}

pivot_{{ end }}_{{ level }} as (
    select
        org_unit_id,
        grain,
        period_start
        {%- for r in refs %},
        max(case when kpi_id = '{{ r }}' then raw_{{ end }} end) as {{ adapter.quote(r) }}
        {%- endfor %}
    from interval_{{ level - 1 }}
    group by org_unit_id, grain, period_start
),
{%- endfor %}

interval_{{ level }} as (
    -- derived KPIs of level {{ level }}: their formula over the ranges of the KPIs they use
    select
        {%- for c in columns %}
        i.{{ c }},
        {%- endfor %}
        {%- for end in ('low', 'high') %}
        case
            when i.first_unverified_day is null then i.raw_{{ end }}
            {%- for v in at_level if v['derived_' ~ end ~ '_sql'] %}
            when i.kpi_id = '{{ v['kpi_id'] }}' and i.kpi_version = {{ v['version'] }} and i.actual_value is not null
                then {{ kpi_catalog_sql(v['derived_' ~ end ~ '_sql']) }}
            {%- endfor %}
            else i.raw_{{ end }}
        end as raw_{{ end }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from interval_{{ level - 1 }} as i
    left join pivot_low_{{ level }} as lo
        on lo.org_unit_id = i.org_unit_id and lo.grain = i.grain and lo.period_start = i.period_start
    left join pivot_high_{{ level }} as hi
        on hi.org_unit_id = i.org_unit_id and hi.grain = i.grain and hi.period_start = i.period_start
)
{%- endfor %},

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        actual_value,
        numerator,
        denominator,
        kpi_version,
        is_complete,
        days_elapsed,
        days_in_period,
        first_unverified_day is null as is_verified,
        eval_date,
        measure_type,
        first_unverified_day,
        data_status,
        data_start,
        -- the possible range clamped to what the KPI can take at all
        case when value_min is not null and raw_low < value_min then value_min else raw_low end as value_low,
        case when value_max is not null and raw_high > value_max then value_max else raw_high end as value_high,
        unverified_reason,
        unverified_tables
    from interval_{{ catalog['derived_levels'] }}
)

select * from final
