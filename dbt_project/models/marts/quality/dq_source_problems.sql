{#- Every unresolved failed source-side check, with the business days (first_day … last_day,
    inclusive; null when it feeds no fact, e.g. the finance plan) and the org unit (null = any unit)
    it can affect: int_dq_problem_rows grouped. Quarantined rows are grouped per partition, day and
    org unit. The trust flag of the KPI marts maps these onto KPI values
    (int_kpi_problem_effects → int_kpi_actuals_verified → kpi_attainment). -#}
with problem_rows as (
    select * from {{ ref('int_dq_problem_rows') }}
),

final as (
    select
        source,
        table_name as {{ adapter.quote('table') }},
        problem,
        check_name,
        partition_date,
        first_day,
        last_day,
        org_unit_id,
        case when count(rows_affected) = 0 then null else sum(rows_affected) end as rows_affected,
        min(message) as message
    from problem_rows
    group by source, table_name, problem, check_name, partition_date, first_day, last_day, org_unit_id
)

select * from final
