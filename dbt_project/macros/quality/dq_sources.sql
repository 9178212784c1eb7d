{#-
    What each raw source table means for data quality: how its partition date relates to the business
    dates of its rows, where a quarantined row keeps its business date, and how fresh it must be.
    Read by dq_freshness and dq_source_problems (models/marts/quality), which the trust flag of the
    KPI marts builds on (macros/kpi/kpi_verification.sql).

    role
      event      rows carry their own business date (`date_field` in the quarantined row's `_raw`,
                 or looked up through `lookup`): a problem affects the business dates of its rows.
      reference  a dimension without business dates of its own: a lost change affects the days from
                 the partition (the day of the change) to the as-of date, or the row's own validity
                 (`valid_from_field` / `valid_to_field`, exclusive end) when it has one.
      plan       the finance plan: feeds targets, not facts; fresh when a plan covers the as-of
                 date's fiscal year.
    partition
      business   the partition date is the rows' business date (a file per day of events).
      change     the partition date is the day rows were created *or changed* (`updated_at` for
                 database tables; the service desk export and the bug export repeat changed rows):
                 a rejected partition can hold changes to rows of any earlier business date, so it
                 affects the `dq_change_window_days` (var, default 92) business days up to it.
    date_kind    how `date_field` is written in the source: `utc` (instant: naive text is UTC, or ISO
                 8601 with an offset), `local` (wall-clock time in the company timezone), `date`.

    Tables found in the load log but not listed here count as `event` / `change` tables whose
    problems are placed on their partition date.
-#}

{% macro dq_source_tables() -%}
    {{ return([
        {'source': 'erp', 'table': 'orders', 'role': 'event', 'partition': 'change',
         'date_field': 'order_ts', 'date_kind': 'utc'},
        {'source': 'erp', 'table': 'order_lines', 'role': 'event', 'partition': 'change',
         'lookup': {'field': 'order_id', 'model': 'fct_orders', 'key': 'order_id', 'date': 'order_date'}},
        {'source': 'erp', 'table': 'returns', 'role': 'event', 'partition': 'change',
         'date_field': 'return_ts', 'date_kind': 'utc'},
        {'source': 'erp', 'table': 'inventory_snapshots', 'role': 'event', 'partition': 'change',
         'date_field': 'snapshot_date', 'date_kind': 'date'},
        {'source': 'erp', 'table': 'products', 'role': 'reference', 'partition': 'change'},
        {'source': 'erp', 'table': 'customers', 'role': 'reference', 'partition': 'change'},
        {'source': 'hr', 'table': 'org_units', 'role': 'reference', 'partition': 'change',
         'valid_from_field': 'valid_from', 'valid_to_field': 'valid_to'},
        {'source': 'hr', 'table': 'employees', 'role': 'reference', 'partition': 'change'},
        {'source': 'hr', 'table': 'employee_assignments', 'role': 'reference', 'partition': 'change',
         'valid_from_field': 'valid_from', 'valid_to_field': 'valid_to'},
        {'source': 'hr', 'table': 'training_records', 'role': 'event', 'partition': 'change',
         'date_field': 'training_date', 'date_kind': 'date'},
        {'source': 'servicedesk', 'table': 'tickets', 'role': 'event', 'partition': 'change',
         'date_field': 'opened_at', 'date_kind': 'local'},
        {'source': 'survey', 'table': 'nps_responses', 'role': 'event', 'partition': 'business',
         'date_field': 'submitted_at', 'date_kind': 'utc'},
        {'source': 'mes', 'table': 'production_runs', 'role': 'event', 'partition': 'business',
         'date_field': 'finished_at', 'date_kind': 'utc'},
        {'source': 'engineering', 'table': 'bugs', 'role': 'event', 'partition': 'change',
         'date_field': 'created_at', 'date_kind': 'utc'},
        {'source': 'engineering', 'table': 'releases', 'role': 'event', 'partition': 'business',
         'date_field': 'released_at', 'date_kind': 'utc'},
        {'source': 'finance', 'table': 'plan_info', 'role': 'plan', 'partition': 'plan'},
        {'source': 'finance', 'table': 'targets', 'role': 'plan', 'partition': 'plan'},
        {'source': 'finance', 'table': 'weights', 'role': 'plan', 'partition': 'plan'},
    ]) }}
{%- endmacro %}


{#- Maximum age (days between the latest loaded partition and the as-of date) of a daily source. -#}
{% macro dq_daily_max_age_days() -%}
    {{ return(var('dq_daily_max_age_days', 2) | int) }}
{%- endmacro %}


{#- Business days a rejected `change` partition can affect, counted back from the partition. -#}
{% macro dq_change_window_days() -%}
    {{ return(var('dq_change_window_days', 92) | int) }}
{%- endmacro %}


{#- The configuration rows as a relation (source, table_name, role, partition_kind, max_age_days). -#}
{% macro dq_source_tables_sql() -%}
    {%- set rows = [] -%}
    {%- for t in dq_source_tables() -%}
        {%- do rows.append({
            'source': t['source'], 'table_name': t['table'], 'role': t['role'],
            'partition_kind': t['partition'],
            'max_age_days': none if t['role'] == 'plan' else dq_daily_max_age_days(),
        }) -%}
    {%- endfor -%}
    {{ kpi_rows(rows, [('source', 'varchar'), ('table_name', 'varchar'), ('role', 'varchar'),
                       ('partition_kind', 'varchar'), ('max_age_days', 'integer')]) }}
{%- endmacro %}


{#- The local business date of a source value kept as text (a quarantined row's `_raw`): null when
    the text is no date of that kind. -#}
{% macro dq_text_to_local_date(text, kind) -%}
    {{ return(adapter.dispatch('dq_text_to_local_date', 'kpi_warehouse')(text, kind)) }}
{%- endmacro %}

{% macro duckdb__dq_text_to_local_date(text, kind) -%}
    {%- if kind == 'date' -%}
        try_cast({{ text }} as date)
    {%- elif kind == 'local' -%}
        cast(try_cast({{ text }} as timestamp) as date)
    {%- elif kind == 'utc' -%}
        cast(timezone({{ company_timezone_literal() }},
            case
                when regexp_matches({{ text }}, '([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$') then try_cast({{ text }} as timestamptz)
                else timezone('UTC', try_cast({{ text }} as timestamp))
            end) as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("dq_text_to_local_date: unknown kind " ~ kind) }}
    {%- endif -%}
{%- endmacro %}


{#- A field of a quarantined row's `_raw` (JSON object of source values as text). -#}
{% macro dq_raw_field(field) -%}
    {{ return(adapter.dispatch('dq_raw_field', 'kpi_warehouse')(field)) }}
{%- endmacro %}

{% macro duckdb__dq_raw_field(field) -%}
    json_extract_string(try_cast(_raw as json), '$.{{ field }}')
{%- endmacro %}
