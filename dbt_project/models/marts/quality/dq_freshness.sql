{#- Freshness of every source table against its schedule, relative to the build's as-of date.
    Daily sources (databases and daily landing files): the latest loaded partition (rejected ones do
    not count) may be at most `dq_daily_max_age_days` (var, default 2) days older than the as-of date
    (else `stale`); and a daily event feed must have delivered on the as-of date what its own history
    of that kind of day says (int_dq_feed_days): nothing on a day it always delivers is `missing`,
    far fewer rows than usual `low_volume` — a dead feed writes empty partitions and is not stale.
    The finance plan: a plan covering the as-of date's fiscal year must be loaded. -#}
with

load_log as (
    select * from {{ ref('dq_load_log') }}
),

as_of as (
    {#- The run's own date (var `run_date`, the partition the pipeline runs) when later than the facts'
        as-of date: if every source stalls, the facts stop advancing and only the run date shows it. -#}
    select
        {%- if var('run_date', none) %}
        greatest(cast('{{ var("run_date") }}' as date), as_of_date) as as_of_date
        {%- else %}
        as_of_date
        {%- endif %}
    from {{ ref('int_kpi_as_of') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

plan_info as (
    select * from {{ ref('stg_finance__plan_info') }}
),

feed_days as (
    select * from {{ ref('int_dq_feed_days') }}
),

config as (
    {{ dq_source_tables_sql() }}
),

logged as (
    select
        source,
        {{ adapter.quote('table') }} as table_name,
        max(case when status <> 'rejected' then partition_date end) as latest_partition,
        count(case when status = 'rejected' then 1 end) as rejected_partitions
    from load_log
    where partition_date is not null
    group by source, {{ adapter.quote('table') }}
),

source_tables as (
    select source, table_name from config
    union
    select source, table_name from logged
),

plan_year as (
    select
        as_of.as_of_date,
        dates.fiscal_year,
        (select count(*) from plan_info where plan_info.fiscal_year = dates.fiscal_year) > 0 as is_covered
    from as_of
    left join dates on dates.date_day = as_of.as_of_date
),

measured as (
    select
        source_tables.source,
        source_tables.table_name,
        coalesce(config.role, 'event') as role,
        logged.latest_partition,
        {{ kpi_days_between('logged.latest_partition', 'plan_year.as_of_date') }} as age_days,
        case
            when coalesce(config.role, 'event') = 'plan' then null
            else coalesce(config.max_age_days, {{ dq_daily_max_age_days() }})
        end as max_age_days,
        plan_year.as_of_date,
        plan_year.fiscal_year,
        plan_year.is_covered,
        feed_days.rows_read as rows_on_as_of,
        feed_days.expected_rows,
        feed_days.arrival_rate,
        feed_days.silent_expected,
        feed_days.verdict
    from source_tables
    cross join plan_year
    left join feed_days
        on feed_days.source = source_tables.source
        and feed_days.table_name = source_tables.table_name
        and feed_days.partition_date = plan_year.as_of_date
    left join config
        on config.source = source_tables.source
        and config.table_name = source_tables.table_name
    left join logged
        on logged.source = source_tables.source
        and logged.table_name = source_tables.table_name
),

final as (
    select
        source,
        table_name as {{ adapter.quote('table') }},
        latest_partition,
        age_days,
        max_age_days,
        case
            when role = 'plan' then case when is_covered then 'ok' else 'stale' end
            when latest_partition is null or age_days > max_age_days then 'stale'
            when verdict = 'missing' then 'missing'
            when verdict = 'low_volume' then 'low_volume'
            else 'ok'
        end as status,
        as_of_date,
        case
            when role = 'plan' then 'a plan for fiscal year ' || cast(fiscal_year as {{ dbt.type_string() }}) || ' is loaded'
            when role = 'event' then 'latest loaded partition at most ' || cast(max_age_days as {{ dbt.type_string() }})
                || ' days before the as-of date, and the as-of date''s rows as many as the feed''s history of such days'
            else 'latest loaded partition at most ' || cast(max_age_days as {{ dbt.type_string() }}) || ' days before the as-of date'
        end as rule,
        case
            when role = 'plan' and is_covered then 'plan for fiscal year ' || cast(fiscal_year as {{ dbt.type_string() }}) || ' loaded'
            when role = 'plan' then 'no plan for fiscal year ' || cast(fiscal_year as {{ dbt.type_string() }}) || ' is loaded'
            when latest_partition is null then 'no partition loaded'
            when age_days <= max_age_days and verdict = 'missing' then 'no rows on ' || cast(as_of_date as {{ dbt.type_string() }})
                || ', although about ' || cast(round(silent_expected) as {{ dbt.type_string() }})
                || ' were expected since the feed last delivered: the feed may be dead'
            when age_days <= max_age_days and verdict = 'low_volume' then cast(rows_on_as_of as {{ dbt.type_string() }}) || ' rows on '
                || cast(as_of_date as {{ dbt.type_string() }}) || ', far below the usual ' || cast(expected_rows as {{ dbt.type_string() }})
            else 'latest partition ' || cast(latest_partition as {{ dbt.type_string() }}) || ' is ' || cast(age_days as {{ dbt.type_string() }})
                || ' day(s) old on ' || cast(as_of_date as {{ dbt.type_string() }})
        end as message,
        rows_on_as_of,
        expected_rows
    from measured
)

select * from final
