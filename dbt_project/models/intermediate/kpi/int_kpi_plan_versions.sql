{#- Finance plan versions: each is valid from its `valid_from` until the next version of the same
    fiscal year takes effect (exclusive; null = open). -#}
with plan_info as (
    select * from {{ ref('stg_finance__plan_info') }}
),

final as (
    select
        cast(plan_version as {{ dbt.type_string() }}) as plan_version,
        cast(fiscal_year as integer) as fiscal_year,
        cast(valid_from as date) as valid_from,
        lead(cast(valid_from as date)) over (
            partition by fiscal_year order by valid_from, plan_version
        ) as valid_to
    from plan_info
)

select * from final
