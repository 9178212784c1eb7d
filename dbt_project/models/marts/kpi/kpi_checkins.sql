{#- Owners' check-ins, one row per comment, for the review and attainment reports. Comments about a
    KPI or org unit the warehouse doesn't know are kept (flagged), never dropped. -#}
with

comments as (
    select * from {{ ref('stg_checkins__comments') }}
),

definitions as (
    select distinct kpi_id from {{ ref('kpi_definitions') }}
),

units as (
    select distinct org_unit_id from {{ ref('dim_org_unit') }}
),

final as (
    select
        comments.kpi_id,
        comments.org_unit_id,
        comments.grain,
        comments.period_start,
        comments.author,
        comments.comment,
        comments.status_override,
        comments.created_at_utc as created_at,
        definitions.kpi_id is not null and units.org_unit_id is not null as is_known_kpi_and_unit,
        comments._source as source_file,
        comments._row_number as source_row
    from comments
    left join definitions on definitions.kpi_id = comments.kpi_id
    left join units on units.org_unit_id = comments.org_unit_id
)

select * from final
