{#- count_distinct and percentile KPIs, computed from the facts at every org level and grain
    (one GROUPING SETS pass per KPI version: see kpi_nonadditive_sql for why not one per fact model). -#}
with final as (
    {{ kpi_nonadditive_sql(ref('int_org_closure_daily'), ref('dim_date'), ref('int_kpi_as_of')) }}
)

select * from final
