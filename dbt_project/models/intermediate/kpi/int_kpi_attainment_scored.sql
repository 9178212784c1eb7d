{#- Attainment and status per docs/warehouse.md, via the macros kpi_expected_to_date(),
    kpi_attainment() and kpi_status(). Pinned by unit tests (see _kpi__models.yml).

    A value is judged only when it can be: its period has data for every day (data_status ok) and
    its target is usable (target_status ok); otherwise the status is null and the row says why.
    Trust: a value no unresolved source problem can change is verified; one whose possible range
    (value_low … value_high, int_kpi_actuals_verified) gives the same status everywhere is verified
    too, with a note — the problems cannot change what the status says. -#}
with inputs as (
    select * from {{ ref('int_kpi_attainment_inputs') }}
),

phased as (
    select
        *,
        {{ kpi_expected_to_date('target_value', 'is_complete', 'is_accumulating', 'ly_to_date', 'ly_full',
                                'days_elapsed', 'days_in_period') }} as expected_to_date,
        data_status = 'ok' and coalesce(target_status, 'missing') = 'ok' as is_judged
    from inputs
),

scored as (
    select
        *,
        {{ kpi_attainment('direction', 'actual_value', 'target_value', 'target_low', 'target_high') }} as attainment,
        {{ kpi_attainment('direction', 'actual_value', 'expected_to_date', 'target_low', 'target_high') }}
            as attainment_to_date,
        -- the three points of the possible range that decide whether the status can change: both
        -- ends and (target ranges) the point nearest the middle of the target range
        {{ kpi_attainment('direction', 'value_low', 'expected_to_date', 'target_low', 'target_high') }} as attainment_low,
        {{ kpi_attainment('direction', 'value_high', 'expected_to_date', 'target_low', 'target_high') }} as attainment_high,
        {{ kpi_attainment('direction', 'greatest(value_low, least(value_high, (target_low + target_high) / 2))',
                          'expected_to_date', 'target_low', 'target_high') }} as attainment_mid
    from phased
),

statuses as (
    select
        *,
        case when is_judged then {{ kpi_status('attainment_to_date', 'amber_threshold', 'is_complete') }} end as status,
        {{ kpi_status('attainment_low', 'amber_threshold', 'is_complete') }} as status_low,
        {{ kpi_status('attainment_high', 'amber_threshold', 'is_complete') }} as status_high,
        case when direction = 'target_range'
            then {{ kpi_status('attainment_mid', 'amber_threshold', 'is_complete') }} end as status_mid
    from scored
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
        status,
        is_complete,
        kpi_version,
        -- verified: nothing can change the value, or nothing can change its status
        is_verified or (
            status is not null and value_low is not null and value_high is not null
            and status_low = status and status_high = status and coalesce(status_mid, status) = status
        ) as is_verified,
        is_verified as is_value_verified,
        case
            when not is_verified and status is not null and value_low is not null and value_high is not null
                and status_low = status and status_high = status and coalesce(status_mid, status) = status
                then 'verified with open source problems: the value lies between ' || {{ message_number('value_low') }}
                    || ' and ' || {{ message_number('value_high') }} || ' once they are fixed, and the status is '
                    || status || ' anywhere in that range (' || unverified_reason || ')'
        end as verification_note,
        first_unverified_day,
        value_low,
        value_high,
        unverified_reason,
        unverified_tables,
        data_status,
        data_start,
        target_source,
        target_status,
        target_note,
        plan_version,
        plan_file,
        score_cap
    from statuses
)

select * from final
