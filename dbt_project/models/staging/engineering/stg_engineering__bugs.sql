with

source as (
    select * from {{ source('raw_engineering', 'bugs') }}
),

renamed as (
    select
        cast(bug_id as {{ dbt.type_string() }}) as bug_id,
        {{ to_utc('created_at') }} as created_at_utc,
        cast(team_id as {{ dbt.type_string() }}) as team_id,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(component as {{ dbt.type_string() }}) as component,
        cast(release_id as {{ dbt.type_string() }}) as release_id,
        cast(status as {{ dbt.type_string() }}) as status,
        {{ to_utc('resolved_at') }} as resolved_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    -- no updated_at: a bug exported again on a later day supersedes the earlier export
    {{ deduplicate_latest('renamed', ['bug_id'], latest_version_order(none)) }}
),

final as (
    select
        bug_id,
        created_at_utc,
        {{ utc_to_local_date('created_at_utc') }} as created_date,
        team_id,
        severity,
        component,
        release_id,
        status,
        resolved_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
