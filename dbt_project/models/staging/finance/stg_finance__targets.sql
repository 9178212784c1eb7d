with

source as (
    select * from {{ source('raw_finance', 'targets') }}
),

renamed as (
    select
        cast(plan_version as {{ dbt.type_string() }}) as plan_version,
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        trim(cast(period as {{ dbt.type_string() }})) as period,
        cast(target_value as double) as target_value,
        cast(target_low as double) as target_low,
        cast(target_high as double) as target_high,
        cast(comment as {{ dbt.type_string() }}) as comment,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['plan_version', 'kpi_id', 'org_unit_id', 'period'], latest_version_order(none)) }}
),

final as (
    select
        plan_version,
        kpi_id,
        org_unit_id,
        period,
        target_value,
        target_low,
        target_high,
        comment,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id,
        _row_number
    from deduplicated
)

select * from final
