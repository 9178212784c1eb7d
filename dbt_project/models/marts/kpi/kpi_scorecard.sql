{#- Scorecard per org unit and month/quarter/year period: Σ weight × least(attainment, cap) / Σ weight
    over the unit's weighted KPIs that are judged (an attainment, to date while running); the weight
    of those that are not and why (`weight_unscored`, `unscored_kpis`: no data, target rejected or
    missing) — never silently left out; rank among the siblings under the same parent on the period's
    evaluation day, 1 = best. -#}
with inputs as (
    select * from {{ ref('int_kpi_scorecard_inputs') }}
),

scores as (
    select
        org_unit_id,
        max(parent_org_unit_id) as parent_org_unit_id,
        grain,
        period_start,
        bool_and(is_complete) as is_complete,
        sum(case when attainment is not null then {{ kpi_weighted_score('weight', 'attainment', 'score_cap') }} end)
            / nullif(sum(case when attainment is not null then weight end), 0) as score,
        count(attainment) as kpi_count,
        coalesce(sum(case when attainment is not null then weight end), 0) as weight_total,
        coalesce(sum(case when attainment is null then weight end), 0) as weight_unscored,
        {{ ordered_string_agg("case when attainment is null then kpi_id || ' (' || coalesce(unscored_reason, 'no attainment') || ')' end",
                              "', '", 'kpi_id') }} as unscored_kpis
    from inputs
    group by org_unit_id, grain, period_start
),

final as (
    select
        org_unit_id,
        parent_org_unit_id,
        grain,
        period_start,
        score,
        kpi_count,
        weight_total,
        weight_unscored,
        unscored_kpis,
        case
            when score is not null then rank() over (
                partition by parent_org_unit_id, grain, period_start, score is null
                order by score desc
            )
        end as rank_among_siblings,
        is_complete
    from scores
)

select * from final
