{{ config(severity='warn') }}
{#- An employee should not count in two org units on the same day (overlapping effective
    assignments would count them twice in a parent's headcount). -#}
with

assignments as (
    select * from {{ ref('int_employee_assignments_effective') }}
)

select
    a.employee_id,
    a.assignment_id as assignment_id_a,
    b.assignment_id as assignment_id_b
from assignments as a
inner join assignments as b
    on a.employee_id = b.employee_id
    and a.assignment_id < b.assignment_id
    and a.effective_from < coalesce(b.effective_to, cast('9999-12-31' as date))
    and b.effective_from < coalesce(a.effective_to, cast('9999-12-31' as date))
