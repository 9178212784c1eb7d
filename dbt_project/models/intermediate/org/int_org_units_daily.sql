{#- The org unit row (SCD2) valid on each day of the date spine: one row per day and unit. -#}
with

date_spine as (
    select * from {{ ref('int_date_spine') }}
),

org_units as (
    select * from {{ ref('stg_hr__org_units') }}
),

final as (
    select
        date_spine.date_day,
        org_units.org_unit_id,
        org_units.parent_org_unit_id,
        org_units.unit_type,
        org_units.valid_from
    from date_spine
    inner join org_units
        on org_units.valid_from <= date_spine.date_day
        and (org_units.valid_to is null or date_spine.date_day < org_units.valid_to)
)

select * from final
