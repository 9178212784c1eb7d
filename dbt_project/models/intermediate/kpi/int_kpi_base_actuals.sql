{#- Values of the base (non-derived) KPIs on the spine: additive → 0 without facts; ratio =
    scale × Σ numerator / Σ denominator (null when the denominator is 0), never an average of ratios.
    No data is not zero: a period that ends before the KPI's inputs start (int_kpi_data_starts) has
    no value at all (null), and `data_status` says so: `no_data`; `partial` when the inputs start
    inside the period; else `ok`. -#}
with spine as (
    select * from {{ ref('int_kpi_spine') }}
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

additive as (
    select * from {{ ref('int_kpi_additive_rollup') }}
),

nonadditive as (
    select * from {{ ref('int_kpi_nonadditive_rollup') }}
),

data_starts as (
    select * from {{ ref('int_kpi_data_starts') }}
),

additive_parts as (
    select
        kpi_id,
        kpi_version,
        org_unit_id,
        grain,
        period_start,
        sum(case when part = 'value' then value end) as value,
        sum(case when part = 'numerator' then value end) as numerator,
        sum(case when part = 'denominator' then value end) as denominator
    from additive
    group by kpi_id, kpi_version, org_unit_id, grain, period_start
),

joined as (
    select
        spine.*,
        versions.measure_type,
        versions.scale,
        additive_parts.value as additive_value,
        coalesce(additive_parts.numerator, 0) as part_numerator,
        coalesce(additive_parts.denominator, 0) as part_denominator,
        nonadditive.value as nonadditive_value,
        case
            when data_starts.data_start is null or spine.period_end < data_starts.data_start then 'no_data'
            when spine.period_start < data_starts.data_start then 'partial'
            else 'ok'
        end as data_status,
        data_starts.data_start
    from spine
    inner join versions
        on versions.kpi_id = spine.kpi_id
        and versions.version = spine.kpi_version
    left join additive_parts
        on additive_parts.kpi_id = spine.kpi_id
        and additive_parts.kpi_version = spine.kpi_version
        and additive_parts.org_unit_id = spine.org_unit_id
        and additive_parts.grain = spine.grain
        and additive_parts.period_start = spine.period_start
    left join data_starts
        on data_starts.kpi_id = spine.kpi_id
        and data_starts.kpi_version = spine.kpi_version
    left join nonadditive
        on nonadditive.kpi_id = spine.kpi_id
        and nonadditive.kpi_version = spine.kpi_version
        and nonadditive.org_unit_id = spine.org_unit_id
        and nonadditive.grain = spine.grain
        and nonadditive.period_start = spine.period_start
    where versions.measure_type <> 'derived'
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        eval_date,
        kpi_version,
        measure_type,
        case
            when data_status = 'no_data' then null
            when measure_type in ('sum', 'count', 'last') then coalesce(additive_value, 0)
            when measure_type = 'ratio' then scale * part_numerator / nullif(part_denominator, 0)
            when measure_type = 'count_distinct' then coalesce(nonadditive_value, 0)
            else nonadditive_value
        end as actual_value,
        case when measure_type = 'ratio' and data_status <> 'no_data' then part_numerator end as numerator,
        case when measure_type = 'ratio' and data_status <> 'no_data' then part_denominator end as denominator,
        is_complete,
        days_elapsed,
        days_in_period,
        data_status,
        data_start
    from joined
)

select * from final
