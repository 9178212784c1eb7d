with

runs as (
    select * from {{ ref('stg_mes__production_runs') }}
),

products as (
    select * from {{ ref('stg_erp__products') }}
),

final as (
    select
        runs.run_id,
        runs.finish_date,
        runs.line_id as org_unit_id,
        runs.product_id,
        products.category as product_category,
        runs.planned_qty,
        runs.produced_qty,
        runs.defective_qty,
        runs.produced_qty - runs.defective_qty as good_qty,
        runs.promised_date,
        runs.delivered_date,
        runs.delivered_date is not null as is_delivered,
        coalesce(runs.delivered_date <= runs.promised_date, false) as is_on_time,
        runs.started_at_utc,
        runs.finished_at_utc
    from runs
    left join products
        on products.product_id = runs.product_id
)

select * from final
