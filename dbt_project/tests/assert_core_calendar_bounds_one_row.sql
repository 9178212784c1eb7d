{#- int_calendar_bounds is cross-joined by other models: it must hold exactly one row, with the
    business dates inside the spine. -#}
with

bounds as (
    select * from {{ ref('int_calendar_bounds') }}
),

checks as (
    select
        count(*) as n_rows,
        sum(case when first_business_date < spine_start or last_business_date > spine_end
                 or first_business_date > last_business_date then 1 else 0 end) as n_bad
    from bounds
)

select * from checks where n_rows <> 1 or n_bad > 0
