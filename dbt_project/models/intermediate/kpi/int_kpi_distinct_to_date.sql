{#- Last year's count_distinct KPIs over the same elapsed days as each running period (the week,
    month, quarter and year of the as-of date), for phasing their targets to date: distinct values
    accumulate over a period (a customer counted in week 1 is not counted again in week 2), so the
    share of last year's full-period count reached after the same number of days is the share of the
    target expected by now. Computed from the facts at every org level (re-org rule: each fact row
    counts for the ancestors of its unit on its own date). -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set passes = [] -%}
{%- for p in catalog['passes'] -%}
    {%- set parts = p['nonadditive'] | selectattr('agg', 'equalto', 'count_distinct') | list -%}
    {%- if parts | length > 0 -%}{%- do passes.append({'pass': p, 'parts': parts}) -%}{%- endif -%}
{%- endfor -%}

with periods as (
    select * from {{ ref('int_kpi_periods') }}
    where not is_complete and grain in ('week', 'month', 'quarter', 'year')
),

windows as (
    select
        grain,
        period_start,
        {{ kpi_add_years('period_start', -1) }} as window_start,
        {{ kpi_add_days(kpi_add_years('period_start', -1), 'days_elapsed - 1') }} as window_end
    from periods
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

final as (
    {%- if passes | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as kpi_id, cast(null as integer) as kpi_version, cast(null as {{ dbt.type_string() }}) as org_unit_id,
           cast(null as {{ dbt.type_string() }}) as grain, cast(null as date) as period_start, cast(null as double) as ly_to_date
    where 1 = 0
    {%- endif %}
    {%- for item in passes %}
    {%- set p = item['pass'] %}
    {%- for part in item['parts'] %}
    {%- if loop.index0 > 0 or item != passes[0] %}
    union all
    {%- endif %}
    select
        '{{ part['kpi_id'] }}' as kpi_id,
        {{ part['version'] }} as kpi_version,
        closure.ancestor_id as org_unit_id,
        windows.grain,
        windows.period_start,
        {{ kpi_nonadditive_aggregate(part) }} as ly_to_date
    from {{ ref(p['model']) }} as f
    inner join windows
        on cast(f.{{ p['time_column'] }} as date) between windows.window_start and windows.window_end
    inner join closure
        on closure.date_day = cast(f.{{ p['time_column'] }} as date)
        and closure.descendant_id = cast(f.{{ p['org_column'] }} as {{ dbt.type_string() }})
    group by closure.ancestor_id, windows.grain, windows.period_start
    {%- endfor %}
    {%- endfor %}
)

select * from final
