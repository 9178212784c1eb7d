{#-
    The KPI measure passes, generated from the compiled catalog.

    kpi_additive_daily_sql(): one aggregation per (fact model, time column, org column) computing every
    additive part (sum / count / ratio numerator / ratio denominator / `last` value) of every KPI
    version on that model at (leaf org unit, business date) grain, then unpivoted to long rows.

    kpi_nonadditive_sql(): one pass per count_distinct / percentile KPI version: the fact rows join the
    org closure of their own date (re-org rule) and dim_date, and GROUPING SETS compute the KPI at
    every org level and every grain in the same pass (why not one pass per model: see the macro).

    Catalog SQL fragments (`expr`, `filter`) were re-rendered by the compiler from validated syntax
    trees with columns qualified by `f.`; no catalog text is pasted unchecked.
-#}

{% macro kpi_part_aggregate(p) -%}
    {%- set cond = p['filter'] if p['filter'] else none -%}
    {%- if p['agg'] == 'count' -%}
        {%- set val = p['expr'] if p['expr'] else '1' -%}
        count({% if cond %}case when {{ cond }} then {{ val }} end{% else %}{{ val }}{% endif %})
    {%- else -%}
        coalesce(sum({% if cond %}case when {{ cond }} then {{ p['expr'] }} end{% else %}{{ p['expr'] }}{% endif %}), 0)
    {%- endif -%}
{%- endmacro %}


{#- One scan per fact model: every additive part at (leaf, date) in total (dimension null) and broken
    down by each gap-explaining dimension the model has (GROUPING SETS in the same aggregation). -#}
{% macro kpi_additive_daily_sql() -%}
    {%- set catalog = kpi_compiled_catalog() -%}
    {%- set passes = catalog['passes'] | selectattr('additive') | list -%}
    {%- if passes | length == 0 -%}
        select cast(null as {{ dbt.type_string() }}) as measure_model, cast(null as {{ dbt.type_string() }}) as kpi_id,
               cast(null as integer) as kpi_version, cast(null as {{ dbt.type_string() }}) as part,
               cast(null as boolean) as is_semi_additive, cast(null as {{ dbt.type_string() }}) as org_unit_id,
               cast(null as date) as date_day, cast(null as {{ dbt.type_string() }}) as dimension,
               cast(null as {{ dbt.type_string() }}) as dimension_value, cast(null as double) as value
        where 1 = 0
    {%- endif -%}
    {%- for pass in passes %}
    {%- set org = 'cast(f.' ~ pass['org_column'] ~ ' as ' ~ dbt.type_string() ~ ')' %}
    {%- set day = 'cast(f.' ~ pass['time_column'] ~ ' as date)' %}
    {%- set dims = pass.get('dimensions', []) %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        '{{ pass['model'] }}' as measure_model,
        parts.kpi_id,
        parts.kpi_version,
        parts.part,
        parts.is_semi_additive,
        agg.org_unit_id,
        agg.date_day,
        agg.dimension,
        agg.dimension_value,
        cast(case parts.col
            {%- for p in pass['additive'] %}
            when '{{ p['col'] }}' then agg.{{ p['col'] }}
            {%- endfor %}
        end as double) as value
    from (
        -- the one scan of {{ pass['model'] }} for its additive KPI parts, in total and by dimension
        select
            {{ org }} as org_unit_id,
            {{ day }} as date_day,
            {%- if dims %}
            case
                {%- for d in dims %}
                when grouping(f.{{ d }}) = 0 then '{{ d }}'
                {%- endfor %}
            end as dimension,
            case
                {%- for d in dims %}
                when grouping(f.{{ d }}) = 0 then coalesce(cast(f.{{ d }} as {{ dbt.type_string() }}), '(missing)')
                {%- endfor %}
            end as dimension_value,
            {%- else %}
            cast(null as {{ dbt.type_string() }}) as dimension,
            cast(null as {{ dbt.type_string() }}) as dimension_value,
            {%- endif %}
            {%- for p in pass['additive'] %}
            {{ kpi_part_aggregate(p) }} as {{ p['col'] }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ ref(pass['model']) }} as f
        where f.{{ pass['time_column'] }} is not null
        {%- if dims %}
        group by grouping sets (
            ({{ org }}, {{ day }})
            {%- for d in dims %},
            ({{ org }}, {{ day }}, f.{{ d }})
            {%- endfor %}
        )
        {%- else %}
        group by {{ org }}, {{ day }}
        {%- endif %}
    ) as agg
    cross join (
        {%- for p in pass['additive'] %}
        select '{{ p['col'] }}' as col, '{{ p['kpi_id'] }}' as kpi_id, {{ p['version'] }} as kpi_version,
               '{{ p['part'] }}' as part, {{ 'true' if p['semi_additive'] else 'false' }} as is_semi_additive
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as parts
    {%- endfor %}
{%- endmacro %}


{% macro kpi_nonadditive_aggregate(p) -%}
    {%- set val = p['expr'] -%}
    {%- if p['filter'] -%}{%- set val = 'case when ' ~ p['filter'] ~ ' then ' ~ p['expr'] ~ ' end' -%}{%- endif -%}
    {%- if p['agg'] == 'count_distinct' -%}
        cast(count(distinct {{ val }}) as double)
    {%- else -%}
        cast({{ kpi_percentile(val, p['percentile']) }} as double)
    {%- endif -%}
{%- endmacro %}


{#- The grain and period start of a row of GROUPING SETS over (…, date_day), (…, week_start),
    (…, month_start), (…, quarter_start), (…, year_start): the one period column that is not null. -#}
{% macro kpi_grouping_set_period() -%}
        case
            when date_day is not null then 'day'
            when week_start is not null then 'week'
            when month_start is not null then 'month'
            when quarter_start is not null then 'quarter'
            else 'year'
        end as grain,
        coalesce(date_day, week_start, month_start, quarter_start, year_start) as period_start
{%- endmacro %}


{% macro kpi_nonadditive_sql(closure_relation, date_relation, as_of_relation) -%}
    {#- One scan and one GROUPING SETS aggregation per count_distinct / percentile KPI version, not one
        per fact model with all of them. DuckDB 2.0 spills without bound when one query aggregates the
        same joined fact rows with a DISTINCT aggregate and a holistic one (quantile) — in one
        aggregation, or in two over one materialized CTE: at scale 10 (4 M orders) the single pass over
        fct_orders wrote > 50 GB of temporary files and failed the first load. One scan per KPI: the
        whole model in 14 s, in memory. Same groups, same values (equal at scale 1, row for row). -#}
    {%- set catalog = kpi_compiled_catalog() -%}
    {%- set passes = catalog['passes'] | selectattr('nonadditive') | list -%}
    {%- if passes | length == 0 -%}
        select cast(null as {{ dbt.type_string() }}) as measure_model, cast(null as {{ dbt.type_string() }}) as kpi_id,
               cast(null as integer) as kpi_version, cast(null as {{ dbt.type_string() }}) as org_unit_id,
               cast(null as {{ dbt.type_string() }}) as grain, cast(null as date) as period_start, cast(null as double) as value
        where 1 = 0
    {%- endif -%}
    {%- set ns = namespace(first=true) -%}
    {%- for pass in passes %}
    {%- for p in pass['nonadditive'] %}
    {%- if not ns.first %}
    union all
    {%- endif %}
    {%- set ns.first = false %}
    select
        '{{ pass['model'] }}' as measure_model,
        '{{ p['kpi_id'] }}' as kpi_id,
        {{ p['version'] }} as kpi_version,
        org_unit_id,
        {{ kpi_grouping_set_period() }},
        value
    from (
        -- {{ p['kpi_id'] }} v{{ p['version'] }} over {{ pass['model'] }}: every fact row counts for each
        -- ancestor of its unit on the fact's own date, at every grain
        select
            c.ancestor_id as org_unit_id,
            d.date_day,
            d.week_start,
            d.month_start,
            d.quarter_start,
            d.year_start,
            {{ kpi_nonadditive_aggregate(p) }} as value
        from {{ ref(pass['model']) }} as f
        inner join {{ closure_relation }} as c
            on c.date_day = cast(f.{{ pass['time_column'] }} as date)
            and c.descendant_id = cast(f.{{ pass['org_column'] }} as {{ dbt.type_string() }})
        inner join {{ date_relation }} as d
            on d.date_day = cast(f.{{ pass['time_column'] }} as date)
        cross join {{ as_of_relation }} as a
        where cast(f.{{ pass['time_column'] }} as date) <= a.as_of_date
        group by grouping sets (
            (c.ancestor_id, d.date_day),
            (c.ancestor_id, d.week_start),
            (c.ancestor_id, d.month_start),
            (c.ancestor_id, d.quarter_start),
            (c.ancestor_id, d.year_start)
        )
    ) as grouped
    {%- endfor %}
    {%- endfor %}
{%- endmacro %}
