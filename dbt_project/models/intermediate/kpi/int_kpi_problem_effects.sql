{#- What each unresolved source problem (int_dq_problem_rows) can do to each KPI version's measure:
    one row per (KPI version, measure part, problem row) for the problems in the source tables upstream
    of the KPI's fact model (through the dbt graph; derived KPIs: the facts of the KPIs they use),
    with the days and org unit it can affect and `bound` — the most it can move that part of the
    value (null = unknown):
      - a count (and a count_distinct, and ratio parts that count): one quarantined row moves it by at
        most one; a rejected partition or a stale table by an unknown number;
      - a sum of a column (or of `a ± b` columns): the row's bound for that column from its raw values
        (macros/quality/dq_sources.sql `bounds`); unknown without one;
      - percentiles and derived KPIs: unknown (the value is unverified whenever its inputs have a problem).
    int_kpi_actuals_verified adds the effects up per value. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set tables = dq_source_tables() -%}
{%- set bounds_of = {} -%}
{%- for t in tables -%}{%- do bounds_of.update({t['source'] ~ '.' ~ t['table']: t.get('bounds', {})}) -%}{%- endfor -%}
{%- set parts = [] -%}
{%- for p in catalog['passes'] -%}
    {%- for a in p['additive'] -%}
        {%- do parts.append({'kpi_id': a['kpi_id'], 'kpi_version': a['version'], 'part': a['part'], 'agg': a['agg'],
                             'expr': a['expr'], 'model': p['model']}) -%}
    {%- endfor -%}
    {%- for a in p['nonadditive'] -%}
        {%- do parts.append({'kpi_id': a['kpi_id'], 'kpi_version': a['version'], 'part': 'value',
                             'agg': 'count' if a['agg'] == 'count_distinct' else 'unknown', 'expr': a['expr'],
                             'model': p['model']}) -%}
    {%- endfor -%}
{%- endfor -%}
{%- for v in catalog['versions'] if v['measure_type'] == 'derived' -%}
    {%- for m in v['source_models'] -%}
        {%- do parts.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'part': 'value', 'agg': 'unknown',
                             'expr': none, 'model': m}) -%}
    {%- endfor -%}
{%- endfor -%}
{#- per (part, upstream table): how the bound is found -#}
{%- set part_tables = [] -%}
{%- set sum_bounds = [] -%}
{%- for part in parts -%}
    {%- for t in kpi_model_source_tables(part['model']) -%}
        {%- set name = t['source'] ~ '.' ~ t['table_name'] -%}
        {%- set kind = part['agg'] if part['agg'] in ('count', 'unknown') else 'sum' -%}
        {%- if kind == 'sum' -%}
            {#- a column, or columns joined by + / -: each term's bound adds up -#}
            {%- set terms = modules.re.split('[ ]+[-+][ ]+', part['expr'] or '') -%}
            {%- set cols = [] -%}
            {%- for term in terms -%}
                {%- set m = modules.re.fullmatch('f[.]"?([a-z_][a-z0-9_]*)"?', term.strip()) -%}
                {%- if m and m.group(1) in bounds_of.get(name, {}) -%}{%- do cols.append(m.group(1)) -%}{%- endif -%}
            {%- endfor -%}
            {%- if terms | length > 0 and cols | length == terms | length -%}
                {%- set pieces = [] -%}
                {%- for c in cols -%}{%- do pieces.append('(' ~ dq_bound_sql(bounds_of[name][c]) ~ ')') -%}{%- endfor -%}
                {%- do sum_bounds.append({'kpi_id': part['kpi_id'], 'kpi_version': part['kpi_version'], 'part': part['part'],
                                          'source': t['source'], 'table_name': t['table_name'],
                                          'sql': pieces | join(' + ')}) -%}
            {%- else -%}
                {%- set kind = 'unknown' -%}
            {%- endif -%}
        {%- endif -%}
        {%- set row = {'kpi_id': part['kpi_id'], 'kpi_version': part['kpi_version'], 'part': part['part'],
                       'bound_kind': kind, 'source': t['source'], 'table_name': t['table_name']} -%}
        {%- if row not in part_tables -%}{%- do part_tables.append(row) -%}{%- endif -%}
    {%- endfor -%}
{%- endfor -%}

with

problems as (
    select * from {{ ref('int_dq_problem_rows') }}
    where first_day is not null
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

part_tables as (
    {{ kpi_rows(part_tables, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('part', 'string'),
                              ('bound_kind', 'string'), ('source', 'string'), ('table_name', 'string')]) }}
),

final as (
    select
        part_tables.kpi_id,
        part_tables.kpi_version,
        part_tables.part,
        problems.problem_id,
        problems.source,
        problems.table_name,
        problems.problem,
        problems.partition_date,
        problems.first_day,
        least(problems.last_day, as_of.as_of_date) as last_day,
        problems.org_unit_id,
        problems.rows_affected,
        cast(case
            when part_tables.bound_kind = 'count' then problems.rows_affected
            when part_tables.bound_kind = 'sum' and problems._raw is not null then
                case
                    {%- for b in sum_bounds %}
                    when part_tables.kpi_id = '{{ b['kpi_id'] }}' and part_tables.kpi_version = {{ b['kpi_version'] }}
                        and part_tables.part = '{{ b['part'] }}' and problems.source = '{{ b['source'] }}'
                        and problems.table_name = '{{ b['table_name'] }}' then {{ b['sql'] }}
                    {%- endfor %}
                end
        end as double) as bound,
        problems.message
    from problems
    inner join part_tables
        on part_tables.source = problems.source
        and part_tables.table_name = problems.table_name
    cross join as_of
    where problems.first_day <= as_of.as_of_date
)

select * from final
