{#- One row per training record, attributed to the org unit the employee belonged to on the training
    date. Without an assignment on that date (a data gap), the nearest assignment is used - the last
    one that started before the date, else the first one - and is_unit_on_date is false. -#}
with

training_records as (
    select * from {{ ref('stg_hr__training_records') }}
),

assignments as (
    select * from {{ ref('int_employee_assignments_effective') }}
),

candidates as (
    select
        training_records.training_id,
        assignments.org_unit_id,
        assignments.effective_from <= training_records.training_date
            and (assignments.effective_to is null or training_records.training_date < assignments.effective_to)
            as is_unit_on_date,
        assignments.effective_from <= training_records.training_date as started_before,
        assignments.effective_from,
        assignments.assignment_id
    from training_records
    inner join assignments
        on assignments.employee_id = training_records.employee_id
),

chosen as (
    {{ deduplicate_latest('candidates', ['training_id'], [
        'case when is_unit_on_date then 1 else 0 end desc',
        'case when started_before then 1 else 0 end desc',
        'case when started_before then effective_from end desc nulls last',
        'effective_from asc',
        'assignment_id desc'
    ]) }}
),

final as (
    select
        training_records.training_id,
        training_records.training_date,
        training_records.employee_id,
        chosen.org_unit_id,
        training_records.hours,
        training_records.course,
        coalesce(chosen.is_unit_on_date, false) as is_unit_on_date
    from training_records
    left join chosen
        on chosen.training_id = training_records.training_id
)

select * from final
