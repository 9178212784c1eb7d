{#- Base KPIs plus derived KPIs, evaluated level by level after the KPIs they reference (same org
    unit and period); formulas come from the compiler, re-rendered from their parsed trees. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set derived = catalog['versions'] | selectattr('measure_type', 'equalto', 'derived') | list -%}
{%- set refs = [] -%}
{%- for v in derived -%}{%- for r in v['derived_refs'] if r not in refs -%}{%- do refs.append(r) -%}{%- endfor -%}{%- endfor -%}

with base as (
    select * from {{ ref('int_kpi_base_actuals') }}
),

spine as (
    select
        int_kpi_spine.*,
        case
            when data_starts.data_start is null or int_kpi_spine.period_end < data_starts.data_start then 'no_data'
            when int_kpi_spine.period_start < data_starts.data_start then 'partial'
            else 'ok'
        end as data_status,
        data_starts.data_start
    from {{ ref('int_kpi_spine') }} as int_kpi_spine
    left join {{ ref('int_kpi_data_starts') }} as data_starts
        on data_starts.kpi_id = int_kpi_spine.kpi_id
        and data_starts.kpi_version = int_kpi_spine.kpi_version
),

level_0 as (
    select
        kpi_id, org_unit_id, grain, period_start, period_end, eval_date, kpi_version, measure_type,
        actual_value, numerator, denominator, is_complete, days_elapsed, days_in_period, data_status, data_start
    from base
)
{%- for level in range(1, catalog['derived_levels'] + 1) %}
{%- set at_level = derived | selectattr('derived_level', 'equalto', level) | list %},

pivot_{{ level }} as (
    select
        org_unit_id,
        grain,
        period_start
        {%- for r in refs %},
        max(case when kpi_id = '{{ r }}' then actual_value end) as {{ adapter.quote(r) }}
        {%- endfor %}
    from (
        {%- for prior in range(0, level) %}
        select kpi_id, org_unit_id, grain, period_start, actual_value from level_{{ prior }}
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as known
    group by org_unit_id, grain, period_start
),

level_{{ level }} as (
    select
        spine.kpi_id,
        spine.org_unit_id,
        spine.grain,
        spine.period_start,
        spine.period_end,
        spine.eval_date,
        spine.kpi_version,
        'derived' as measure_type,
        cast(case
            when spine.data_status = 'no_data' then null
            {%- for v in at_level %}
            when spine.kpi_id = '{{ v['kpi_id'] }}' and spine.kpi_version = {{ v['version'] }} then {{ kpi_catalog_sql(v['derived_sql']) }}
            {%- endfor %}
        end as double) as actual_value,
        cast(case
            when spine.data_status = 'no_data' then null
            {%- for v in at_level if v['derived_numerator_sql'] %}
            when spine.kpi_id = '{{ v['kpi_id'] }}' and spine.kpi_version = {{ v['version'] }} then {{ kpi_catalog_sql(v['derived_numerator_sql']) }}
            {%- endfor %}
        end as double) as numerator,
        cast(case
            when spine.data_status = 'no_data' then null
            {%- for v in at_level if v['derived_denominator_sql'] %}
            when spine.kpi_id = '{{ v['kpi_id'] }}' and spine.kpi_version = {{ v['version'] }} then {{ kpi_catalog_sql(v['derived_denominator_sql']) }}
            {%- endfor %}
        end as double) as denominator,
        spine.is_complete,
        spine.days_elapsed,
        spine.days_in_period,
        spine.data_status,
        spine.data_start
    from spine
    left join pivot_{{ level }} as b
        on b.org_unit_id = spine.org_unit_id
        and b.grain = spine.grain
        and b.period_start = spine.period_start
    where
        {%- for v in at_level %}
        (spine.kpi_id = '{{ v['kpi_id'] }}' and spine.kpi_version = {{ v['version'] }}){% if not loop.last %} or{% endif %}
        {%- endfor %}
)
{%- endfor %},

final as (
    {%- for level in range(0, catalog['derived_levels'] + 1) %}
    select * from level_{{ level }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from final
