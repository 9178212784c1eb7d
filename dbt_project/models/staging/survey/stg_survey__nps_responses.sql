with

source as (
    select * from {{ source('raw_survey', 'nps_responses') }}
),

renamed as (
    select
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        {{ to_utc('submitted_at') }} as submitted_at_utc,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(account_team_id as {{ dbt.type_string() }}) as account_team_id,
        cast(score as integer) as score,
        cast(touchpoint as {{ dbt.type_string() }}) as touchpoint,
        cast(comment as {{ dbt.type_string() }}) as comment,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    -- no updated_at: the latest partition (then load, then row) wins
    {{ deduplicate_latest('renamed', ['response_id'], latest_version_order(none)) }}
),

final as (
    select
        response_id,
        submitted_at_utc,
        {{ utc_to_local_date('submitted_at_utc') }} as response_date,
        customer_id,
        account_team_id,
        score,
        touchpoint,
        comment,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
