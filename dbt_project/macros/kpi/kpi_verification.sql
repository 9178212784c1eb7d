{#-
    The trust flag (`is_verified`) of KPI values: which source tables feed a KPI's fact model.

    int_dq_problem_rows places every unresolved source problem on the business days and org unit it
    can affect (macros/quality/dq_sources.sql says per table how); int_kpi_problem_effects maps those
    onto the KPI versions whose fact models read the table — found through the dbt graph here — and
    int_kpi_actuals_verified onto the values (docs/warehouse.md "The trust flag").
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
