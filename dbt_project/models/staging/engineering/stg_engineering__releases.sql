with

source as (
    select * from {{ source('raw_engineering', 'releases') }}
),

renamed as (
    select
        cast(release_id as {{ dbt.type_string() }}) as release_id,
        cast(team_id as {{ dbt.type_string() }}) as team_id,
        {{ to_utc('released_at') }} as released_at_utc,
        cast(version as {{ dbt.type_string() }}) as version,
        cast(test_cases_executed as bigint) as test_cases_executed,
        cast(test_cases_failed as bigint) as test_cases_failed,
        cast(change_count as bigint) as change_count,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['release_id'], latest_version_order(none)) }}
),

final as (
    select
        release_id,
        team_id,
        released_at_utc,
        {{ utc_to_local_date('released_at_utc') }} as release_date,
        version,
        test_cases_executed,
        test_cases_failed,
        change_count,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
