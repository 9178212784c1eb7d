{#- Targets per KPI × org unit × month/quarter/year: set by the plan, allocated top-down, or the catalog rule. -#}
with targets as (
    select * from {{ ref('int_kpi_targets_resolved') }}
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        target_value,
        target_low,
        target_high,
        source,
        plan_version,
        kpi_version,
        target_status,
        target_note,
        plan_file,
        allocated_from
    from targets
)

select * from final
