{#- Additive parts rolled up from (leaf, day) through the org closure of each day (re-org rule: a
    fact counts for the hierarchy valid on its own date) and dim_date to every grain, in one
    GROUPING SETS pass. Semi-additive (`last`) parts take the value on the period's evaluation day
    (its last day, or the as-of date while running). -#}
with measures as (
    select * from {{ ref('int_kpi_measures_daily') }}
),

closure as (
    select * from {{ ref('int_org_closure_daily') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

as_of as (
    select * from {{ ref('int_kpi_as_of') }}
),

expanded as (
    select
        measures.kpi_id,
        measures.kpi_version,
        measures.part,
        measures.is_semi_additive,
        closure.ancestor_id as org_unit_id,
        dates.date_day,
        dates.week_start,
        dates.month_start,
        dates.quarter_start,
        dates.year_start,
        measures.value,
        dates.date_day = least({{ kpi_period_end("'week'", 'dates.week_start') }}, as_of.as_of_date) as is_week_eval_day,
        dates.date_day = least({{ kpi_period_end("'month'", 'dates.month_start') }}, as_of.as_of_date) as is_month_eval_day,
        dates.date_day = least({{ kpi_period_end("'quarter'", 'dates.quarter_start') }}, as_of.as_of_date) as is_quarter_eval_day,
        dates.date_day = least({{ kpi_period_end("'year'", 'dates.year_start') }}, as_of.as_of_date) as is_year_eval_day
    from measures
    cross join as_of
    inner join closure
        on closure.date_day = measures.date_day
        and closure.descendant_id = measures.org_unit_id
    inner join dates on dates.date_day = measures.date_day
    where measures.date_day <= as_of.as_of_date
),

grouped as (
    select
        kpi_id,
        kpi_version,
        part,
        is_semi_additive,
        org_unit_id,
        date_day,
        week_start,
        month_start,
        quarter_start,
        year_start,
        sum(value) as value_sum,
        sum(case when is_week_eval_day then value end) as value_week_last,
        sum(case when is_month_eval_day then value end) as value_month_last,
        sum(case when is_quarter_eval_day then value end) as value_quarter_last,
        sum(case when is_year_eval_day then value end) as value_year_last
    from expanded
    group by grouping sets (
        (kpi_id, kpi_version, part, is_semi_additive, org_unit_id, date_day),
        (kpi_id, kpi_version, part, is_semi_additive, org_unit_id, week_start),
        (kpi_id, kpi_version, part, is_semi_additive, org_unit_id, month_start),
        (kpi_id, kpi_version, part, is_semi_additive, org_unit_id, quarter_start),
        (kpi_id, kpi_version, part, is_semi_additive, org_unit_id, year_start)
    )
),

final as (
    select
        kpi_id,
        kpi_version,
        part,
        org_unit_id,
        {{ kpi_grouping_set_period() }},
        case
            when not is_semi_additive or date_day is not null then value_sum
            when week_start is not null then coalesce(value_week_last, 0)
            when month_start is not null then coalesce(value_month_last, 0)
            when quarter_start is not null then coalesce(value_quarter_last, 0)
            else coalesce(value_year_last, 0)
        end as value
    from grouped
)

select * from final
