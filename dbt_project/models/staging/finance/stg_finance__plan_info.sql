with

source as (
    select * from {{ source('raw_finance', 'plan_info') }}
),

renamed as (
    select
        cast(plan_version as {{ dbt.type_string() }}) as plan_version,
        cast(fiscal_year as integer) as fiscal_year,
        cast(valid_from as date) as valid_from,
        cast(approved_by as {{ dbt.type_string() }}) as approved_by,
        cast({{ adapter.quote('file') }} as {{ dbt.type_string() }}) as workbook_file,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    {{ deduplicate_latest('renamed', ['plan_version'], latest_version_order(none)) }}
),

final as (
    select
        plan_version,
        fiscal_year,
        valid_from,
        approved_by,
        workbook_file,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
