{#-
    The trust flag (`is_verified`) of KPI values.

    A value is verified unless a source table that feeds the KPI's fact model has a failed check on a
    business day of the value's period (up to the as-of date): a rejected partition, quarantined rows,
    or staleness. marts/quality/dq_source_problems places every failed source check on the business
    days it can affect (macros/quality/dq_sources.sql says per table how); `kpi_unverified_days_sql()`
    is the one place that maps those days onto the fact models, through the dbt graph.

    Cost: dq_source_problems reads the load log from the dq_load_log table (built once per run), the
    quarantine files only when there are any, and expands problem ranges over dim_date; nothing here
    reads the load log's ~10k files through the staging view again.
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
        {%- elif node_id in graph.nodes and 'calendar' not in (graph.nodes[node_id].fqn or []) -%}
            {#- calendar models only read the facts' date range, not their values -#}
            {%- for dep in graph.nodes[node_id].depends_on.nodes -%}
                {%- do _kpi_collect_sources(dep, found, seen) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- (measure_model, date_day) pairs whose data is not verified, up to the as-of date. -#}
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

    problems as (
        select
            source,
            {{ adapter.quote('table') }} as table_name,
            first_day,
            last_day
        from {{ ref('dq_source_problems') }}
        where first_day is not null
    ),

    dates as (
        select date_day from {{ ref('dim_date') }}
    ),

    as_of as (
        select as_of_date from {{ ref('int_kpi_as_of') }}
    ),

    model_ranges as (
        select distinct
            model_sources.measure_model,
            problems.first_day,
            least(problems.last_day, as_of.as_of_date) as last_day
        from problems
        inner join model_sources
            on problems.source = model_sources.source
            and problems.table_name = model_sources.table_name
        cross join as_of
        where problems.first_day <= as_of.as_of_date
    )

    select distinct
        model_ranges.measure_model,
        dates.date_day
    from model_ranges
    inner join dates
        on dates.date_day between model_ranges.first_day and model_ranges.last_day
{%- endmacro %}
