{#- Attainment and status per KPI × org unit × month/quarter/year period.

    A status change is held back while the data is unverified: for a value with is_verified = false
    (a failed source check on a day of the period, see int_kpi_actuals_verified), `status` is the
    status of the last verified evaluation — the period evaluated as of the day before its first
    unverified day, exactly as that day's build computes a running period: actual to date from the
    daily parts (sum, count, last, ratio and derived KPIs over them), target phased to that day
    (kpi_expected_to_date), kpi_attainment(), kpi_status(). Null when the period has no verified day
    (its first day is unverified) or the KPI's measure cannot be evaluated from daily parts
    (count_distinct, percentile, and derived KPIs over them). The evaluation uses the KPI version
    valid on that day and the period's current target.
    `computed_status` keeps what the current (unverified) numbers say; `is_status_held_back` says the
    status is not theirs; `status_as_of` is the as-of day of the evaluation the status comes from. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set derived = catalog['versions'] | selectattr('measure_type', 'equalto', 'derived') | list -%}
{%- set refs = [] -%}
{%- for v in derived -%}{%- for r in v['derived_refs'] if r not in refs -%}{%- do refs.append(r) -%}{%- endfor -%}{%- endfor -%}
{#- every KPI an evaluation of a KPI needs: itself and, for derived KPIs, what they reference (transitively) -#}
{%- set direct = {} -%}
{%- for v in catalog['versions'] -%}
    {%- if v['kpi_id'] not in direct -%}{%- do direct.update({v['kpi_id']: []}) -%}{%- endif -%}
    {%- for r in v['derived_refs'] if r not in direct[v['kpi_id']] -%}{%- do direct[v['kpi_id']].append(r) -%}{%- endfor -%}
{%- endfor -%}
{%- set needs = [] -%}
{%- for kpi_id in direct -%}
    {%- set found = [kpi_id] -%}
    {%- for _ in range(catalog['derived_levels'] + 1) -%}
        {%- for k in found -%}{%- for r in direct.get(k, []) if r not in found -%}{%- do found.append(r) -%}{%- endfor -%}{%- endfor -%}
    {%- endfor -%}
    {%- for k in found -%}{%- do needs.append({'kpi_id': kpi_id, 'needed_kpi_id': k}) -%}{%- endfor -%}
{%- endfor -%}

with scored as (
    select * from {{ ref('int_kpi_attainment_scored') }}
),

verified as (
    select * from {{ ref('int_kpi_actuals_verified') }}
),

versions as (
    select * from {{ ref('int_kpi_catalog_versions') }}
),

daily_parts as (
    select * from {{ ref('int_kpi_additive_rollup') }}
    where grain = 'day'
),

kpi_needs as (
    {{ kpi_rows(needs, [('kpi_id', 'string'), ('needed_kpi_id', 'string')]) }}
),

held as (
    -- unverified values with a verified day before the first unverified one: evaluate as of that day
    select
        scored.kpi_id,
        scored.org_unit_id,
        scored.grain,
        scored.period_start,
        scored.period_end,
        scored.target_value,
        scored.target_low,
        scored.target_high,
        {{ kpi_add_days('verified.first_unverified_day', -1) }} as eval_day
    from scored
    inner join verified
        on verified.kpi_id = scored.kpi_id
        and verified.org_unit_id = scored.org_unit_id
        and verified.grain = scored.grain
        and verified.period_start = scored.period_start
    where not scored.is_verified
        and scored.status is not null
        and verified.first_unverified_day > scored.period_start
),

requests as (
    -- (KPI, unit, period, evaluation day) to evaluate, with the version valid on that day
    select distinct
        kpi_needs.needed_kpi_id as kpi_id,
        versions.version as kpi_version,
        versions.measure_type,
        versions.scale,
        held.org_unit_id,
        held.grain,
        held.period_start,
        held.eval_day
    from held
    inner join kpi_needs on kpi_needs.kpi_id = held.kpi_id
    inner join versions
        on versions.kpi_id = kpi_needs.needed_kpi_id
        and versions.valid_from <= held.eval_day
        and (versions.valid_to is null or held.eval_day < versions.valid_to)
),

parts_to_date as (
    select
        requests.kpi_id,
        requests.kpi_version,
        requests.org_unit_id,
        requests.grain,
        requests.period_start,
        requests.eval_day,
        sum(case when daily_parts.part = 'value' then daily_parts.value end) as value_sum,
        sum(case when daily_parts.part = 'value' and daily_parts.period_start = requests.eval_day
                 then daily_parts.value end) as value_last,
        sum(case when daily_parts.part = 'numerator' then daily_parts.value end) as numerator,
        sum(case when daily_parts.part = 'denominator' then daily_parts.value end) as denominator
    from requests
    inner join daily_parts
        on daily_parts.kpi_id = requests.kpi_id
        and daily_parts.kpi_version = requests.kpi_version
        and daily_parts.org_unit_id = requests.org_unit_id
        and daily_parts.period_start between requests.period_start and requests.eval_day
    group by 1, 2, 3, 4, 5, 6
),

level_0 as (
    select
        requests.kpi_id,
        requests.org_unit_id,
        requests.grain,
        requests.period_start,
        requests.eval_day,
        requests.measure_type,
        case
            when requests.measure_type in ('sum', 'count') then coalesce(parts_to_date.value_sum, 0)
            when requests.measure_type = 'last' then coalesce(parts_to_date.value_last, 0)
            when requests.measure_type = 'ratio'
                then requests.scale * coalesce(parts_to_date.numerator, 0) / nullif(coalesce(parts_to_date.denominator, 0), 0)
        end as actual_value
    from requests
    left join parts_to_date
        on parts_to_date.kpi_id = requests.kpi_id
        and parts_to_date.kpi_version = requests.kpi_version
        and parts_to_date.org_unit_id = requests.org_unit_id
        and parts_to_date.grain = requests.grain
        and parts_to_date.period_start = requests.period_start
        and parts_to_date.eval_day = requests.eval_day
    where requests.measure_type <> 'derived'
)
{%- for level in range(1, catalog['derived_levels'] + 1) %}
{%- set at_level = derived | selectattr('derived_level', 'equalto', level) | list %},

pivot_{{ level }} as (
    select
        org_unit_id,
        grain,
        period_start,
        eval_day
        {%- for r in refs %},
        max(case when kpi_id = '{{ r }}' then actual_value end) as {{ adapter.quote(r) }}
        {%- endfor %}
    from (
        {%- for prior in range(0, level) %}
        select kpi_id, org_unit_id, grain, period_start, eval_day, actual_value from level_{{ prior }}
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as known
    group by org_unit_id, grain, period_start, eval_day
),

level_{{ level }} as (
    select
        requests.kpi_id,
        requests.org_unit_id,
        requests.grain,
        requests.period_start,
        requests.eval_day,
        requests.measure_type,
        cast(case
            {%- for v in at_level %}
            when requests.kpi_id = '{{ v['kpi_id'] }}' and requests.kpi_version = {{ v['version'] }} then {{ kpi_catalog_sql(v['derived_sql']) }}
            {%- endfor %}
        end as double) as actual_value
    from requests
    left join pivot_{{ level }} as b
        on b.org_unit_id = requests.org_unit_id
        and b.grain = requests.grain
        and b.period_start = requests.period_start
        and b.eval_day = requests.eval_day
    where
        {%- for v in at_level %}
        (requests.kpi_id = '{{ v['kpi_id'] }}' and requests.kpi_version = {{ v['version'] }}){% if not loop.last %} or{% endif %}
        {%- endfor %}
)
{%- endfor %},

evaluated as (
    {%- for level in range(0, catalog['derived_levels'] + 1) %}
    select kpi_id, org_unit_id, grain, period_start, eval_day, measure_type, actual_value from level_{{ level }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

held_inputs as (
    select
        held.*,
        evaluated.measure_type,
        evaluated.actual_value,
        evaluated.measure_type in ('sum', 'count') as is_time_additive,
        {{ kpi_days_between('held.period_start', 'held.eval_day') }} + 1 as days_elapsed,
        {{ kpi_days_between('held.period_start', 'held.period_end') }} + 1 as days_in_period,
        versions.direction,
        versions.amber_threshold
    from held
    inner join evaluated
        on evaluated.kpi_id = held.kpi_id
        and evaluated.org_unit_id = held.org_unit_id
        and evaluated.grain = held.grain
        and evaluated.period_start = held.period_start
        and evaluated.eval_day = held.eval_day
    inner join versions
        on versions.kpi_id = held.kpi_id
        and versions.valid_from <= held.eval_day
        and (versions.valid_to is null or held.eval_day < versions.valid_to)
    where evaluated.measure_type not in ('count_distinct', 'percentile')
),

last_year_full as (
    -- last year's full period
    select
        held_inputs.kpi_id,
        held_inputs.org_unit_id,
        held_inputs.grain,
        held_inputs.period_start,
        held_inputs.days_elapsed,
        max(previous.actual_value) as ly_full
    from held_inputs
    left join verified as previous
        on previous.kpi_id = held_inputs.kpi_id
        and previous.org_unit_id = held_inputs.org_unit_id
        and previous.grain = held_inputs.grain
        and previous.period_start = {{ kpi_add_years('held_inputs.period_start', -1) }}
    where held_inputs.is_time_additive
    group by 1, 2, 3, 4, 5
),

last_year_to_date as (
    -- last year's actual over the same elapsed days (seasonal phasing)
    select
        elapsed.kpi_id,
        elapsed.org_unit_id,
        elapsed.grain,
        elapsed.period_start,
        elapsed.days_elapsed,
        sum(previous_days.actual_value) as ly_to_date
    from (
        select distinct kpi_id, org_unit_id, grain, period_start, days_elapsed
        from held_inputs
        where is_time_additive
    ) as elapsed
    left join verified as previous_days
        on previous_days.kpi_id = elapsed.kpi_id
        and previous_days.org_unit_id = elapsed.org_unit_id
        and previous_days.grain = 'day'
        and previous_days.period_start >= {{ kpi_add_years('elapsed.period_start', -1) }}
        and previous_days.period_start <= {{ kpi_add_days(kpi_add_years('elapsed.period_start', -1), 'elapsed.days_elapsed - 1') }}
    group by 1, 2, 3, 4, 5
),

last_year as (
    select
        last_year_full.kpi_id,
        last_year_full.org_unit_id,
        last_year_full.grain,
        last_year_full.period_start,
        last_year_full.ly_full,
        last_year_to_date.ly_to_date
    from last_year_full
    left join last_year_to_date
        on last_year_to_date.kpi_id = last_year_full.kpi_id
        and last_year_to_date.org_unit_id = last_year_full.org_unit_id
        and last_year_to_date.grain = last_year_full.grain
        and last_year_to_date.period_start = last_year_full.period_start
        and last_year_to_date.days_elapsed = last_year_full.days_elapsed
),

held_phased as (
    select
        held_inputs.*,
        {{ kpi_expected_to_date('held_inputs.target_value', 'false', 'held_inputs.is_time_additive',
                                'last_year.ly_to_date', 'last_year.ly_full', 'held_inputs.days_elapsed',
                                'held_inputs.days_in_period') }} as expected_to_date
    from held_inputs
    left join last_year
        on last_year.kpi_id = held_inputs.kpi_id
        and last_year.org_unit_id = held_inputs.org_unit_id
        and last_year.grain = held_inputs.grain
        and last_year.period_start = held_inputs.period_start
),

held_status as (
    select
        kpi_id,
        org_unit_id,
        grain,
        period_start,
        eval_day,
        {{ kpi_status(kpi_attainment('direction', 'actual_value', 'expected_to_date', 'target_low', 'target_high'),
                      'amber_threshold', 'false') }} as status
    from held_phased
),

final as (
    select
        scored.kpi_id,
        scored.org_unit_id,
        scored.grain,
        scored.period_start,
        scored.period_end,
        scored.actual_value,
        scored.target_value,
        scored.target_low,
        scored.target_high,
        scored.expected_to_date,
        scored.attainment,
        scored.attainment_to_date,
        case when scored.is_verified or scored.status is null then scored.status else held_status.status end as status,
        scored.is_complete,
        scored.kpi_version,
        scored.is_verified,
        scored.status as computed_status,
        not scored.is_verified and scored.status is not null as is_status_held_back,
        case
            when scored.is_verified then scored.eval_date
            when held_status.status is not null then held_status.eval_day
        end as status_as_of,
        scored.target_source,
        scored.target_status,
        scored.target_note,
        scored.plan_version,
        scored.plan_file,
        scored.data_status,
        scored.data_start,
        scored.value_low,
        scored.value_high,
        case when not scored.is_verified then scored.unverified_reason end as unverified_reason,
        case when not scored.is_verified then scored.unverified_tables end as unverified_tables,
        scored.verification_note
    from scored
    left join held_status
        on held_status.kpi_id = scored.kpi_id
        and held_status.org_unit_id = scored.org_unit_id
        and held_status.grain = scored.grain
        and held_status.period_start = scored.period_start
)

select * from final
