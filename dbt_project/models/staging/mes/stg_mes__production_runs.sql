with

source as (
    select * from {{ source('raw_mes', 'production_runs') }}
),

renamed as (
    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(line_id as {{ dbt.type_string() }}) as line_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        {{ to_utc('started_at') }} as started_at_utc,
        {{ to_utc('finished_at') }} as finished_at_utc,
        cast(planned_qty as bigint) as planned_qty,
        cast(produced_qty as bigint) as produced_qty,
        cast(defective_qty as bigint) as defective_qty,
        cast(promised_date as date) as promised_date,
        cast(delivered_date as date) as delivered_date,
        cast({{ adapter.quote('date') }} as date) as _partition_date,
        {{ to_utc('_loaded_at') }} as _loaded_at,
        cast(_source as {{ dbt.type_string() }}) as _source,
        cast(_batch_id as {{ dbt.type_string() }}) as _batch_id,
        cast(_row_number as bigint) as _row_number
    from source
),

deduplicated as (
    -- no updated_at: the latest partition (then load, then row) wins
    {{ deduplicate_latest('renamed', ['run_id'], latest_version_order(none)) }}
),

final as (
    select
        run_id,
        line_id,
        product_id,
        started_at_utc,
        finished_at_utc,
        {{ utc_to_local_date('finished_at_utc') }} as finish_date,
        planned_qty,
        produced_qty,
        defective_qty,
        promised_date,
        delivered_date,
        _partition_date,
        _loaded_at,
        _source,
        _batch_id
    from deduplicated
)

select * from final
