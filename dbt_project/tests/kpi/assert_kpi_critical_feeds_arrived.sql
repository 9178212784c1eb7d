{#- A KPI the catalog marks `critical: true` must not be published from a dead or starved feed: on
    the as-of date, every event table upstream of its facts must be fresh and have delivered what its
    history says (marts.dq_freshness: not stale, missing or low_volume). A failure blocks publishing;
    other KPIs' feeds only make their values unverified. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set source_tables = dq_source_tables() -%}
{%- set event_tables = [] -%}
{%- for t in source_tables if t['role'] == 'event' -%}{%- do event_tables.append(t['source'] ~ '.' ~ t['table']) -%}{%- endfor -%}
{%- set rows = [] -%}
{%- for v in catalog['versions'] if v.get('is_critical') and v['is_current'] -%}
    {%- for m in v['source_models'] -%}
        {%- for t in kpi_model_source_tables(m) if (t['source'] ~ '.' ~ t['table_name']) in event_tables -%}
            {%- set row = {'kpi_id': v['kpi_id'], 'source': t['source'], 'table_name': t['table_name']} -%}
            {%- if row not in rows -%}{%- do rows.append(row) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endfor -%}
{{ config(tags=['kpi', 'quality']) }}

with critical_feeds as (
    {{ kpi_rows(rows, [('kpi_id', 'string'), ('source', 'string'), ('table_name', 'string')]) }}
),

freshness as (
    select * from {{ ref('dq_freshness') }}
)

select
    critical_feeds.kpi_id,
    freshness.source,
    freshness.{{ adapter.quote('table') }},
    freshness.status,
    freshness.message
from critical_feeds
inner join freshness
    on freshness.source = critical_feeds.source
    and freshness.{{ adapter.quote('table') }} = critical_feeds.table_name
where freshness.status <> 'ok'
