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
    {#- Beyond the fields described above:
        org_field     the raw field naming the row's org unit (a `lookup` may give `org` instead, or as
                      well: the org_field when it names a known unit, else the lookup's — an
                      assignment to an unknown unit affects the unit the employee is known in): a
                      problem with such a row affects that unit and its ancestors only; without one
                      (or when the field failed), any unit. A lookup's `date` is optional.
        key           the row's key fields: a quarantined version of a row is resolved once a later
                      partition loaded the same key (the staging model keeps the latest version).
        bounds        per fact column, the most a row can add to or take from a sum of that column,
                      as an expression over the row's raw fields ({field}); a column without a bound
                      (or a row whose fields cannot be read) makes the effect unbounded. Counts need
                      none: one row moves a count by at most one. -#}
    {{ return([
        {'source': 'erp', 'table': 'orders', 'role': 'event', 'partition': 'change',
         'date_field': 'order_ts', 'date_kind': 'utc', 'org_field': 'org_unit_id', 'key': ['order_id']},
        {'source': 'erp', 'table': 'order_lines', 'role': 'event', 'partition': 'change',
         'lookup': {'field': 'order_id', 'model': 'fct_orders', 'key': 'order_id', 'date': 'order_date',
                    'org': 'org_unit_id'},
         'key': ['order_line_id'],
         'bounds': {'net_amount': 'abs({quantity}) * {unit_price}', 'gross_amount': 'abs({quantity}) * {unit_price}',
                    'cost_amount': 'abs({quantity}) * coalesce({unit_cost}, 0)', 'quantity': 'abs({quantity})'}},
        {'source': 'erp', 'table': 'returns', 'role': 'event', 'partition': 'change',
         'date_field': 'return_ts', 'date_kind': 'utc', 'key': ['return_id'],
         'bounds': {'net_amount': 'abs({refund_amount})', 'quantity': 'abs({quantity})'}},
        {'source': 'erp', 'table': 'inventory_snapshots', 'role': 'event', 'partition': 'change',
         'date_field': 'snapshot_date', 'date_kind': 'date', 'org_field': 'warehouse_id',
         'key': ['snapshot_date', 'warehouse_id', 'product_id'],
         'bounds': {'inventory_value': 'abs({inventory_value})', 'quantity_on_hand': 'abs({quantity_on_hand})'}},
        {'source': 'erp', 'table': 'products', 'role': 'reference', 'partition': 'change', 'key': ['product_id']},
        {'source': 'erp', 'table': 'customers', 'role': 'reference', 'partition': 'change', 'key': ['customer_id']},
        {'source': 'hr', 'table': 'org_units', 'role': 'reference', 'partition': 'change',
         'valid_from_field': 'valid_from', 'valid_to_field': 'valid_to', 'key': ['org_unit_id', 'valid_from']},
        {'source': 'hr', 'table': 'employees', 'role': 'reference', 'partition': 'change', 'key': ['employee_id']},
        {'source': 'hr', 'table': 'employee_assignments', 'role': 'reference', 'partition': 'change',
         'valid_from_field': 'valid_from', 'valid_to_field': 'valid_to', 'org_field': 'org_unit_id',
         'lookup': {'field': 'employee_id', 'model': 'int_employee_assignments_effective', 'key': 'employee_id',
                    'org': 'org_unit_id'},
         'key': ['assignment_id'], 'bounds': {'headcount': '1'}},
        {'source': 'hr', 'table': 'training_records', 'role': 'event', 'partition': 'change',
         'date_field': 'training_date', 'date_kind': 'date', 'key': ['training_id'],
         'lookup': {'field': 'employee_id', 'model': 'int_employee_assignments_effective', 'key': 'employee_id',
                    'org': 'org_unit_id'},
         'bounds': {'hours': 'abs({hours})'}},
        {'source': 'servicedesk', 'table': 'tickets', 'role': 'event', 'partition': 'change',
         'date_field': 'opened_at', 'date_kind': 'local', 'org_field': 'team_id', 'key': ['ticket_id'],
         'bounds': {'csat': '5'}},
        {'source': 'survey', 'table': 'nps_responses', 'role': 'event', 'partition': 'business',
         'date_field': 'submitted_at', 'date_kind': 'utc', 'org_field': 'account_team_id', 'key': ['response_id'],
         'bounds': {'score': '10'}},
        {'source': 'mes', 'table': 'production_runs', 'role': 'event', 'partition': 'business',
         'date_field': 'finished_at', 'date_kind': 'utc', 'org_field': 'line_id', 'key': ['run_id'],
         'bounds': {'produced_qty': 'abs({produced_qty})', 'good_qty': 'abs({produced_qty})',
                    'defective_qty': 'abs({produced_qty})', 'planned_qty': 'abs({planned_qty})'}},
        {'source': 'engineering', 'table': 'bugs', 'role': 'event', 'partition': 'change',
         'date_field': 'created_at', 'date_kind': 'utc', 'org_field': 'team_id', 'key': ['bug_id']},
        {'source': 'engineering', 'table': 'releases', 'role': 'event', 'partition': 'business',
         'date_field': 'released_at', 'date_kind': 'utc', 'org_field': 'team_id', 'key': ['release_id'],
         'bounds': {'test_cases_executed': 'abs({test_cases_executed})',
                    'test_cases_failed': 'greatest(abs({test_cases_failed}), abs({test_cases_executed}))',
                    'change_count': 'abs({change_count})'}},
        {'source': 'finance', 'table': 'plan_info', 'role': 'plan', 'partition': 'plan'},
        {'source': 'finance', 'table': 'targets', 'role': 'plan', 'partition': 'plan'},
        {'source': 'finance', 'table': 'weights', 'role': 'plan', 'partition': 'plan'},
    ]) }}
{%- endmacro %}


{#- A bound expression of dq_source_tables() over a quarantined row's raw fields: each {field}
    becomes the field's value as a number (null when it is no number: the bound is then unknown). -#}
{% macro dq_bound_sql(template) -%}
    {%- set ns = namespace(out=template) -%}
    {%- for name in modules.re.findall('{([a-z_][a-z0-9_]*)}', template) -%}
        {%- set ns.out = ns.out | replace('{' ~ name ~ '}', 'try_cast(' ~ dq_raw_field(name) ~ ' as double)') -%}
    {%- endfor -%}
    {{ return(ns.out) }}
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
    {{ kpi_rows(rows, [('source', 'string'), ('table_name', 'string'), ('role', 'string'),
                       ('partition_kind', 'string'), ('max_age_days', 'integer')]) }}
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


{% macro spark__dq_text_to_local_date(text, kind) -%}
    {#- Spark reads an ISO 8601 offset (or Z) as that instant, and naive text in the session time zone
        (UTC, profiles.yml): both are UTC instants, shown in the company timezone. -#}
    {%- if kind == 'date' -%}
        try_cast({{ text }} as date)
    {%- elif kind == 'local' -%}
        cast(try_cast({{ text }} as timestamp) as date)
    {%- elif kind == 'utc' -%}
        cast(from_utc_timestamp(try_cast({{ text }} as timestamp), {{ company_timezone_literal() }}) as date)
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

{% macro spark__dq_raw_field(field) -%}
    get_json_object(_raw, '$.{{ field }}')
{%- endmacro %}
