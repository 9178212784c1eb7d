with

source as (
    select * from {{ source('raw_servicedesk', 'tickets') }}
),

renamed as (
    select
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        {{ to_utc('opened_at') }} as opened_at_utc,
        {{ to_utc('first_response_at') }} as first_response_at_utc,
        {{ to_utc('resolved_at') }} as resolved_at_utc,
        cast(priority as {{ dbt.type_string() }}) as priority,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(subject as {{ dbt.type_string() }}) as subject,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(team_id as {{ dbt.type_string() }}) as team_id,
        cast(agent_id as {{ dbt.type_string() }}) as agent_id,
        cast(csat as integer) as csat,
        cast(is_complaint as boolean) as is_complaint,
        {{ to_utc('updated_at') }} as updated_at_utc,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['ticket_id'], latest_version_order()) }}
),

final as (
    select
        ticket_id,
        opened_at_utc,
        {{ utc_to_local_date('opened_at_utc') }} as opened_date,
        first_response_at_utc,
        resolved_at_utc,
        {{ utc_to_local_date('resolved_at_utc') }} as resolved_date,
        priority,
        channel,
        category,
        subject,
        customer_id,
        team_id,
        agent_id,
        csat,
        is_complaint,
        updated_at_utc,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
