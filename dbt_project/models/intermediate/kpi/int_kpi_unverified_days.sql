{#- (fact model, day) whose upstream raw partitions were rejected or had quarantined rows. -#}
with unverified as (
    {{ kpi_unverified_days_sql() }}
),

final as (
    select measure_model, date_day from unverified
)

select * from final
