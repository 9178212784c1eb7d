{#- Attainment and status per docs/warehouse.md, via the macros kpi_expected_to_date(),
    kpi_attainment() and kpi_status(). Pinned by unit tests (see _kpi__models.yml). -#}
with inputs as (
    select * from {{ ref('int_kpi_attainment_inputs') }}
),

phased as (
    select
        *,
        {{ kpi_expected_to_date('target_value', 'is_complete', 'is_time_additive', 'ly_to_date', 'ly_full',
                                'days_elapsed', 'days_in_period') }} as expected_to_date
    from inputs
),

scored as (
    select
        *,
        {{ kpi_attainment('direction', 'actual_value', 'target_value', 'target_low', 'target_high') }} as attainment,
        {{ kpi_attainment('direction', 'actual_value', 'expected_to_date', 'target_low', 'target_high') }}
            as attainment_to_date
    from phased
),

final as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        period_end,
        eval_date,
        actual_value,
        target_value,
        target_low,
        target_high,
        expected_to_date,
        attainment,
        attainment_to_date,
        {{ kpi_status('attainment_to_date', 'amber_threshold', 'is_complete') }} as status,
        is_complete,
        kpi_version,
        is_verified,
        score_cap
    from scored
)

select * from final
