{#-
    Attainment and status: the contract of docs/warehouse.md "Attainment".
    Pinned by the unit tests of int_kpi_attainment_scored and kpi_scorecard.
-#}

{#- Attainment of `actual` against a target, by direction. Null without a target or an actual. -#}
{% macro kpi_attainment(direction, actual, target, target_low, target_high) -%}
    case
        when {{ actual }} is null then null
        when {{ direction }} = 'higher_is_better' then
            {{ actual }} / nullif({{ target }}, 0)
        when {{ direction }} = 'lower_is_better' then
            case
                when {{ target }} is null or {{ target }} = 0 then null
                else greatest(0, 2 - {{ actual }} / {{ target }})
            end
        when {{ direction }} = 'target_range' then
            case
                when {{ target_low }} is null or {{ target_high }} is null or {{ target_high }} <= {{ target_low }} then null
                when {{ actual }} between {{ target_low }} and {{ target_high }} then 1.0
                when {{ actual }} < {{ target_low }} then
                    greatest(0, 1 - ({{ target_low }} - {{ actual }}) / ({{ target_high }} - {{ target_low }}))
                else greatest(0, 1 - ({{ actual }} - {{ target_high }}) / ({{ target_high }} - {{ target_low }}))
            end
    end
{%- endmacro %}


{#- Status: met / at_risk / missed for complete periods, on_track / at_risk / off_track while running. -#}
{% macro kpi_status(attainment, amber, is_complete) -%}
    case
        when {{ attainment }} is null then null
        when {{ is_complete }} then
            case
                when {{ attainment }} >= 1 then 'met'
                when {{ attainment }} >= coalesce({{ amber }}, 0.9) then 'at_risk'
                else 'missed'
            end
        else
            case
                when {{ attainment }} >= 1 then 'on_track'
                when {{ attainment }} >= coalesce({{ amber }}, 0.9) then 'at_risk'
                else 'off_track'
            end
    end
{%- endmacro %}


{#- Target phased to date. Complete periods and non-additive KPIs: the target itself. Running
    additive KPIs: target × last year's actual over the same elapsed days / last year's full-period
    actual; linear (elapsed / days in period) without last year's history (either amount missing or
    zero, e.g. a unit that only started late last year). -#}
{% macro kpi_expected_to_date(target, is_complete, is_time_additive, ly_to_date, ly_full, days_elapsed, days_in_period) -%}
    case
        when {{ target }} is null then null
        when {{ is_complete }} or not {{ is_time_additive }} then {{ target }}
        when {{ ly_full }} is not null and {{ ly_to_date }} is not null
            and {{ ly_full }} <> 0 and {{ ly_to_date }} <> 0 and ({{ ly_full }} > 0) = ({{ ly_to_date }} > 0) then
            {{ target }} * {{ ly_to_date }} / {{ ly_full }}
        else {{ target }} * cast({{ days_elapsed }} as double) / nullif({{ days_in_period }}, 0)
    end
{%- endmacro %}


{#- One KPI's contribution to a scorecard: weight × least(attainment, cap). -#}
{% macro kpi_weighted_score(weight, attainment, cap) -%}
    {{ weight }} * least({{ attainment }}, coalesce({{ cap }}, 1.2))
{%- endmacro %}
