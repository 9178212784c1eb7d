{#- Calendar helpers whose SQL differs between engines (adapter.dispatch; DuckDB and Spark). -#}

{#- One row per day, column `date_day`, from the date expression `start_date` to `end_date`
    (inclusive). Both expressions may reference the columns of `from_relation` (one row). -#}
{% macro date_spine_rows(start_date, end_date, from_relation) -%}
    {{ return(adapter.dispatch('date_spine_rows', 'kpi_warehouse')(start_date, end_date, from_relation)) }}
{%- endmacro %}

{% macro duckdb__date_spine_rows(start_date, end_date, from_relation) -%}
    select cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date) as date_day
    from {{ from_relation }}
{%- endmacro %}

{% macro spark__date_spine_rows(start_date, end_date, from_relation) -%}
    select explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date_day
    from {{ from_relation }}
{%- endmacro %}

{% macro default__date_spine_rows(start_date, end_date, from_relation) -%}
    {{ exceptions.raise_compiler_error("date_spine_rows is not implemented for adapter " ~ adapter.type() ~ ": add " ~ adapter.type() ~ "__date_spine_rows to macros/compat/dates.sql") }}
{%- endmacro %}


{#- ISO day of week, 1 = Monday … 7 = Sunday. -#}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'kpi_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro duckdb__iso_day_of_week(date_expression) -%}
    cast(isodow({{ date_expression }}) as integer)
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expression) -%}
    cast(weekday({{ date_expression }}) + 1 as integer)
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    cast(extract(isodow from {{ date_expression }}) as integer)
{%- endmacro %}


{#- ISO 8601 week-numbering year and week. -#}
{% macro iso_year(date_expression) -%}
    {{ return(adapter.dispatch('iso_year', 'kpi_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro duckdb__iso_year(date_expression) -%}
    cast(isoyear({{ date_expression }}) as integer)
{%- endmacro %}

{% macro spark__iso_year(date_expression) -%}
    cast(extract(yearofweek from {{ date_expression }}) as integer)
{%- endmacro %}

{% macro default__iso_year(date_expression) -%}
    cast(extract(isoyear from {{ date_expression }}) as integer)
{%- endmacro %}

{% macro iso_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_week', 'kpi_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro duckdb__iso_week(date_expression) -%}
    cast(weekofyear({{ date_expression }}) as integer)
{%- endmacro %}

{% macro spark__iso_week(date_expression) -%}
    cast(weekofyear({{ date_expression }}) as integer)
{%- endmacro %}

{% macro default__iso_week(date_expression) -%}
    cast(extract(week from {{ date_expression }}) as integer)
{%- endmacro %}


{#- Seconds from `start_ts` to `end_ts` (plain timestamps), as a number (null when either is null). -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'kpi_warehouse')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }}))
{%- endmacro %}

{% macro spark__seconds_between(start_ts, end_ts) -%}
    ((unix_micros({{ end_ts }}) - unix_micros({{ start_ts }})) / 1000000.0)
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    {{ dbt.datediff(start_ts, end_ts, 'second') }}
{%- endmacro %}
