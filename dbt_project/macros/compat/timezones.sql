{#-
    Time-zone handling. The raw lake stores every timestamp in UTC (TIMESTAMP WITH TIME ZONE in
    Parquet); the warehouse keeps UTC instants as plain TIMESTAMP columns named *_utc and derives
    business dates in the company timezone (env KPI_TIMEZONE, default Asia/Shanghai).
    Adapter-specific SQL lives in the <adapter>__ implementations (adapter.dispatch); DuckDB is the
    one we run, Spark and Trino are sketched for a later port.
-#}

{#- The company timezone: the one setting pipelines/settings.py passes as KPI_TIMEZONE. -#}
{% macro company_timezone() -%}
    {{ return(env_var('KPI_TIMEZONE', 'Asia/Shanghai')) }}
{%- endmacro %}

{#- The company timezone as a SQL string literal. -#}
{% macro company_timezone_literal() -%}
    '{{ company_timezone() | replace("'", "''") }}'
{%- endmacro %}


{#- A raw UTC instant (TIMESTAMP WITH TIME ZONE) as a plain TIMESTAMP holding UTC wall-clock time. -#}
{% macro to_utc(expression) -%}
    {{ return(adapter.dispatch('to_utc', 'kpi_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__to_utc(expression) -%}
    timezone('UTC', cast({{ expression }} as timestamptz))
{%- endmacro %}

{% macro spark__to_utc(expression) -%}
    {#- Spark timestamps are instants; with spark.sql.session.timeZone = UTC they are UTC wall-clock. -#}
    cast({{ expression }} as timestamp)
{%- endmacro %}

{% macro trino__to_utc(expression) -%}
    cast(at_timezone(cast({{ expression }} as timestamp with time zone), 'UTC') as timestamp)
{%- endmacro %}

{% macro default__to_utc(expression) -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- Local wall-clock time (company timezone) of a plain UTC TIMESTAMP (as returned by to_utc). -#}
{% macro utc_to_local(expression) -%}
    {{ return(adapter.dispatch('utc_to_local', 'kpi_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__utc_to_local(expression) -%}
    {#- timezone('UTC', plain) reads the wall-clock as UTC (an instant); timezone(tz, instant) gives
        the wall-clock in tz. Independent of the session's TimeZone setting. -#}
    timezone({{ company_timezone_literal() }}, timezone('UTC', cast({{ expression }} as timestamp)))
{%- endmacro %}

{% macro spark__utc_to_local(expression) -%}
    from_utc_timestamp({{ expression }}, {{ company_timezone_literal() }})
{%- endmacro %}

{% macro trino__utc_to_local(expression) -%}
    cast(at_timezone(with_timezone(cast({{ expression }} as timestamp), 'UTC'), {{ company_timezone_literal() }}) as timestamp)
{%- endmacro %}

{% macro default__utc_to_local(expression) -%}
    {{ exceptions.raise_compiler_error("utc_to_local is not implemented for adapter " ~ adapter.type() ~ ": add " ~ adapter.type() ~ "__utc_to_local to macros/compat/timezones.sql") }}
{%- endmacro %}


{#- The local business date (company timezone) of a plain UTC TIMESTAMP. -#}
{% macro utc_to_local_date(expression) -%}
    cast({{ utc_to_local(expression) }} as date)
{%- endmacro %}
