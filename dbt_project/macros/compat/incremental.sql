{#- The incremental facts on Spark's Parquet tables (docs/spark.md, "Incremental facts").

    On DuckDB the facts are delete+insert on their natural key. A Parquet table cannot delete rows, so
    on Spark the facts are partitioned by month (`partition_by`) and use dbt-spark's `insert_overwrite`
    strategy with dynamic partition overwrite; with a `unique_key` this project gives that strategy
    the meaning of delete+insert:

      1. the new rows (the model's incremental select) are written once to a stage table in schema
         `<schema>__incremental`, so every later statement reads the same rows (the select reads the
         fact itself: its watermark, the rows it replaces);
      2. a partition that loses all its rows to other partitions (a corrected order date moving the
         only order of a month) is dropped: dynamic overwrite only replaces the partitions it writes;
      3. every touched partition (one the new rows fall in, or one holding a row they replace) is
         rewritten as its kept rows (key not among the new rows) plus the new rows of that partition.

    The result equals delete+insert by key: rows whose key is among the new rows are replaced by them
    (all of them, duplicates included), every other row stays. Only the touched months are rewritten.
    Without a unique_key or partition_by this is dbt-spark's own statement, unchanged.

    This overrides dbt-spark's `get_insert_overwrite_sql` (macros/materializations/incremental/
    strategies.sql in dbt-spark 1.11), which its incremental materialization calls. -#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) %}
  {%- set dest_columns = adapter.get_columns_in_relation(target_relation) -%}
  {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
  {%- set unique_key = config.get('unique_key') -%}
  {%- set partition_by = config.get('partition_by') -%}
  {%- if unique_key and partition_by and not existing_relation.is_iceberg -%}
    {{ kpi_replace_partitions_by_key(source_relation, target_relation, unique_key, partition_by, dest_cols_csv) }}
  {%- elif existing_relation.is_iceberg -%}
    insert overwrite {{ target_relation }}
    select {{ dest_cols_csv }} from {{ source_relation }}
  {%- else -%}
    insert overwrite table {{ target_relation }}
    {{ partition_cols(label="partition") }}
    select {{ dest_cols_csv }} from {{ source_relation }}
  {%- endif -%}
{% endmacro %}


{% macro kpi_replace_partitions_by_key(source_relation, target_relation, unique_key, partition_by, dest_cols_csv) %}
  {%- set keys = [unique_key] if unique_key is string else unique_key -%}
  {%- set parts = [partition_by] if partition_by is string else partition_by -%}
  {%- set stage = target_relation.incorporate(path={"schema": target_relation.schema ~ "__incremental"}) -%}
  {%- set part_cols = kpi_columns_of(none, parts) -%}

  {#- 1. the new rows, once -#}
  {%- do run_query("create schema if not exists " ~ adapter.quote(stage.schema)) -%}
  {%- do run_query("drop table if exists " ~ stage) -%}
  {%- do run_query("create table " ~ stage ~ " using parquet as select * from " ~ source_relation) -%}

  {%- set touched -%}
    select {{ part_cols }} from {{ stage }}
    union
    select {{ kpi_columns_of('old', parts) }} from {{ target_relation }} as old
    left semi join {{ stage }} as new on {{ kpi_columns_match('new', 'old', keys, '=') }}
  {%- endset -%}
  {%- set kept -%}
    select old.* from {{ target_relation }} as old
    left semi join ({{ touched }}) as touched on {{ kpi_columns_match('touched', 'old', parts, '<=>') }}
    left anti join {{ stage }} as new on {{ kpi_columns_match('new', 'old', keys, '=') }}
  {%- endset -%}

  {#- 2. partitions left empty: their rows replaced by new rows of other partitions, nothing else kept -#}
  {%- set vacated_sql -%}
    select distinct {{ kpi_columns_of('old', parts) }} from {{ target_relation }} as old
    left semi join {{ stage }} as new on {{ kpi_columns_match('new', 'old', keys, '=') }}
    left anti join (select distinct {{ part_cols }} from {{ stage }}) as receiving
        on {{ kpi_columns_match('receiving', 'old', parts, '<=>') }}
    left anti join (select distinct {{ part_cols }} from ({{ kept }}) as kept) as keeping
        on {{ kpi_columns_match('keeping', 'old', parts, '<=>') }}
  {%- endset -%}
  {%- for row in run_query(vacated_sql) -%}
    {%- set spec = [] -%}
    {%- for p in parts -%}
      {%- if row[loop.index0] is none -%}
        {{ exceptions.raise_compiler_error(model.unique_id ~ ": partition column " ~ p ~ " is null in a row the new rows replace; a null partition cannot be dropped (the column must not be null)") }}
      {%- endif -%}
      {%- do spec.append(adapter.quote(p) ~ " = '" ~ (row[loop.index0] | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") -%}
    {%- endfor -%}
    {%- do run_query("alter table " ~ target_relation ~ " drop if exists partition (" ~ spec | join(', ') ~ ")") -%}
  {%- endfor -%}

  {#- 3. the touched partitions: their kept rows and the new rows -#}
    insert overwrite table {{ target_relation }}
    {{ partition_cols(label="partition") }}
    select {{ dest_cols_csv }} from {{ stage }}
    union all
    select {{ dest_cols_csv }} from ({{ kept }}) as kept
{% endmacro %}


{% macro kpi_columns_of(alias, columns) -%}
  {%- for c in columns -%}{{ alias ~ '.' if alias }}{{ adapter.quote(c) }}{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}


{% macro kpi_columns_match(left, right, columns, op) -%}
  {%- for c in columns -%}
    {{ left }}.{{ adapter.quote(c) }} {{ op }} {{ right }}.{{ adapter.quote(c) }}{{ " and " if not loop.last }}
  {%- endfor -%}
{%- endmacro %}


{#- A post-hook of every model: after each build of a partitioned Spark table, an empty Parquet file
    with the table's columns in <table folder>/_schema/. A partitioned table without rows has no
    file at all, and pipelines/engines/spark.py (the copy into DuckDB, `kpi compare`) reads the
    columns from this one then. Spark ignores folders starting with `_`. Nothing elsewhere. -#}
{% macro kpi_spark_schema_file() %}
  {%- if execute and target.type == 'spark' and config.get('partition_by') and model.config.materialized in ('table', 'incremental') -%}
    {%- set found = namespace(location=none) -%}
    {%- for row in run_query("describe table extended " ~ this) -%}
      {%- if row[0] == 'Location' -%}{%- set found.location = row[1] -%}{%- endif -%}
    {%- endfor -%}
    {%- if found.location is none -%}
      {{ exceptions.raise_compiler_error(model.unique_id ~ ": Spark does not say where table " ~ this ~ " lies (describe table extended has no Location)") }}
    {%- endif -%}
    insert overwrite directory '{{ found.location | replace("'", "\\'") }}/_schema' using parquet
    select * from {{ this }} where false
  {%- endif -%}
{% endmacro %}
