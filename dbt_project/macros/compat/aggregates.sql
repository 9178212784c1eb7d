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
