{#- Generic test (source-to-mart reconciliation): for an additive KPI (sum/count), the company
    root's yearly value in the mart equals the KPI's measure summed straight from its fact model
    (rows up to the as-of date, with the expression and filter of the version the year was
    evaluated with). E.g. net_revenue: Σ net_amount of fct_revenue_events. Rows returned = years
    that do not reconcile. -#}
{% test kpi_reconciles_to_fact(model, kpi_id, fact_model, tolerance=0.01) %}
{%- set fact_relation = ref(fact_model) -%}
{%- set as_of_relation = ref('int_kpi_as_of') -%}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set parts = [] -%}
{%- for pass in catalog['passes'] if pass['model'] == fact_model -%}
    {%- for p in pass['additive'] if p['kpi_id'] == kpi_id and p['part'] == 'value' and not p['semi_additive'] -%}
        {%- do parts.append({'pass': pass, 'part': p}) -%}
    {%- endfor -%}
{%- endfor -%}
with roots as (
    -- units that are nobody's descendant on a day (the company)
    select distinct closure.ancestor_id as org_unit_id
    from {{ ref('int_org_closure_daily') }} as closure
    where closure.depth = 0
        and not exists (
            select 1 from {{ ref('int_org_closure_daily') }} as above
            where above.date_day = closure.date_day
                and above.descendant_id = closure.ancestor_id
                and above.depth > 0
        )
),

mart_years as (
    select model.period_start, model.kpi_version, model.actual_value
    from {{ model }} as model
    where model.kpi_id = '{{ kpi_id }}'
        and model.grain = 'year'
        and model.org_unit_id in (select org_unit_id from roots)
),

fact_years as (
    {%- if parts | length == 0 %}
    select cast(null as date) as period_start, cast(null as integer) as kpi_version, cast(null as double) as total
    where 1 = 0
    {%- endif %}
    {%- for item in parts %}
    {%- set pass, p = item['pass'], item['part'] %}
    select
        cast(cast(extract(year from f.{{ pass['time_column'] }}) as {{ dbt.type_string() }}) || '-01-01' as date) as period_start,
        {{ p['version'] }} as kpi_version,
        cast({{ kpi_part_aggregate(p) }} as double) as total
    from {{ fact_relation }} as f
    cross join {{ as_of_relation }} as as_of
    where f.{{ pass['time_column'] }} <= as_of.as_of_date
    group by 1
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    mart_years.period_start,
    mart_years.kpi_version,
    mart_years.actual_value as mart_total,
    coalesce(fact_years.total, 0) as fact_total
from mart_years
left join fact_years
    on fact_years.period_start = mart_years.period_start
    and fact_years.kpi_version = mart_years.kpi_version
where abs(mart_years.actual_value - coalesce(fact_years.total, 0)) > {{ tolerance }}
{% endtest %}
