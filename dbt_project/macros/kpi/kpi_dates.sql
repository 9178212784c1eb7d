{#-
    Date arithmetic and aggregates that differ between engines. Only these macros hold
    engine-specific syntax (adapter.dispatch: duckdb__* and spark__* here, default__* in ANSI-ish SQL).
-#}

{#- The last day (inclusive) of the period of `grain_sql` ('day'..'year') starting on `start_sql`. -#}
{% macro kpi_period_end(grain_sql, start_sql) -%}
    {{ return(adapter.dispatch('kpi_period_end', 'kpi_warehouse')(grain_sql, start_sql)) }}
{%- endmacro %}

{% macro default__kpi_period_end(grain_sql, start_sql) -%}
    case {{ grain_sql }}
        when 'day' then {{ start_sql }}
        when 'week' then cast({{ start_sql }} + interval '6' day as date)
        when 'month' then cast({{ start_sql }} + interval '1' month - interval '1' day as date)
        when 'quarter' then cast({{ start_sql }} + interval '3' month - interval '1' day as date)
        when 'year' then cast({{ start_sql }} + interval '1' year - interval '1' day as date)
    end
{%- endmacro %}

{% macro duckdb__kpi_period_end(grain_sql, start_sql) -%}
    case {{ grain_sql }}
        when 'day' then {{ start_sql }}
        when 'week' then cast({{ start_sql }} + interval 6 day as date)
        when 'month' then cast({{ start_sql }} + interval 1 month - interval 1 day as date)
        when 'quarter' then cast({{ start_sql }} + interval 3 month - interval 1 day as date)
        when 'year' then cast({{ start_sql }} + interval 1 year - interval 1 day as date)
    end
{%- endmacro %}


{#- `date_sql` shifted by `n` days / years (n may be a SQL expression). -#}
{% macro kpi_add_days(date_sql, n) -%}
    {{ return(adapter.dispatch('kpi_add_days', 'kpi_warehouse')(date_sql, n)) }}
{%- endmacro %}

{% macro default__kpi_add_days(date_sql, n) -%}
    cast({{ date_sql }} + ({{ n }}) * interval '1' day as date)
{%- endmacro %}

{% macro duckdb__kpi_add_days(date_sql, n) -%}
    cast({{ date_sql }} + to_days(cast({{ n }} as integer)) as date)
{%- endmacro %}

{% macro spark__kpi_add_days(date_sql, n) -%}
    date_add(cast({{ date_sql }} as date), cast({{ n }} as integer))
{%- endmacro %}

{% macro kpi_add_years(date_sql, n) -%}
    {{ return(adapter.dispatch('kpi_add_years', 'kpi_warehouse')(date_sql, n)) }}
{%- endmacro %}

{% macro default__kpi_add_years(date_sql, n) -%}
    cast({{ date_sql }} + ({{ n }}) * interval '1' year as date)
{%- endmacro %}

{% macro duckdb__kpi_add_years(date_sql, n) -%}
    cast({{ date_sql }} + to_years(cast({{ n }} as integer)) as date)
{%- endmacro %}


{% macro spark__kpi_add_years(date_sql, n) -%}
    {#- like DuckDB's to_years: 29 February plus a year is 28 February -#}
    add_months(cast({{ date_sql }} as date), 12 * cast({{ n }} as integer))
{%- endmacro %}


{#- Whole days from `start_sql` to `end_sql` (end - start). -#}
{% macro kpi_days_between(start_sql, end_sql) -%}
    {{ return(adapter.dispatch('kpi_days_between', 'kpi_warehouse')(start_sql, end_sql)) }}
{%- endmacro %}

{% macro default__kpi_days_between(start_sql, end_sql) -%}
    datediff('day', {{ start_sql }}, {{ end_sql }})
{%- endmacro %}

{% macro duckdb__kpi_days_between(start_sql, end_sql) -%}
    date_diff('day', {{ start_sql }}, {{ end_sql }})
{%- endmacro %}


{% macro spark__kpi_days_between(start_sql, end_sql) -%}
    datediff(cast({{ end_sql }} as date), cast({{ start_sql }} as date))
{%- endmacro %}


{#- A date literal. -#}
{% macro kpi_date(value) -%}
    {%- if value is none -%}cast(null as date){%- else -%}cast('{{ value }}' as date){%- endif -%}
{%- endmacro %}


{#- Continuous percentile `p` of `expr_sql` (nulls ignored). -#}
{% macro kpi_percentile(expr_sql, p) -%}
    {{ return(adapter.dispatch('kpi_percentile', 'kpi_warehouse')(expr_sql, p)) }}
{%- endmacro %}

{% macro default__kpi_percentile(expr_sql, p) -%}
    percentile_cont({{ p }}) within group (order by {{ expr_sql }})
{%- endmacro %}

{% macro duckdb__kpi_percentile(expr_sql, p) -%}
    quantile_cont({{ expr_sql }}, {{ p }})
{%- endmacro %}


{#- The as-of date of the build: var `as_of_date`, else the latest business date in the facts
    (the latest date of int_kpi_measures_daily, i.e. of every fact a KPI reads). -#}
{% macro kpi_as_of_date_sql() -%}
    {#- ref() outside the branch: the dependency must not depend on --vars, or the manifest Dagster
        loads (parsed without vars) and the one dbt runs with would disagree on the DAG. -#}
    {%- set measures = ref('int_kpi_measures_daily') -%}
    {%- set v = var('as_of_date', none) -%}
    {%- if v is not none and v | string | length > 0 -%}
        cast('{{ v }}' as date)
    {%- else -%}
        (select max(date_day) from {{ measures }})
    {%- endif -%}
{%- endmacro %}


{#- A plan workbook's period label ('2025' year, '2025-Q1' quarter, '2025-01' month) as its grain
    (null when the label is none of these) and its first day. -#}
{% macro kpi_plan_period_grain(label) -%}
    case
        when length({{ label }}) = 4 then 'year'
        when length({{ label }}) = 7 and substr({{ label }}, 6, 1) = 'Q'
            and substr({{ label }}, 7, 1) in ('1', '2', '3', '4') then 'quarter'
        when length({{ label }}) = 7 and substr({{ label }}, 5, 1) = '-'
            and substr({{ label }}, 6, 2) in ('01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12')
            then 'month'
    end
{%- endmacro %}

{% macro kpi_plan_period_start(label) -%}
    case {{ kpi_plan_period_grain(label) }}
        when 'year' then cast({{ label }} || '-01-01' as date)
        when 'quarter' then cast(
            substr({{ label }}, 1, 4) || '-'
            || case substr({{ label }}, 7, 1) when '1' then '01' when '2' then '04' when '3' then '07' else '10' end
            || '-01' as date)
        when 'month' then cast({{ label }} || '-01' as date)
    end
{%- endmacro %}
