{#- Every version of every KPI in the catalog, with every catalog field. -#}
with versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

final as (
    select
        kpi_id,
        version,
        valid_from,
        valid_to,
        is_current,
        name,
        name_zh,
        description,
        objective_id,
        owner_org_unit_id,
        owner_employee_id,
        unit,
        direction,
        measure_type,
        measure_model,
        measure_expression,
        measure_filter,
        time_column,
        org_column,
        numerator,
        denominator,
        percentile,
        formula,
        is_additive,
        grains,
        scope,
        amber_threshold,
        score_cap,
        target_rule,
        target_rule_value,
        catalog_file,
        definition_hash,
        reason as version_reason,
        scale as measure_scale,
        scope_max_depth,
        target_month,
        target_quarter,
        target_year,
        target_low,
        target_high,
        target_org_units,
        target_unit_types,
        value_min,
        value_max,
        range_source
    from versions
)

select * from final
