{#- Aggregates whose SQL differs between engines (adapter.dispatch). -#}

{#- The median of `expression` as a window aggregate (followed by `over …` at the call site). -#}
{% macro dq_window_median(expression) -%}
    {{ return(adapter.dispatch('dq_window_median', 'kpi_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__dq_window_median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro spark__dq_window_median(expression) -%}
    percentile_approx({{ expression }}, 0.5)
{%- endmacro %}

{% macro default__dq_window_median(expression) -%}
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
