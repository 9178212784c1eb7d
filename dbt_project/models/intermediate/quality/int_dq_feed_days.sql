{#- Did each daily event feed deliver what it usually delivers? One row per event table and loaded
    partition day, judged against the feed's own history of the same kind of day — workdays against
    workdays, weekends against weekends, public holidays against holidays (dim_date):
      arrival_rate    share of the previous 8 partitions of that kind with rows;
      expected_rows   median rows of those 8 partitions;
      silent_expected rows the feed would have delivered on the workdays it has been silent up to this
                      one (the sum of the workdays' expected_rows over the current run of empty days;
                      weekends and holidays are too irregular to count on);
      verdict         `missing` — an empty workday although at least 20 rows were expected over the
                      silence (a quiet feed's empty day is no alarm: a dense feed is missed on its
                      first empty workday, a sparse one after a few);
                      `low_volume` — under dq_low_volume_share (var, default 0.3) of the expected rows,
                      when at least 20 are expected; null when the day looks like its history.
    Fewer than 4 earlier days of the kind: not judged. Reference tables (org units, employees,
    products, customers, assignments) change when something changes, not daily: not judged. -#}
{%- set low_share = var('dq_low_volume_share', 0.3) -%}
with

load_log as (
    select * from {{ ref('dq_load_log') }}
    where partition_date is not null
),

config as (
    {{ dq_source_tables_sql() }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

days as (
    select
        load_log.source,
        load_log.{{ adapter.quote('table') }} as table_name,
        load_log.partition_date,
        load_log.status,
        coalesce(load_log.rows_read, 0) as rows_read,
        coalesce(dates.is_workday, true) as is_workday,
        case
            when dates.is_holiday and not dates.is_workday then 'holiday'
            when coalesce(dates.is_workday, true) then 'workday'
            else 'weekend'
        end as day_kind
    from load_log
    inner join config
        on config.source = load_log.source
        and config.table_name = load_log.{{ adapter.quote('table') }}
        and config.role = 'event'
    left join dates on dates.date_day = load_log.partition_date
    where load_log.status <> 'rejected'
),

history as (
    select
        days.*,
        count(*) over prior as prior_days,
        count(case when rows_read > 0 then 1 end) over prior as prior_days_with_rows,
        {{ dq_window_median('rows_read', 'prior') }} as expected_rows
    from days
    window prior as (
        partition by source, table_name, day_kind order by partition_date
        rows between 8 preceding and 1 preceding
    )
),

streaks as (
    -- runs of empty days: each day's run is identified by how many days with rows came before it
    select
        history.*,
        count(case when rows_read > 0 then 1 end) over (
            partition by source, table_name order by partition_date rows between unbounded preceding and current row
        ) as run_id
    from history
),

silences as (
    select
        streaks.*,
        case when rows_read = 0 then sum(case when day_kind = 'workday' then coalesce(expected_rows, 0) else 0 end) over (
            partition by source, table_name, run_id order by partition_date rows between unbounded preceding and current row
        ) end as silent_expected
    from streaks
),

final as (
    select
        source,
        table_name,
        partition_date,
        is_workday,
        day_kind,
        rows_read,
        prior_days,
        case when prior_days > 0 then cast(prior_days_with_rows as double) / prior_days end as arrival_rate,
        expected_rows,
        silent_expected,
        case
            when prior_days < 4 then null
            when rows_read = 0 and day_kind = 'workday' and silent_expected >= 20 then 'missing'
            when expected_rows >= 20 and rows_read < {{ low_share }} * expected_rows then 'low_volume'
        end as verdict
    from silences
)

select * from final
