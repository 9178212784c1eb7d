with

releases as (
    select * from {{ ref('stg_engineering__releases') }}
),

final as (
    select
        release_id,
        release_date,
        team_id as org_unit_id,
        test_cases_executed,
        test_cases_failed,
        change_count,
        version,
        released_at_utc
    from releases
)

select * from final
