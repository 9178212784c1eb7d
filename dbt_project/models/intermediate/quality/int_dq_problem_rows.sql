{#- Every unresolved source problem at the grain the trust flag needs: one row per quarantined source
    row (with the business days, the org unit and the raw values it can affect), one per rejected
    partition and one per stale table. marts.dq_source_problems aggregates it; the KPI trust flag
    (int_kpi_problem_effects) maps it onto KPI values. Per-table semantics: macros/quality/dq_sources.sql.

    - quarantined_rows: a row of the lake's quarantine (`date=<partition>` or the `date=unplaced`
      store). Business day: the row's own date (its `date_field`, or through a `lookup`), else the
      partition date (when the date is the field that failed, cannot be read or lies after the
      partition). Org unit: the row's `org_field` (or the lookup's `org`) when it names a known org
      unit, else null = any unit. A row is resolved — and left out — once a later partition loaded
      the same key (the quarantined version was superseded) or its orphan reference was released.
    - rejected_partition: the latest load of a partition was rejected. When its rows could still be
      read (a renamed column: `rejected-batch.parquet` beside the partition's quarantine file), each
      row is placed like a quarantined row; otherwise `business` partitions affect that day, `change`
      partitions the dq_change_window_days up to it; any unit.
    - stale: every day after the table's latest loaded partition; any unit.
    - missing_feed / low_volume (int_dq_feed_days): a daily feed that delivered nothing on a day it
      always delivers, or (on the as-of date) far fewer rows than usual: that day; any unit. -#}
{%- set tables = dq_source_tables() -%}
{%- set has_quarantine = lake_has_quarantine() if execute else true -%}
{%- set window_days = dq_change_window_days() -%}

with

load_log as (
    select * from {{ ref('dq_load_log') }}
),

freshness as (
    select * from {{ ref('dq_freshness') }}
),

feed_days as (
    select * from {{ ref('int_dq_feed_days') }}
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

config as (
    {{ dq_source_tables_sql() }}
),

known_units as (
    select distinct org_unit_id from {{ ref('dim_org_unit') }}
),

quarantine_rows as (
    {%- if has_quarantine %}
    select
        regexp_extract(filename, '/quarantine/([^/]+)/([^/]+)/date=[^/]*/[^/]*$', 1) as source,
        regexp_extract(filename, '/quarantine/([^/]+)/([^/]+)/date=[^/]*/[^/]*$', 2) as table_name,
        try_cast(cast({{ adapter.quote('date') }} as {{ dbt.type_string() }}) as date) as partition_date,
        cast(_raw as {{ dbt.type_string() }}) as _raw,
        cast(_rule as {{ dbt.type_string() }}) as rule,
        cast(_field as {{ dbt.type_string() }}) as field,
        cast(_reason as {{ dbt.type_string() }}) as reason
    from {{ source('lake_quarantine', 'rows') }}
    {%- else %}
    -- no quarantine file in the lake
    select cast(null as {{ dbt.type_string() }}) as source, cast(null as {{ dbt.type_string() }}) as table_name, cast(null as date) as partition_date,
           cast(null as {{ dbt.type_string() }}) as _raw, cast(null as {{ dbt.type_string() }}) as rule, cast(null as {{ dbt.type_string() }}) as field,
           cast(null as {{ dbt.type_string() }}) as reason
    where 1 = 0
    {%- endif %}
),

{%- for t in tables if t.get('lookup') %}
{%- set lk = t['lookup'] %}

lookup_{{ t['source'] }}_{{ t['table'] }} as (
    -- business dates (and org units) of {{ t['source'] }}.{{ t['table'] }} rows through {{ lk['model'] }}.{{ lk['key'] }}
    select
        cast({{ lk['key'] }} as {{ dbt.type_string() }}) as lookup_key,
        {%- if lk.get('date') %}
        min({{ lk['date'] }}) as business_date,
        {%- else %}
        cast(null as date) as business_date,
        {%- endif %}
        {%- if lk.get('org') %}
        min(cast({{ lk['org'] }} as {{ dbt.type_string() }})) as org_unit_id
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as org_unit_id
        {%- endif %}
    from {{ ref(lk['model']) }}
    where cast({{ lk['key'] }} as {{ dbt.type_string() }}) in (
        select {{ dq_raw_field(lk['field']) }} from quarantine_rows
        where source = '{{ t['source'] }}' and table_name = '{{ t['table'] }}'
    )
    group by {{ lk['key'] }}
),
{%- endfor %}

{%- for t in tables if t.get('key') and t['role'] != 'plan' %}

superseded_{{ t['source'] }}_{{ t['table'] }} as (
    -- keys of quarantined {{ t['source'] }}.{{ t['table'] }} rows and the latest partition that loaded them
    select
        {%- for k in t['key'] %}
        cast({{ adapter.quote(k) }} as {{ dbt.type_string() }}){% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %} as row_key,
        max(_partition_date) as loaded_partition
    from {{ ref('stg_' ~ t['source'] ~ '__' ~ t['table']) }}
    where cast({{ adapter.quote(t['key'][0]) }} as {{ dbt.type_string() }}) in (
        select {{ dq_raw_field(t['key'][0]) }} from quarantine_rows
        where source = '{{ t['source'] }}' and table_name = '{{ t['table'] }}'
    )
    group by 1
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
        quarantine_rows._raw,
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
            {%- for t in tables if t.get('org_field') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                and coalesce(quarantine_rows.field, '') <> '{{ t['org_field'] }}'
                and {{ dq_raw_field(t['org_field']) }} in (select org_unit_id from known_units)
                then {{ dq_raw_field(t['org_field']) }}
            {%- endfor %}
            {%- for t in tables if t.get('lookup') and t['lookup'].get('org') %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                then lookup_{{ t['source'] }}_{{ t['table'] }}.org_unit_id
            {%- endfor %}
        end as named_org_unit_id,
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
        end as valid_to,
        case
            {%- for t in tables if t.get('key') and t['role'] != 'plan' %}
            when quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
                then superseded_{{ t['source'] }}_{{ t['table'] }}.loaded_partition
            {%- endfor %}
        end as key_loaded_partition
    from quarantine_rows
    left join config
        on config.source = quarantine_rows.source
        and config.table_name = quarantine_rows.table_name
    {%- for t in tables if t.get('lookup') %}
    left join lookup_{{ t['source'] }}_{{ t['table'] }}
        on quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
        and lookup_{{ t['source'] }}_{{ t['table'] }}.lookup_key = {{ dq_raw_field(t['lookup']['field']) }}
    {%- endfor %}
    {%- for t in tables if t.get('key') and t['role'] != 'plan' %}
    left join superseded_{{ t['source'] }}_{{ t['table'] }}
        on quarantine_rows.source = '{{ t['source'] }}' and quarantine_rows.table_name = '{{ t['table'] }}'
        and superseded_{{ t['source'] }}_{{ t['table'] }}.row_key =
        {%- for k in t['key'] %}
            {{ dq_raw_field(k) }}{% if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    {%- endfor %}
),

quarantined as (
    select
        quarantine_dated.source,
        quarantine_dated.table_name,
        -- the readable rows of a batch rejected as a whole scope its rejection to their own days and units
        case when quarantine_dated.rule = 'batch_rejected' then 'rejected_partition' else 'quarantined_rows' end
            as problem,
        case when quarantine_dated.rule = 'batch_rejected' then 'batches_accepted' else 'quarantine' end
            as check_name,
        quarantine_dated.partition_date,
        case
            when quarantine_dated.role = 'plan' then null
            when quarantine_dated.role = 'reference'
                then coalesce(quarantine_dated.valid_from, quarantine_dated.partition_date, as_of.as_of_date)
            when quarantine_dated.row_date is not null and (quarantine_dated.partition_date is null
                or quarantine_dated.row_date <= {{ kpi_add_days('quarantine_dated.partition_date', 1) }})
                then quarantine_dated.row_date
            else coalesce(quarantine_dated.partition_date, as_of.as_of_date)
        end as first_day,
        case
            when quarantine_dated.role = 'plan' then null
            when quarantine_dated.role = 'reference' and quarantine_dated.valid_from is not null
                then coalesce({{ kpi_add_days('quarantine_dated.valid_to', -1) }}, as_of.as_of_date)
            when quarantine_dated.role = 'reference' then as_of.as_of_date
            when quarantine_dated.row_date is not null and (quarantine_dated.partition_date is null
                or quarantine_dated.row_date <= {{ kpi_add_days('quarantine_dated.partition_date', 1) }})
                then quarantine_dated.row_date
            else coalesce(quarantine_dated.partition_date, as_of.as_of_date)
        end as last_day,
        known_units.org_unit_id,
        cast(1 as bigint) as rows_affected,
        case
            when quarantine_dated.rule = 'batch_rejected' then quarantine_dated.reason
            else 'quarantined: ' || quarantine_dated.rule || ' (' || quarantine_dated.reason || ')'
        end as message,
        quarantine_dated._raw
    from quarantine_dated
    cross join as_of
    left join known_units on known_units.org_unit_id = quarantine_dated.named_org_unit_id
    -- resolved: a later partition loaded the same key (the quarantined version was superseded)
    where quarantine_dated.key_loaded_partition is null
        or quarantine_dated.partition_date is null
        or quarantine_dated.key_loaded_partition <= quarantine_dated.partition_date
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
    where load_log.partition_date is not null and (
        (load_log.status = 'rejected' and not exists (
            -- a rejection whose rows could be read is placed by those rows (above)
            select 1 from quarantine_rows
            where quarantine_rows.source = load_log.source
                and quarantine_rows.table_name = load_log.{{ adapter.quote('table') }}
                and quarantine_rows.partition_date = load_log.partition_date
                and quarantine_rows.rule = 'batch_rejected'
        ))
        or (coalesce(load_log.rows_quarantined, 0) > 0 and not exists (
            select 1 from quarantine_rows
            where quarantine_rows.source = load_log.source
                and quarantine_rows.table_name = load_log.{{ adapter.quote('table') }}
                and quarantine_rows.partition_date = load_log.partition_date
        )))
),

logged as (
    select
        log_problems.source,
        log_problems.table_name,
        log_problems.problem,
        log_problems.check_name,
        log_problems.partition_date,
        case
            when log_problems.role = 'plan' then null
            when log_problems.role = 'reference' or log_problems.partition_kind = 'business' then log_problems.partition_date
            else {{ kpi_add_days('log_problems.partition_date', -window_days) }}
        end as first_day,
        case
            when log_problems.role = 'plan' then null
            when log_problems.role = 'reference' then greatest(log_problems.partition_date, as_of.as_of_date)
            else log_problems.partition_date
        end as last_day,
        cast(null as {{ dbt.type_string() }}) as org_unit_id,
        log_problems.rows_affected,
        log_problems.message,
        cast(null as {{ dbt.type_string() }}) as _raw
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
        cast(null as {{ dbt.type_string() }}) as org_unit_id,
        cast(null as bigint) as rows_affected,
        freshness.message,
        cast(null as {{ dbt.type_string() }}) as _raw
    from freshness
    left join config
        on config.source = freshness.source
        and config.table_name = freshness.{{ adapter.quote('table') }}
    where freshness.status = 'stale'
),

feeds as (
    -- a feed that delivered nothing on a day it always delivers (any day), or far fewer rows than
    -- usual on the as-of date: an unknown number of rows of that day is missing
    select
        feed_days.source,
        feed_days.table_name,
        case feed_days.verdict when 'missing' then 'missing_feed' else 'low_volume' end as problem,
        'volume' as check_name,
        feed_days.partition_date,
        feed_days.partition_date as first_day,
        feed_days.partition_date as last_day,
        cast(null as {{ dbt.type_string() }}) as org_unit_id,
        cast(null as bigint) as rows_affected,
        case feed_days.verdict
            when 'missing' then 'no rows on ' || cast(feed_days.partition_date as {{ dbt.type_string() }}) || ', although about '
                || cast(round(feed_days.silent_expected) as {{ dbt.type_string() }}) || ' were expected since the feed last delivered'
                || ' (median of the previous ' || cast(feed_days.prior_days as {{ dbt.type_string() }}) || ' ' || feed_days.day_kind || 's)'
            else cast(feed_days.rows_read as {{ dbt.type_string() }}) || ' rows on ' || cast(feed_days.partition_date as {{ dbt.type_string() }})
                || ', far below the usual ' || cast(feed_days.expected_rows as {{ dbt.type_string() }}) || ' (median of the previous '
                || cast(feed_days.prior_days as {{ dbt.type_string() }}) || ' ' || feed_days.day_kind || 's)'
        end as message,
        cast(null as {{ dbt.type_string() }}) as _raw
    from feed_days
    cross join as_of
    where feed_days.verdict = 'missing'
        or (feed_days.verdict = 'low_volume' and feed_days.partition_date = as_of.as_of_date)
),

unioned as (
    select source, table_name, problem, check_name, partition_date, first_day, last_day, org_unit_id,
           rows_affected, message, _raw
    from quarantined
    union all
    select source, table_name, problem, check_name, partition_date, first_day, last_day, org_unit_id,
           rows_affected, message, _raw
    from feeds
    union all
    select source, table_name, problem, check_name, partition_date, first_day, last_day, org_unit_id,
           rows_affected, message, _raw
    from logged
    union all
    select source, table_name, problem, check_name, partition_date, first_day, last_day, org_unit_id,
           rows_affected, message, _raw
    from stale
),

final as (
    select
        -- one id per problem row (identical quarantined rows of one partition get one each)
        md5(concat_ws('|', source, table_name, problem, cast(partition_date as {{ dbt.type_string() }}), message, _raw))
            || '-' || cast(row_number() over (
                partition by source, table_name, problem, partition_date, message, _raw order by first_day
            ) as {{ dbt.type_string() }}) as problem_id,
        *
    from unioned
)

select * from final
