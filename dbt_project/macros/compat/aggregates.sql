{#- Aggregates whose SQL differs between engines (adapter.dispatch). -#}

{#- The exact median of `expression` over the named window `window` (null when the window is empty). -#}
{% macro dq_window_median(expression, window) -%}
    {{ return(adapter.dispatch('dq_window_median', 'kpi_warehouse')(expression, window)) }}
{%- endmacro %}

{% macro duckdb__dq_window_median(expression, window) -%}
    median({{ expression }}) over {{ window }}
{%- endmacro %}

{% macro spark__dq_window_median(expression, window) -%}
    {#- Spark's median and percentile_cont take no window frame: the window's values, sorted, and
        the middle one (the mean of the two middle ones), as DuckDB's median gives it -#}
    {%- set values = 'array_sort(collect_list(' ~ expression ~ ') over ' ~ window ~ ')' -%}
    case
        when size({{ values }}) = 0 then cast(null as double)
        when size({{ values }}) % 2 = 1 then cast(element_at({{ values }}, cast((size({{ values }}) + 1) / 2 as int)) as double)
        else (cast(element_at({{ values }}, cast(size({{ values }}) / 2 as int)) as double)
              + cast(element_at({{ values }}, cast(size({{ values }}) / 2 as int) + 1) as double)) / 2.0
    end
{%- endmacro %}

{% macro default__dq_window_median(expression, window) -%}
    {{ exceptions.raise_compiler_error("dq_window_median is not implemented for adapter " ~ adapter.type() ~ ": add " ~ adapter.type() ~ "__dq_window_median to macros/compat/aggregates.sql") }}
{%- endmacro %}


{#- `expression` of a group's rows joined by `separator` in the order of `order_by` (null when every
    value is null). -#}
{% macro ordered_string_agg(expression, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'kpi_warehouse')(expression, separator, order_by)) }}
{%- endmacro %}

{% macro duckdb__ordered_string_agg(expression, separator, order_by) -%}
    string_agg({{ expression }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(expression, separator, order_by) -%}
    listagg({{ expression }}, {{ separator }}) within group (order by {{ order_by }})
{%- endmacro %}

{% macro default__ordered_string_agg(expression, separator, order_by) -%}
    {{ exceptions.raise_compiler_error("ordered_string_agg is not implemented for adapter " ~ adapter.type() ~ ": add " ~ adapter.type() ~ "__ordered_string_agg to macros/compat/aggregates.sql") }}
{%- endmacro %}
