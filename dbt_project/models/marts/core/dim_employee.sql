with

employees as (
    select * from {{ ref('stg_hr__employees') }}
),

assignments as (
    select * from {{ ref('stg_hr__employee_assignments') }}
),

latest_assignment as (
    -- the open assignment that started last; else the one that ended last
    {{ deduplicate_latest('assignments', ['employee_id'], [
        'case when valid_to is null then 1 else 0 end desc',
        'valid_from desc',
        'valid_to desc nulls first',
        'assignment_id desc'
    ]) }}
),

final as (
    select
        employees.employee_id,
        employees.full_name,
        employees.full_name_zh,
        employees.email,
        employees.job_title,
        employees.hire_date,
        employees.termination_date,
        latest_assignment.org_unit_id as current_org_unit_id,
        latest_assignment.role as current_assignment_role,
        employees.termination_date is null as is_active
    from employees
    left join latest_assignment
        on latest_assignment.employee_id = employees.employee_id
)

select * from final
