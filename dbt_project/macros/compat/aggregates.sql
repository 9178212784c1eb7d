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


{#- `expression` (a double) rounded to `places` decimals the way DuckDB's round() does it: scaled,
    rounded half away from zero, scaled back. Spark's round() rounds the exact binary value instead
    (977.445, stored as 977.44499…, becomes 977.44 there and 977.45 in DuckDB): money amounts must not
    depend on the engine. -#}
{% macro round_half_away(expression, places) -%}
    {{ return(adapter.dispatch('round_half_away', 'kpi_warehouse')(expression, places)) }}
{%- endmacro %}

{% macro duckdb__round_half_away(expression, places) -%}
    round({{ expression }}, {{ places }})
{%- endmacro %}

{% macro spark__round_half_away(expression, places) -%}
    (round(cast({{ expression }} as double) * {{ 10 ** places }}.0) / {{ 10 ** places }}.0)
{%- endmacro %}

{% macro default__round_half_away(expression, places) -%}
    round({{ expression }}, {{ places }})
{%- endmacro %}


{#- A double as text, as DuckDB writes it (16577925.92, 0.0005; never 1.657792592E7 or 5.0E-4, which
    Spark's cast writes from 10 million up and below 0.001), for the numbers quoted in messages. -#}
{% macro number_text(expression) -%}
    {{ return(adapter.dispatch('number_text', 'kpi_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__number_text(expression) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__number_text(expression) -%}
    case
        when abs({{ expression }}) >= 1e7 or (abs({{ expression }}) < 1e-3 and {{ expression }} <> 0)
            then regexp_replace(regexp_replace(cast(cast({{ expression }} as decimal(38, 9)) as string), '0+$', ''), '[.]$', '.0')
        else cast({{ expression }} as string)
    end
{%- endmacro %}


{#- A measured value quoted in a message: 2 decimals from a million up, 6 below, so that the last digit
    shown never carries the rounding noise of a sum of doubles (which differs with the order of the
    rows, and so between engines and runs). -#}
{% macro message_number(expression) -%}
    {{ number_text('case when abs(' ~ expression ~ ') >= 1e6 then ' ~ round_half_away(expression, 2)
                   ~ ' else ' ~ round_half_away(expression, 6) ~ ' end') }}
{%- endmacro %}
