{#-
    marts.dq_check_results: the outcome of every check of every dbt invocation (docs/warehouse.md
    "Data-quality marts"), written by the on-run-end hook `dq_record_check_results(results)`
    (dbt_project.yml), so a build whose tests fail records them too.

    How the table survives: the model `dq_check_results` (models/marts/quality) is incremental
    (append) with `full_refresh: false` and selects no rows — building it creates the table once and
    never empties it, not even with `--full-refresh`. The hook creates the same table if it does not
    exist yet (a build that did not select the model), from the same column list
    (`dq_check_results_columns()`), then appends one row per result:

    - every dbt test (data and unit), model, seed and snapshot of the invocation: status passed | failed | warn |
      skipped; blocking = a test of severity error, or a node whose failure stops what is downstream
      (models, seeds, snapshots); layer from the tested node (source | staging | marts | kpi);
      asset = the Dagster asset key (`schema/name`, sources `source_name/table`);
    - the source-side checks, when this invocation built their marts: per raw table from
      `dq_load_log` — `batches_accepted` (failed when the latest load of a partition was rejected),
      `reconciliation` (rows read = loaded + quarantined; blocking) and `quarantine` (warn when rows
      were quarantined); from `dq_freshness` — `freshness` (failed when stale, missing or low in
      volume) and `data_horizon` (failed when the run date is past the facts' latest business date).

    `run_id` is dbt's invocation id; `dagster_run_id` the var `dagster_run_id` when the run passes it.
    Values reach SQL as escaped string literals (dbt.escape_single_quotes); the relation names come
    from the project's graph.
-#}

{% macro dq_check_results_columns() -%}
    {{ return([
        ('run_id', 'string'),
        ('checked_at', 'timestamp'),
        ('layer', 'string'),
        ('asset', 'string'),
        ('check_name', 'string'),
        ('status', 'string'),
        ('blocking', 'boolean'),
        ('severity', 'string'),
        ('message', 'string'),
        ('failing_rows', 'bigint'),
        ('tags', 'string'),
        ('resource_type', 'string'),
        ('unique_id', 'string'),
        ('dagster_run_id', 'string'),
        ('dbt_command', 'string'),
        ('execution_seconds', 'double'),
    ]) }}
{%- endmacro %}


{#- The relation of a model of this project by name (from the graph: its configured schema/alias). -#}
{% macro dq_model_relation(name, default_schema='marts') -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
    {%- if node is not none -%}
        {{ return(api.Relation.create(database=node.database, schema=node.schema,
                                      identifier=node.alias or node.name)) }}
    {%- endif -%}
    {{ return(api.Relation.create(database=target.database, schema=default_schema, identifier=name)) }}
{%- endmacro %}


{#- The hook's table, created if it does not exist yet; a table created by an older version of the
    column list gains the new columns. -#}
{% macro dq_create_check_results_table(relation, columns) -%}
    {{ return(adapter.dispatch('dq_create_check_results_table', 'kpi_warehouse')(relation, columns)) }}
{%- endmacro %}

{% macro duckdb__dq_create_check_results_table(relation, columns) -%}
    {%- call statement('dq_check_results_table', auto_begin=False) -%}
        create schema if not exists {{ relation.without_identifier() }};
        create table if not exists {{ relation }} (
            {%- for name, type in columns %}
            {{ name }} {{ type }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        );
        {%- for name, type in columns %}
        alter table {{ relation }} add column if not exists {{ name }} {{ type }};
        {%- endfor %}
    {%- endcall -%}
{%- endmacro %}

{% macro spark__dq_create_check_results_table(relation, columns) -%}
    {#- one statement per call; Parquet, like every table of the Spark target -#}
    {%- do run_query('create schema if not exists ' ~ relation.schema) -%}
    {%- set ddl -%}
        create table if not exists {{ relation }} (
            {%- for name, type in columns %}
            {{ name }} {{ type }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ) using parquet
    {%- endset -%}
    {%- do run_query(ddl) -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for name, type in columns if name | lower not in existing -%}
        {%- do missing.append(name ~ ' ' ~ type) -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- do run_query('alter table ' ~ relation ~ ' add columns (' ~ missing | join(', ') ~ ')') -%}
    {%- endif -%}
{%- endmacro %}


{% macro dq_sql_string(value, max_length=2000) -%}
    {%- if value is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        {%- set text = value | string -%}
        {%- if text | length > max_length -%}{%- set text = text[:max_length - 1] ~ '…' -%}{%- endif -%}
        '{{ dbt.escape_single_quotes(text) }}'
    {%- endif -%}
{%- endmacro %}


{#- The layer of a node (the tested node, for a test): source | staging | marts | kpi. -#}
{% macro dq_node_layer(node) -%}
    {%- if node is none -%}{{ return('marts') }}{%- endif -%}
    {%- if node.resource_type == 'source' -%}{{ return('source') }}{%- endif -%}
    {%- set tags = node.tags or [] -%}
    {%- set fqn = node.fqn or [] -%}
    {%- if 'kpi' in tags or 'kpi' in fqn or 'analytics' in fqn -%}{{ return('kpi') }}{%- endif -%}
    {%- if 'staging' in fqn or node.resource_type == 'seed' -%}{{ return('staging') }}{%- endif -%}
    {{ return('marts') }}
{%- endmacro %}


{#- The Dagster asset key of a node, as a string (`schema/name`; sources `source_name/table`). -#}
{% macro dq_node_asset(node) -%}
    {%- if node is none -%}{{ return(none) }}{%- endif -%}
    {%- if node.resource_type == 'source' -%}{{ return(node.source_name ~ '/' ~ node.name) }}{%- endif -%}
    {{ return(node.schema ~ '/' ~ (node.alias or node.name)) }}
{%- endmacro %}


{#- The node a test checks: its attached node, else the first model / source / seed / snapshot it reads. -#}
{% macro dq_tested_node(test_node) -%}
    {%- set candidates = [] -%}
    {%- if test_node.attached_node -%}{%- do candidates.append(test_node.attached_node) -%}{%- endif -%}
    {%- for dep in test_node.depends_on.nodes -%}{%- do candidates.append(dep) -%}{%- endfor -%}
    {%- for unique_id in candidates -%}
        {%- if unique_id in graph.nodes -%}{{ return(graph.nodes[unique_id]) }}{%- endif -%}
        {%- if unique_id in graph.sources -%}{{ return(graph.sources[unique_id]) }}{%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{% macro dq_result_status(resource_type, status) -%}
    {%- set s = status | string | lower -%}
    {%- if s in ('pass', 'success') -%}{{ return('passed') }}
    {%- elif s == 'warn' -%}{{ return('warn') }}
    {%- elif s in ('fail', 'error', 'runtime error') -%}{{ return('failed') }}
    {%- else -%}{{ return('skipped') }}
    {%- endif -%}
{%- endmacro %}


{#- on-run-end: record every result of this invocation (see the header). -#}
{% macro dq_record_check_results(results) -%}
    {%- if not execute or flags.WHICH not in ('build', 'run', 'test', 'seed', 'snapshot') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation = dq_model_relation('dq_check_results') -%}
    {%- set columns = dq_check_results_columns() -%}
    {%- set run_id = invocation_id -%}
    {%- set dagster_run_id = var('dagster_run_id', none) -%}
    {%- set checked_at = modules.datetime.datetime.now(modules.pytz.utc).strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- set common -%}
        '{{ run_id }}', cast('{{ checked_at }}' as timestamp)
    {%- endset -%}

    {%- do dq_create_check_results_table(relation, columns) -%}

    {%- set rows = [] -%}
    {%- set built = [] -%}
    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- if node.resource_type in ('test', 'unit_test', 'model', 'seed', 'snapshot') -%}
            {%- set status = dq_result_status(node.resource_type, result.status) -%}
            {%- if node.resource_type in ('test', 'unit_test') -%}
                {%- set target_node = dq_tested_node(node) -%}
                {%- set severity = (node.config.severity or 'error') | string | lower -%}
                {%- set blocking = severity == 'error' -%}
                {%- set check_name = node.name -%}
                {%- set failing = result.failures -%}
            {%- else -%}
                {%- set target_node = node -%}
                {%- set severity = 'error' -%}
                {%- set blocking = true -%}
                {%- set check_name = node.resource_type -%}
                {%- set failing = none -%}
                {%- if status == 'passed' -%}{%- do built.append(node.name) -%}{%- endif -%}
            {%- endif -%}
            {%- set row -%}
                ({{ common }}, '{{ dq_node_layer(target_node) }}', {{ dq_sql_string(dq_node_asset(target_node)) }},
                 {{ dq_sql_string(check_name) }}, '{{ status }}', {{ 'true' if blocking else 'false' }},
                 '{{ severity }}', {{ dq_sql_string(result.message) }},
                 {% if failing is number %}{{ failing }}{% else %}null{% endif %},
                 {{ dq_sql_string((node.tags or []) | join(',')) }}, '{{ node.resource_type }}',
                 {{ dq_sql_string(node.unique_id) }}, {{ dq_sql_string(dagster_run_id) }}, '{{ flags.WHICH }}',
                 {% if result.execution_time is number %}{{ result.execution_time }}{% else %}null{% endif %})
            {%- endset -%}
            {%- do rows.append(row) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if rows | length > 0 -%}
        {%- call statement('dq_check_results_nodes', auto_begin=False) -%}
            insert into {{ relation }} ({% for name, _ in columns %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %})
            values
            {{ rows | join(',\n') }}
        {%- endcall -%}
    {%- endif -%}

    {%- if 'dq_load_log' in built -%}
        {%- set load_log = dq_model_relation('dq_load_log') -%}
        {%- call statement('dq_check_results_load_log', auto_begin=False) -%}
            insert into {{ relation }} ({% for name, _ in columns %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %})
            with per_table as (
                select
                    source,
                    {{ adapter.quote('table') }} as table_name,
                    count(*) as partitions,
                    count(case when status = 'rejected' then 1 end) as rejected,
                    {{ ordered_string_agg("case when status = 'rejected' then coalesce(cast(partition_date as " ~ dbt.type_string()
                                          ~ "), 'unknown') || ': ' || coalesce(message, '') end", "'; '", 'partition_date') }} as rejected_messages,
                    count(case when rows_read <> coalesce(rows_loaded, 0) + coalesce(rows_quarantined, 0) then 1 end) as unbalanced,
                    coalesce(sum(rows_read), 0) as rows_read,
                    coalesce(sum(rows_loaded), 0) as rows_loaded,
                    coalesce(sum(rows_quarantined), 0) as rows_quarantined,
                    count(case when rows_quarantined > 0 then 1 end) as quarantine_partitions
                from {{ load_log }}
                group by source, {{ adapter.quote('table') }}
            ),
            checks as (
                select source, table_name, 'batches_accepted' as check_name,
                       case when rejected > 0 then 'failed' else 'passed' end as status,
                       false as blocking, 'warn' as severity,
                       case when rejected > 0 then left(cast(rejected as {{ dbt.type_string() }}) || ' of ' || cast(partitions as {{ dbt.type_string() }})
                            || ' partition(s) rejected: ' || rejected_messages, 2000)
                            else cast(partitions as {{ dbt.type_string() }}) || ' partition(s), none rejected' end as message,
                       rejected as failing_rows
                from per_table
                union all
                select source, table_name, 'reconciliation',
                       case when unbalanced > 0 then 'failed' else 'passed' end,
                       true, 'error',
                       'rows read ' || cast(rows_read as {{ dbt.type_string() }}) || ' = loaded ' || cast(rows_loaded as {{ dbt.type_string() }})
                       || ' + quarantined ' || cast(rows_quarantined as {{ dbt.type_string() }})
                       || case when unbalanced > 0 then '; ' || cast(unbalanced as {{ dbt.type_string() }}) || ' partition(s) do not add up'
                               else '' end,
                       unbalanced
                from per_table
                union all
                select source, table_name, 'quarantine',
                       case when rows_quarantined > 0 then 'warn' else 'passed' end,
                       false, 'warn',
                       cast(rows_quarantined as {{ dbt.type_string() }}) || ' row(s) quarantined in '
                       || cast(quarantine_partitions as {{ dbt.type_string() }}) || ' partition(s)',
                       rows_quarantined
                from per_table
            )
            select {{ common }}, 'source', 'raw_' || source || '/' || table_name, check_name, status, blocking,
                   severity, message, failing_rows, 'source', 'load_log', null, {{ dq_sql_string(dagster_run_id) }},
                   '{{ flags.WHICH }}', null
            from checks
        {%- endcall -%}
    {%- endif -%}

    {%- if 'dq_freshness' in built -%}
        {%- set freshness = dq_model_relation('dq_freshness') -%}
        {%- call statement('dq_check_results_freshness', auto_begin=False) -%}
            insert into {{ relation }} ({% for name, _ in columns %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %})
            select {{ common }}, 'source', 'raw_' || source || '/' || {{ adapter.quote('table') }}, 'freshness',
                   case when status <> 'ok' then 'failed' else 'passed' end, false, 'warn',
                   rule || ': ' || message, null, 'source', 'dq_freshness', null,
                   {{ dq_sql_string(dagster_run_id) }}, '{{ flags.WHICH }}', null
            from {{ freshness }}
        {%- endcall -%}
        {#- a run for a date past the data says so: the facts' latest business date (of event facts) against the run date -#}
        {%- set run_date = var('run_date', none) -%}
        {%- if run_date -%}
            {%- set measures = dq_model_relation('int_kpi_measures_daily', 'intermediate') -%}
            {%- call statement('dq_check_results_horizon', auto_begin=False) -%}
                insert into {{ relation }} ({% for name, _ in columns %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %})
                select {{ common }}, 'source', 'dq_freshness', 'data_horizon',
                       case when latest is null or latest < cast('{{ run_date }}' as date) - 1 then 'failed' else 'passed' end,
                       false, 'warn',
                       case
                           when latest is null then 'the run is for {{ run_date }} but the facts have no business date at all'
                           when latest < cast('{{ run_date }}' as date) - 1 then 'the run is for {{ run_date }} but the latest '
                               || 'business date in the facts is ' || cast(latest as {{ dbt.type_string() }}) || ' ('
                               || cast(cast('{{ run_date }}' as date) - latest as {{ dbt.type_string() }})
                               || ' days earlier): the sources have delivered nothing since'
                           else 'the facts reach ' || cast(latest as {{ dbt.type_string() }}) || ' (run date {{ run_date }})'
                       end,
                       null, 'source', 'dq_freshness', null, {{ dq_sql_string(dagster_run_id) }}, '{{ flags.WHICH }}', null
                {# events only where there are any: a semi-additive state (headcount from open assignments)
                   is carried up to the run date whether or not a source delivered #}
                from (select coalesce(max(date_day) filter (where not is_semi_additive), max(date_day)) as latest
                      from {{ measures }}) as horizon
            {%- endcall -%}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
