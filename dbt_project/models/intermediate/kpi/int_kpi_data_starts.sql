{#- When each KPI version's inputs start: before that day a period has no data (no actual, never a
    verified 0). Per fact model, the earlier of
      - the first business date in the fact (its time column), and
      - the first loaded partition of the event tables that feed it (the day the feed began: a day
        with an empty file is a day with data, zero events);
    a fact with no rows and no loaded partition has no data start (every period is `no_data`).
    A derived KPI's inputs start when all the KPIs in its formula have data: the latest of their starts.
    Dimension-like sources (org units, employees, assignments) do not start a fact: they describe it. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set source_tables = dq_source_tables() -%}
{%- set event_tables = [] -%}
{%- for t in source_tables if t['role'] == 'event' -%}{%- do event_tables.append(t['source'] ~ '.' ~ t['table']) -%}{%- endfor -%}
{%- set models = [] -%}
{%- set model_tables = [] -%}
{%- for p in catalog['passes'] -%}
    {%- set key = {'model': p['model'], 'time_column': p['time_column']} -%}
    {%- if key not in models -%}{%- do models.append(key) -%}{%- endif -%}
    {%- for t in kpi_model_source_tables(p['model']) -%}
        {%- set row = {'measure_model': p['model'], 'source': t['source'], 'table_name': t['table_name']} -%}
        {%- if (t['source'] ~ '.' ~ t['table_name']) in event_tables and row not in model_tables -%}
            {%- do model_tables.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endfor -%}
{#- base versions and, for derived versions, every base KPI they reach through their formulas -#}
{%- set by_kpi = {} -%}
{%- for v in catalog['versions'] -%}
    {%- if v['kpi_id'] not in by_kpi -%}{%- do by_kpi.update({v['kpi_id']: []}) -%}{%- endif -%}
    {%- do by_kpi[v['kpi_id']].append(v) -%}
{%- endfor -%}
{%- set base_rows = [] -%}
{%- set derived_rows = [] -%}
{%- for v in catalog['versions'] -%}
    {%- if v['measure_type'] != 'derived' -%}
        {%- do base_rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'measure_model': v['measure_model'],
                                  'time_column': v['time_column']}) -%}
    {%- else -%}
        {%- set reached = [] -%}
        {%- set todo = v['derived_refs'] | list -%}
        {%- for _ in range(catalog['derived_levels'] + 1) -%}
            {%- for r in todo if r not in reached -%}
                {%- do reached.append(r) -%}
                {%- for rv in by_kpi.get(r, []) -%}{%- for rr in rv['derived_refs'] -%}{%- do todo.append(rr) -%}{%- endfor -%}{%- endfor -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for r in reached -%}
            {%- for rv in by_kpi.get(r, []) if rv['measure_type'] != 'derived' -%}
                {%- do derived_rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'],
                                            'measure_model': rv['measure_model'], 'time_column': rv['time_column']}) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{%- endfor -%}
{%- set row_columns = [('kpi_id', 'string'), ('kpi_version', 'integer'), ('measure_model', 'string'),
                       ('time_column', 'string')] -%}

with

fact_starts as (
    {%- if models | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as measure_model, cast(null as {{ dbt.type_string() }}) as time_column,
           cast(null as date) as first_fact_date
    where 1 = 0
    {%- endif %}
    {%- for m in models %}
    select '{{ m['model'] }}' as measure_model, '{{ m['time_column'] }}' as time_column,
           cast(min({{ adapter.quote(m['time_column']) }}) as date) as first_fact_date
    from {{ ref(m['model']) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

model_tables as (
    {{ kpi_rows(model_tables, [('measure_model', 'string'), ('source', 'string'), ('table_name', 'string')]) }}
),

load_log as (
    select * from {{ ref('dq_load_log') }}
),

feed_starts as (
    select
        model_tables.measure_model,
        min(load_log.partition_date) as first_partition
    from model_tables
    inner join load_log
        on load_log.source = model_tables.source
        and load_log.{{ adapter.quote('table') }} = model_tables.table_name
    where load_log.status <> 'rejected' and load_log.partition_date is not null
    group by model_tables.measure_model
),

model_starts as (
    select
        fact_starts.measure_model,
        fact_starts.time_column,
        case
            when fact_starts.first_fact_date is null then feed_starts.first_partition
            when feed_starts.first_partition is null then fact_starts.first_fact_date
            else least(fact_starts.first_fact_date, feed_starts.first_partition)
        end as data_start
    from fact_starts
    left join feed_starts on feed_starts.measure_model = fact_starts.measure_model
),

base_versions as (
    {{ kpi_rows(base_rows, row_columns) }}
),

derived_inputs as (
    {{ kpi_rows(derived_rows, row_columns) }}
),

base_starts as (
    select
        base_versions.kpi_id,
        base_versions.kpi_version,
        model_starts.data_start,
        base_versions.measure_model as start_model
    from base_versions
    left join model_starts
        on model_starts.measure_model = base_versions.measure_model
        and model_starts.time_column = base_versions.time_column
),

derived_starts as (
    -- the latest start among the inputs (null when any input has no data at all)
    select
        derived_inputs.kpi_id,
        derived_inputs.kpi_version,
        case when count(*) = count(model_starts.data_start) then max(model_starts.data_start) end as data_start,
        cast(null as {{ dbt.type_string() }}) as start_model
    from derived_inputs
    left join model_starts
        on model_starts.measure_model = derived_inputs.measure_model
        and model_starts.time_column = derived_inputs.time_column
    group by derived_inputs.kpi_id, derived_inputs.kpi_version
),

final as (
    select kpi_id, kpi_version, data_start, start_model from base_starts
    union all
    select kpi_id, kpi_version, data_start, start_model from derived_starts
)

select * from final
