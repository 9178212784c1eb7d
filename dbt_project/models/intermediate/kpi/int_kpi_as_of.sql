{#- The as-of date of this build (one row): var `as_of_date`, else the latest business date in the facts. -#}
with as_of as (
    select {{ kpi_as_of_date_sql() }} as as_of_date
),

final as (
    select cast(as_of_date as date) as as_of_date from as_of
)

select * from final
