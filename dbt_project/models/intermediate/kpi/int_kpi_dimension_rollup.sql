{#- Additive parts by gap-explaining dimension, rolled up through the org closure of each fact's day
    to every org level and to month / quarter / year (GROUPING SETS). -#}
with measures as (
    select * from {{ ref('int_kpi_measures_by_dimension_daily') }}
    where dimension is not null and not is_semi_additive
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
        measures.dimension,
        measures.dimension_value,
        closure.ancestor_id as org_unit_id,
        dates.month_start,
        dates.quarter_start,
        dates.year_start,
        measures.value
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
        dimension,
        dimension_value,
        org_unit_id,
        month_start,
        quarter_start,
        year_start,
        sum(value) as value
    from expanded
    group by grouping sets (
        (kpi_id, kpi_version, part, dimension, dimension_value, org_unit_id, month_start),
        (kpi_id, kpi_version, part, dimension, dimension_value, org_unit_id, quarter_start),
        (kpi_id, kpi_version, part, dimension, dimension_value, org_unit_id, year_start)
    )
),

final as (
    select
        kpi_id,
        kpi_version,
        part,
        dimension,
        dimension_value,
        org_unit_id,
        case
            when month_start is not null then 'month'
            when quarter_start is not null then 'quarter'
            else 'year'
        end as grain,
        coalesce(month_start, quarter_start, year_start) as period_start,
        value
    from grouped
)

select * from final
