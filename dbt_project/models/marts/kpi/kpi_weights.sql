{#- KPI weights per org unit and validity interval (catalog defaults, overridden by the plan). -#}
with weights as (
    select * from {{ ref('int_kpi_weights_resolved') }}
),

final as (
    select org_unit_id, kpi_id, weight, source, plan_version, valid_from, valid_to from weights
)

select * from final
