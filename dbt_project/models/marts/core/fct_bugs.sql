with

bugs as (
    select * from {{ ref('stg_engineering__bugs') }}
),

final as (
    select
        bug_id,
        created_date,
        team_id as org_unit_id,
        severity,
        component,
        release_id,
        status,
        created_at_utc,
        resolved_at_utc
    from bugs
)

select * from final
