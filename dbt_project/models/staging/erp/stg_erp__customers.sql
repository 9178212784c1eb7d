with

source as (
    select * from {{ source('raw_erp', 'customers') }}
),

renamed as (
    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(name as {{ dbt.type_string() }}) as customer_name,
        cast(segment as {{ dbt.type_string() }}) as segment,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(account_team_id as {{ dbt.type_string() }}) as account_team_id,
        {{ to_utc('created_at') }} as created_at_utc,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['customer_id'], latest_version_order()) }}
),

final as (
    select
        customer_id,
        customer_name,
        segment,
        region,
        city,
        account_team_id,
        created_at_utc,
        {{ utc_to_local_date('created_at_utc') }} as created_date,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
