{#- Every day of the calendar range (int_calendar_bounds.spine_start … spine_end). -#}
with

bounds as (
    select * from {{ ref('int_calendar_bounds') }}
),

days as (
    {{ date_spine_rows('spine_start', 'spine_end', 'bounds') }}
),

final as (
    select date_day from days
)

select * from final
