{#-
    The trust flag (`is_verified`) of KPI values.

    For now a value is verified unless the load log shows a rejected partition or quarantined rows
    in a raw table that feeds the KPI's fact model, on a partition date inside the period (up to the
    as-of date). The data-quality guard refines this; change it here only:
    `kpi_unverified_days_sql()` is the one place that decides which (fact model, day) is unverified.
-#}

{#- Raw source tables upstream of a model, from the dbt graph: [{source, table}] with the load log's
    naming (source name without the `raw_` prefix). -#}
{% macro kpi_model_source_tables(model_name) -%}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- do _kpi_collect_sources('model.' ~ project_name ~ '.' ~ model_name, found, []) -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{% macro _kpi_collect_sources(node_id, found, seen) -%}
    {%- if node_id not in seen -%}
        {%- do seen.append(node_id) -%}
        {%- if node_id.startswith('source.') and node_id in graph.sources -%}
            {%- set s = graph.sources[node_id] -%}
            {%- set src = s.source_name[4:] if s.source_name.startswith('raw_') else s.source_name -%}
            {%- set row = {'source': src, 'table_name': s.name} -%}
            {%- if row not in found -%}{%- do found.append(row) -%}{%- endif -%}
        {%- elif node_id in graph.nodes -%}
            {%- for dep in graph.nodes[node_id].depends_on.nodes -%}
                {%- do _kpi_collect_sources(dep, found, seen) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- (measure_model, date_day) pairs whose data is not verified. -#}
{% macro kpi_unverified_days_sql() -%}
    {%- set catalog = kpi_compiled_catalog() -%}
    {%- set rows = [] -%}
    {%- for pass in catalog['passes'] -%}
        {%- for t in kpi_model_source_tables(pass['model']) -%}
            {%- set r = {'measure_model': pass['model'], 'source': t['source'], 'table_name': t['table_name']} -%}
            {%- if r not in rows -%}{%- do rows.append(r) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    with model_sources as (
        {{ kpi_rows(rows, [('measure_model', 'varchar'), ('source', 'varchar'), ('table_name', 'varchar')]) }}
    ),

    problem_partitions as (
        select
            source_name as source,
            table_name,
            partition_date as date_day
        from {{ ref('stg_lake_meta__load_log') }}
        where status = 'rejected' or coalesce(rows_quarantined, 0) > 0
    )

    select distinct
        model_sources.measure_model,
        problem_partitions.date_day
    from problem_partitions
    inner join model_sources
        on problem_partitions.source = model_sources.source
        and problem_partitions.table_name = model_sources.table_name
{%- endmacro %}
