{#- Every failed source-side check, with the business days it can affect (first_day … last_day,
    inclusive; null when it feeds no fact, e.g. the finance plan). The trust flag of the KPI marts
    (`is_verified`) is false for a value whose fact model reads a table with a problem on a day of the
    value's period (macros/kpi/kpi_verification.sql). Per table semantics: macros/quality/dq_sources.sql.

    - rejected_partition (check batches_accepted): the latest load of a partition was rejected.
      `business` partitions: that day; `change` partitions: the dq_change_window_days up to it (the
      lost changes may belong to earlier business dates); reference tables: from that day on.
    - quarantined_rows (check quarantine): rows of the partition are in quarantine. Event tables: the
      business date of each row, read from its source values (the partition date when the row's date
      is the field that failed, cannot be read or lies after the partition); reference tables: the
      row's validity when it has one, else from the partition on.
    - stale (check freshness): the table is stale on the as-of date (dq_freshness): every day after its
      latest loaded partition. -#}
{%- set tables = dq_source_tables() -%}
{%- set quarantine_glob = env_var('KPI_LAKE_DIR', '../data/lake') ~ '/quarantine/*/*/date=*/*.parquet' -%}
{%- set has_quarantine = true -%}
{%- if execute -%}
    {%- set found = run_query("select count(*) from glob('" ~ (quarantine_glob | replace("'", "''")) ~ "')") -%}
    {%- set has_quarantine = found.columns[0].values()[0] > 0 -%}
{%- endif -%}
{%- set window_days = dq_change_window_days() -%}

with

load_log as (
    select * from {{ ref('dq_load_log') }}
),

freshness as (
    select * from {{ ref('dq_freshness') }}
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

config as (
    {{ dq_source_tables_sql() }}
),

quarantine_rows as (
    {%- if has_quarantine %}
    select
        regexp_extract(filename, '/quarantine/([^/]+)/([^/]+)/date=[^/]*/[^/]*$', 1) as source,
        regexp_extract(filename, '/quarantine/([^/]+)/([^/]+)/date=[^/]*/[^/]*$', 2) as table_name,
        try_cast(cast({{ adapter.quote('date') }} as varchar) as date) as partition_date,
        cast(_raw as varchar) as _raw,
        cast(_rule as varchar) as rule,
        cast(_field as varchar) as field,
        cast(_reason as varchar) as reason
    from {{ source('lake_quarantine', 'rows') }}
    {%- else %}
    -- no quarantine file in the lake
    select cast(null as varchar) as source, cast(null as varchar) as table_name, cast(null as date) as partition_date,
           cast(null as varchar) as _raw, cast(null as varchar) as rule, cast(null as varchar) as field,
           cast(null as varchar) as reason
    where 1 = 0
    {%- endif %}
),

{%- for t in tables if t.get('lookup') %}
{%- set lk = t['lookup'] %}

lookup_{{ t['source'] }}_{{ t['table'] }} as (
    -- business dates of {{ t['source'] }}.{{ t['table'] }} rows through {{ lk['model'] }}.{{ lk['key'] }}
    select cast({{ lk['key'] }} as varchar) as lookup_key, min({{ lk['date'] }}) as business_date
    from {{ ref(lk['model']) }}
    where cast({{ lk['key'] }} as varchar) in (
        select {{ dq_raw_field(lk['field']) }} from quarantine_rows
        where source = '{{ t['source'] }}' and table_name = '{{ t['table'] }}'
    )
    group by {{ lk['key'] }}
),
{%- endfor %}

quarantine_dated as (
    select
        quarantine_rows.source,
        quarantine_rows.table_name,
        quarantine_rows.partition_date,
        quarantine_rows.rule,
        quarantine_rows.field,
        quarantine_rows.reason,
        coalesce(config.role, 'event') as role,
        case
            {%- for t in tables if t.get('date_field') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                and coalesce(quarantine_rows.field, '') not like '%{{ t['date_field'] }}%'
                then {{ dq_text_to_local_date(dq_raw_field(t['date_field']), t['date_kind']) }}
            {%- endfor %}
            {%- for t in tables if t.get('lookup') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                then lookup_{{ t['source'] }}_{{ t['table'] }}.business_date
            {%- endfor %}
        end as row_date,
        case
            {%- for t in tables if t.get('valid_from_field') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                and coalesce(quarantine_rows.field, '') not like '%{{ t['valid_from_field'] }}%'
                and coalesce(quarantine_rows.field, '') not like '%{{ t['valid_to_field'] }}%'
                then {{ dq_text_to_local_date(dq_raw_field(t['valid_from_field']), 'date') }}
            {%- endfor %}
        end as valid_from,
        case
            {%- for t in tables if t.get('valid_to_field') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                then {{ dq_text_to_local_date(dq_raw_field(t['valid_to_field']), 'date') }}
            {%- endfor %}
        end as valid_to
    from quarantine_rows
    left join config
        on config.source = quarantine_rows.source
        and config.table_name = quarantine_rows.table_name
    {%- for t in tables if t.get('lookup') %}
    left join lookup_{{ t['source'] }}_{{ t['table'] }}
        on quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
        and lookup_{{ t['source'] }}_{{ t['table'] }}.lookup_key = {{ dq_raw_field(t['lookup']['field']) }}
    {%- endfor %}
),

quarantine_ranges as (
    select
        quarantine_dated.source,
        quarantine_dated.table_name,
        quarantine_dated.partition_date,
        case
            when quarantine_dated.role = 'plan' or quarantine_dated.partition_date is null then null
            when quarantine_dated.role = 'reference' then coalesce(quarantine_dated.valid_from, quarantine_dated.partition_date)
            when quarantine_dated.row_date is not null
                and quarantine_dated.row_date <= {{ kpi_add_days('quarantine_dated.partition_date', 1) }}
                then quarantine_dated.row_date
            else quarantine_dated.partition_date
        end as first_day,
        case
            when quarantine_dated.role = 'plan' or quarantine_dated.partition_date is null then null
            when quarantine_dated.role = 'reference' and quarantine_dated.valid_from is not null
                then coalesce({{ kpi_add_days('quarantine_dated.valid_to', -1) }}, as_of.as_of_date)
            when quarantine_dated.role = 'reference' then as_of.as_of_date
            when quarantine_dated.row_date is not null
                and quarantine_dated.row_date <= {{ kpi_add_days('quarantine_dated.partition_date', 1) }}
                then quarantine_dated.row_date
            else quarantine_dated.partition_date
        end as last_day,
        quarantine_dated.rule,
        quarantine_dated.reason
    from quarantine_dated
    cross join as_of
),

quarantined as (
    select
        source,
        table_name,
        'quarantined_rows' as problem,
        'quarantine' as check_name,
        partition_date,
        first_day,
        last_day,
        count(*) as rows_affected,
        'quarantined: ' || min(rule) || ' (' || min(reason) || ')' as message
    from quarantine_ranges
    group by source, table_name, partition_date, first_day, last_day
),

log_problems as (
    -- rejected partitions; and quarantined rows the log counts but whose quarantine file is missing
    select
        load_log.source,
        load_log.{{ adapter.quote('table') }} as table_name,
        case when load_log.status = 'rejected' then 'rejected_partition' else 'quarantined_rows' end as problem,
        case when load_log.status = 'rejected' then 'batches_accepted' else 'quarantine' end as check_name,
        load_log.partition_date,
        coalesce(config.role, 'event') as role,
        coalesce(config.partition_kind, 'change') as partition_kind,
        case when load_log.status = 'rejected' then null else load_log.rows_quarantined end as rows_affected,
        case
            when load_log.status = 'rejected' then load_log.message
            else 'quarantine file missing: ' || coalesce(load_log.message, '')
        end as message
    from load_log
    left join config
        on config.source = load_log.source
        and config.table_name = load_log.{{ adapter.quote('table') }}
    where load_log.status = 'rejected'
        or (coalesce(load_log.rows_quarantined, 0) > 0 and not exists (
            select 1 from quarantine_rows
            where quarantine_rows.source = load_log.source
                and quarantine_rows.table_name = load_log.{{ adapter.quote('table') }}
                and quarantine_rows.partition_date = load_log.partition_date
        ))
),

logged as (
    select
        log_problems.source,
        log_problems.table_name,
        log_problems.problem,
        log_problems.check_name,
        log_problems.partition_date,
        case
            when log_problems.role = 'plan' or log_problems.partition_date is null then null
            when log_problems.role = 'reference' or log_problems.partition_kind = 'business' then log_problems.partition_date
            else {{ kpi_add_days('log_problems.partition_date', -window_days) }}
        end as first_day,
        case
            when log_problems.role = 'plan' or log_problems.partition_date is null then null
            when log_problems.role = 'reference' then greatest(log_problems.partition_date, as_of.as_of_date)
            else log_problems.partition_date
        end as last_day,
        log_problems.rows_affected,
        log_problems.message
    from log_problems
    cross join as_of
),

stale as (
    select
        freshness.source,
        freshness.{{ adapter.quote('table') }} as table_name,
        'stale' as problem,
        'freshness' as check_name,
        freshness.latest_partition as partition_date,
        case
            when coalesce(config.role, 'event') = 'plan' then null
            else coalesce({{ kpi_add_days('freshness.latest_partition', 1) }}, cast('1900-01-01' as date))
        end as first_day,
        case when coalesce(config.role, 'event') = 'plan' then null else freshness.as_of_date end as last_day,
        cast(null as bigint) as rows_affected,
        freshness.message
    from freshness
    left join config
        on config.source = freshness.source
        and config.table_name = freshness.{{ adapter.quote('table') }}
    where freshness.status = 'stale'
),

unioned as (
    select source, table_name, problem, check_name, partition_date, first_day, last_day, rows_affected, message
    from quarantined
    union all
    select source, table_name, problem, check_name, partition_date, first_day, last_day, rows_affected, message
    from logged
    union all
    select source, table_name, problem, check_name, partition_date, first_day, last_day, rows_affected, message
    from stale
),

final as (
    select
        source,
        table_name as {{ adapter.quote('table') }},
        problem,
        check_name,
        partition_date,
        first_day,
        last_day,
        rows_affected,
        message
    from unioned
)

select * from final
