{#- The raw lake as dbt sources. DuckDB reads each source's files in place through its
    `external_location` (dbt-duckdb). Spark gets a view per source table over the same files, created
    at the start of every invocation (on-run-start), so a new partition or a new column of a later
    partition is seen by the next build: `lake_path` (the source's meta, relative to KPI_LAKE_DIR,
    a local path or an object-store URI) names its folder; `date=` folders are its partition column. -#}

{% macro register_lake() -%}
    {{ return(adapter.dispatch('register_lake', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__register_lake() -%}
    {#- nothing to do: dbt-duckdb reads `external_location` -#}
{%- endmacro %}

{% macro default__register_lake() -%}
    {{ exceptions.raise_compiler_error("register_lake is not implemented for adapter " ~ adapter.type() ~ ": add " ~ adapter.type() ~ "__register_lake to macros/compat/lake.sql") }}
{%- endmacro %}

{#- The lake's root (no trailing slash), as the pipeline passes it. -#}
{% macro lake_root() -%}
    {{ return(env_var('KPI_LAKE_DIR', '../data/lake').rstrip('/')) }}
{%- endmacro %}

{% macro spark__register_lake() -%}
    {%- if execute -%}
    {%- set quarantine = [] -%}
    {%- for schema in graph.sources.values() | map(attribute='source_name') | unique | sort -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
    {%- endfor -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set lake_path = source.meta.get('lake_path') or source.source_meta.get('lake_path') -%}
        {%- if lake_path and source.source_name == 'lake_quarantine' -%}
            {%- do quarantine.append((source, lake_path)) -%}
        {%- elif lake_path -%}
            {%- do spark_register_lake_table(source, lake_path, 'select * from ') -%}
        {%- endif -%}
    {%- endfor -%}
    {#- Spark cannot read a folder pattern that matches no file, and a lake without quarantined rows
        has no quarantine file: the view exists only when the load log says the latest load of some
        partition quarantined rows or was rejected (lake_has_quarantine() tells the models). -#}
    {%- for source, lake_path in quarantine -%}
        {%- do run_query('drop view if exists ' ~ source.source_name ~ '.' ~ source.name) -%}
        {%- set found = run_query(spark_quarantine_exists_sql()) -%}
        {%- if found.columns[0].values()[0] > 0 -%}
            {#- the file names say which source table a quarantined row came from, and its partition: the
                files are read by name (several tables' `date=` folders under one root are "conflicting
                directory structures" to Spark's partition discovery) -#}
            {%- do spark_register_lake_table(source, lake_path,
                "select *, _metadata.file_path as filename, regexp_extract(_metadata.file_path, '/date=([^/]*)/', 1) as `date` from ") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro spark_register_lake_table(source, lake_path, select) -%}
    {%- set location = lake_root() ~ '/' ~ lake_path.replace('{name}', source.name) -%}
    {%- do run_query('create or replace view ' ~ source.source_name ~ '.' ~ source.name ~ ' as ' ~ select
                     ~ 'parquet.`' ~ location | replace('`', '``') ~ '`') -%}
{%- endmacro %}

{% macro spark_quarantine_exists_sql() -%}
    select count(*) from (
        select status, rows_quarantined,
               row_number() over (partition by source, `table`, partition_date order by loaded_at desc) as recency
        from lake_meta.load_log
    ) as latest
    where recency = 1 and (status = 'rejected' or rows_quarantined > 0)
{%- endmacro %}


{#- Whether the lake holds a quarantine file (dq_source_problems reads none otherwise). -#}
{% macro lake_has_quarantine() -%}
    {{ return(adapter.dispatch('lake_has_quarantine', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__lake_has_quarantine() -%}
    {%- set quarantine_glob = lake_root() ~ '/quarantine/*/*/date=*/*.parquet' -%}
    {%- set found = run_query("select count(*) from glob('" ~ (quarantine_glob | replace("'", "''")) ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro spark__lake_has_quarantine() -%}
    {#- the view register_lake created when there is one -#}
    {{ return(adapter.get_relation(database=none, schema='lake_quarantine', identifier='rows') is not none) }}
{%- endmacro %}
