{#- The gap-explaining breakdown of additive (sum/count) and ratio KPIs by product category, channel,
    region, segment or priority — whichever the KPI's fact has — per org unit and month / quarter /
    year, evaluated with the same KPI version as kpi_actuals. Missing dimension values form their own
    bucket ('(missing)'), so for each (KPI, unit, period, dimension) the parts add up to kpi_actuals. -#}
with spine as (
    select * from {{ ref('int_kpi_spine') }}
    where grain in ('month', 'quarter', 'year')
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

breakdown as (
    select * from {{ ref('int_kpi_dimension_rollup') }}
),

parts as (
    select
        kpi_id,
        kpi_version,
        org_unit_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        sum(case when part = 'value' then value end) as value,
        sum(case when part = 'numerator' then value end) as numerator,
        sum(case when part = 'denominator' then value end) as denominator
    from breakdown
    group by kpi_id, kpi_version, org_unit_id, grain, period_start, dimension, dimension_value
),

final as (
    select
        spine.kpi_id,
        spine.org_unit_id,
        spine.grain,
        spine.period_start,
        parts.dimension,
        parts.dimension_value,
        case
            when versions.measure_type = 'ratio'
                then versions.scale * coalesce(parts.numerator, 0) / nullif(coalesce(parts.denominator, 0), 0)
            else coalesce(parts.value, 0)
        end as actual_value,
        case when versions.measure_type = 'ratio' then coalesce(parts.numerator, 0) end as numerator,
        case when versions.measure_type = 'ratio' then coalesce(parts.denominator, 0) end as denominator,
        spine.kpi_version
    from spine
    inner join versions
        on versions.kpi_id = spine.kpi_id
        and versions.version = spine.kpi_version
    inner join parts
        on parts.kpi_id = spine.kpi_id
        and parts.kpi_version = spine.kpi_version
        and parts.org_unit_id = spine.org_unit_id
        and parts.grain = spine.grain
        and parts.period_start = spine.period_start
    where versions.measure_type in ('sum', 'count', 'ratio')
)

select * from final
