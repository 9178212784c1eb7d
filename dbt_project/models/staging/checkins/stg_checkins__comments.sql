with

source as (
    select * from {{ source('raw_checkins', 'comments') }}
),

renamed as (
    select
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(grain as {{ dbt.type_string() }}) as grain,
        cast(period_start as date) as period_start,
        cast(author as {{ dbt.type_string() }}) as author,
        cast(comment as {{ dbt.type_string() }}) as comment,
        cast(status_override as {{ dbt.type_string() }}) as status_override,
        {{ to_utc('created_at') }} as created_at_utc,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_row_number as bigint) as _row_number
    from source
),

final as (
    select * from renamed
)

select * from final
