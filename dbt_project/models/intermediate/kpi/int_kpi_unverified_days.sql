{#- (fact model, business day) that a failed source check can affect: a rejected partition, quarantined
    rows or a stale table upstream of the fact (marts/quality/dq_source_problems, mapped onto the fact
    models by kpi_unverified_days_sql() in macros/kpi/kpi_verification.sql), up to the as-of date. -#}
with unverified as (
    {{ kpi_unverified_days_sql() }}
),

final as (
    select measure_model, date_day from unverified
)

select * from final
