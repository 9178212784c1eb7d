with

source as (
    select * from {{ source('raw_finance', 'weights') }}
),

renamed as (
    select
        cast(plan_version as {{ dbt.type_string() }}) as plan_version,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(weight as double) as weight,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['plan_version', 'org_unit_id', 'kpi_id'], latest_version_order(none)) }}
),

final as (
    select
        plan_version,
        org_unit_id,
        kpi_id,
        weight,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
