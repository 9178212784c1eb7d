{#- Assignments clipped to employment: an employee counts for a unit from
    greatest(assignment valid_from, hire_date) until least(assignment valid_to,
    termination_date + 1 day) (exclusive; null = open). termination_date is the last day employed. -#}
with

assignments as (
    select * from {{ ref('stg_hr__employee_assignments') }}
),

employees as (
    select * from {{ ref('stg_hr__employees') }}
),

clipped as (
    select
        assignments.assignment_id,
        assignments.employee_id,
        assignments.org_unit_id,
        assignments.role,
        case
            when employees.hire_date is not null and employees.hire_date > assignments.valid_from
                then employees.hire_date
            else assignments.valid_from
        end as effective_from,
        case
            when employees.termination_date is null then assignments.valid_to
            when assignments.valid_to is null
                or cast({{ dbt.dateadd('day', 1, 'employees.termination_date') }} as date) < assignments.valid_to
                then cast({{ dbt.dateadd('day', 1, 'employees.termination_date') }} as date)
            else assignments.valid_to
        end as effective_to,
        assignments.valid_from,
        assignments.valid_to
    from assignments
    inner join employees
        on employees.employee_id = assignments.employee_id
),

final as (
    select
        assignment_id,
        employee_id,
        org_unit_id,
        role,
        effective_from,
        effective_to,
        valid_from,
        valid_to
    from clipped
    where effective_to is null or effective_from < effective_to
)

select * from final
