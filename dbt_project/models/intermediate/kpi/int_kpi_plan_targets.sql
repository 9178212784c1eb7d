{#- Plan targets with the workbook's period label parsed: '2025' (year), '2025-Q1' (quarter),
    '2025-01' (month); calendar periods. Unparseable labels get a null grain (tested). -#}
with targets as (
    select * from {{ ref('stg_finance__targets') }}
),

labelled as (
    select
        cast(plan_version as varchar) as plan_version,
        cast(kpi_id as varchar) as kpi_id,
        cast(org_unit_id as varchar) as org_unit_id,
        trim(cast(period as varchar)) as period_label,
        cast(target_value as double) as target_value,
        cast(target_low as double) as target_low,
        cast(target_high as double) as target_high
    from targets
),

parsed as (
    select
        *,
        case
            when length(period_label) = 4 then 'year'
            when length(period_label) = 7 and substr(period_label, 6, 1) = 'Q'
                and substr(period_label, 7, 1) in ('1', '2', '3', '4') then 'quarter'
            when length(period_label) = 7 and substr(period_label, 5, 1) = '-'
                and substr(period_label, 6, 2) in ('01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12')
                then 'month'
        end as grain
    from labelled
),

final as (
    select
        plan_version,
        kpi_id,
        org_unit_id,
        period_label,
        grain,
        case grain
            when 'year' then cast(period_label || '-01-01' as date)
            when 'quarter' then cast(
                substr(period_label, 1, 4) || '-'
                || case substr(period_label, 7, 1) when '1' then '01' when '2' then '04' when '3' then '07' else '10' end
                || '-01' as date)
            when 'month' then cast(period_label || '-01' as date)
        end as period_start,
        target_value,
        target_low,
        target_high
    from parsed
)

select * from final
