-- Analyst queries on the published marts (schema `marts`), one statement each. Run them with
-- duckdb data/serving/kpi.duckdb (read-only) or any SQL client. Tested on the mini warehouse by
-- tests/kpi/test_kpi_engine.py.

-- 1. Which departments are behind on revenue this quarter, and by how much?
--    (the latest quarter; while it runs, "behind" compares with the target phased to date)
select
    a.org_unit_id,
    u.name as department,
    a.actual_value as net_revenue_to_date,
    a.expected_to_date,
    a.actual_value - a.expected_to_date as gap_to_date,
    a.target_value as quarter_target,
    a.status
from marts.kpi_attainment as a
inner join marts.dim_org_unit as u on u.org_unit_id = a.org_unit_id and u.is_current
where a.kpi_id = 'net_revenue'
    and a.grain = 'quarter'
    and a.period_start = (select max(period_start) from marts.kpi_attainment where grain = 'quarter')
    and u.unit_type = 'department'
    and a.actual_value < a.expected_to_date
order by gap_to_date;

-- 2. Team league table for the last complete month: score, rank among siblings, KPIs scored.
select
    s.parent_org_unit_id,
    s.org_unit_id,
    s.score,
    s.rank_among_siblings,
    s.kpi_count,
    s.weight_total
from marts.kpi_scorecard as s
inner join marts.dim_org_unit as u on u.org_unit_id = s.org_unit_id and u.is_current
where s.grain = 'month'
    and s.is_complete
    and s.period_start = (select max(period_start) from marts.kpi_scorecard where grain = 'month' and is_complete)
    and u.unit_type = 'team'
order by s.parent_org_unit_id, s.rank_among_siblings;

-- 3. Every KPI at risk or off track this month, with its owner (the responsibility matrix).
select
    a.kpi_id,
    d.name as kpi,
    a.org_unit_id,
    d.owner_org_unit_id,
    d.owner_employee_id,
    a.actual_value,
    a.expected_to_date,
    a.status
from marts.kpi_attainment as a
inner join marts.kpi_definitions as d on d.kpi_id = a.kpi_id and d.version = a.kpi_version
where a.grain = 'month'
    and a.period_start = (select max(period_start) from marts.kpi_attainment where grain = 'month')
    and a.status in ('at_risk', 'off_track', 'missed')
order by a.kpi_id, a.org_unit_id;

-- 4. Monthly NPS of the sales division with the promoter and detractor shares it is derived from.
select
    n.period_start as month,
    p.actual_value as promoters_pct,
    t.actual_value as detractors_pct,
    n.actual_value as nps,
    p.denominator as responses,
    n.is_verified
from marts.kpi_actuals as n
inner join marts.kpi_actuals as p
    on p.kpi_id = 'promoters_pct' and p.org_unit_id = n.org_unit_id
    and p.grain = n.grain and p.period_start = n.period_start
inner join marts.kpi_actuals as t
    on t.kpi_id = 'detractors_pct' and t.org_unit_id = n.org_unit_id
    and t.grain = n.grain and t.period_start = n.period_start
where n.kpi_id = 'nps' and n.org_unit_id = 'DIV-SALES' and n.grain = 'month'
order by month;

-- 5. Which KPIs changed definition, when, why — and where the year's targets come from.
select
    d.kpi_id,
    d.version,
    d.valid_from,
    d.version_reason,
    count(t.kpi_id) filter (where t.source = 'set') as targets_set_by_plan,
    count(t.kpi_id) filter (where t.source = 'allocated') as targets_allocated,
    count(t.kpi_id) filter (where t.source = 'catalog_rule') as targets_from_catalog_rule
from marts.kpi_definitions as d
left join marts.kpi_targets as t
    on t.kpi_id = d.kpi_id and t.kpi_version = d.version and t.grain = 'year'
group by d.kpi_id, d.version, d.valid_from, d.version_reason
order by d.version desc, d.kpi_id;
