"""The floor: the least work the nightly job needs for four KPIs' actuals, as ONE DuckDB query.

It reads the raw Parquet lake once, keeps the latest version of every key, applies the fact rules
and rolls up along the org hierarchy valid on each fact's day: net revenue, new contracts, active
customers and complaint rate for every org unit at month grain (the KPI version of the period).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.extract.lake import partition_glob

FLOOR_KPIS = ("net_revenue", "new_contracts", "active_customers", "complaint_rate")
#: The raw tables the floor (and its pandas twin) read.
FLOOR_TABLES = (("hr", "org_units"), ("erp", "orders"), ("erp", "order_lines"), ("erp", "returns"),
                ("servicedesk", "tickets"))
#: complaint_rate v2 (catalog/customer.yml) is valid from this day: a month is evaluated with the
#: version valid on its last day (or on the as-of date while it runs).
COMPLAINT_RATE_V2_FROM = date(2025, 7, 1)

#: The least work the nightly job needs for these actuals: read the raw lake once, keep the latest
#: version of every key, apply the fact rules (cancelled lines count 0, returns subtract their refund
#: on the return's local date), roll up along the org hierarchy valid on the fact's date.
FLOOR_SQL = """
with
org_versions as (
    select org_unit_id, parent_org_unit_id, valid_from, valid_to
    from read_parquet($org_units, hive_partitioning = true)
    qualify row_number() over (partition by org_unit_id, valid_from
                               order by updated_at desc nulls last, "date" desc, _loaded_at desc, _row_number desc) = 1
),
days as (
    select cast(unnest(generate_series(cast($start as date), cast($as_of as date), interval 1 day)) as date) as d
),
units_daily as (
    select days.d, o.org_unit_id, o.parent_org_unit_id
    from days
    inner join org_versions as o on o.valid_from <= days.d and (o.valid_to is null or days.d < o.valid_to)
),
closure as (
    -- the hierarchy valid on each day: the unit itself and its ancestors (four levels)
    select d, org_unit_id as descendant_id, org_unit_id as ancestor_id from units_daily
    union all
    select u.d, u.org_unit_id, p1.org_unit_id
    from units_daily as u
    inner join units_daily as p1 on p1.d = u.d and p1.org_unit_id = u.parent_org_unit_id
    union all
    select u.d, u.org_unit_id, p2.org_unit_id
    from units_daily as u
    inner join units_daily as p1 on p1.d = u.d and p1.org_unit_id = u.parent_org_unit_id
    inner join units_daily as p2 on p2.d = u.d and p2.org_unit_id = p1.parent_org_unit_id
    union all
    select u.d, u.org_unit_id, p3.org_unit_id
    from units_daily as u
    inner join units_daily as p1 on p1.d = u.d and p1.org_unit_id = u.parent_org_unit_id
    inner join units_daily as p2 on p2.d = u.d and p2.org_unit_id = p1.parent_org_unit_id
    inner join units_daily as p3 on p3.d = u.d and p3.org_unit_id = p2.parent_org_unit_id
),
orders as (
    select order_id, customer_id, org_unit_id, order_type, status = 'cancelled' as is_cancelled,
           cast(timezone($tz, order_ts) as date) as order_date
    from read_parquet($orders, hive_partitioning = true)
    qualify row_number() over (partition by order_id
                               order by updated_at desc nulls last, "date" desc, _loaded_at desc, _row_number desc) = 1
),
lines as (
    select order_line_id, order_id, quantity, unit_price, discount_pct, is_cancelled = 1 as is_cancelled
    from read_parquet($order_lines, hive_partitioning = true)
    qualify row_number() over (partition by order_line_id
                               order by updated_at desc nulls last, "date" desc, _loaded_at desc, _row_number desc) = 1
),
returns as (
    select order_line_id, refund_amount, cast(timezone($tz, return_ts) as date) as return_date
    from read_parquet($returns, hive_partitioning = true)
    qualify row_number() over (partition by return_id
                               order by updated_at desc nulls last, "date" desc, _loaded_at desc, _row_number desc) = 1
),
tickets as (
    select team_id, is_complaint = 1 as is_complaint, priority, cast(timezone($tz, opened_at) as date) as opened_date
    from read_parquet($tickets, hive_partitioning = true)
    qualify row_number() over (partition by ticket_id
                               order by updated_at desc nulls last, "date" desc, _loaded_at desc, _row_number desc) = 1
),
line_facts as (
    select lines.order_line_id, orders.org_unit_id, orders.order_date,
           case when lines.is_cancelled or orders.is_cancelled then 0
                else round(lines.quantity * lines.unit_price * (1 - lines.discount_pct), 2) end as net_amount
    from lines
    inner join orders on orders.order_id = lines.order_id
),
additive_daily as (
    -- (KPI, leaf unit, day): value or numerator, denominator (v1 and v2 of complaint_rate)
    select 'net_revenue' as kpi_id, org_unit_id, d, sum(amount) as num,
           cast(null as double) as den, cast(null as double) as den_v2
    from (
        select org_unit_id, order_date as d, net_amount as amount from line_facts
        union all
        select line_facts.org_unit_id, returns.return_date, -round(returns.refund_amount, 2)
        from returns
        inner join line_facts on line_facts.order_line_id = returns.order_line_id
    ) as revenue_events
    group by org_unit_id, d
    union all
    select 'new_contracts', org_unit_id, order_date,
           count(*) filter (where order_type = 'contract' and not is_cancelled), null, null
    from orders
    group by org_unit_id, order_date
    union all
    select 'complaint_rate', team_id, opened_date, count(*) filter (where is_complaint), count(*),
           count(*) filter (where priority <> 'P4' or is_complaint)
    from tickets
    group by team_id, opened_date
),
additive_monthly as (
    select a.kpi_id, c.ancestor_id as org_unit_id, date_trunc('month', a.d) as period_start,
           sum(a.num) as num, sum(a.den) as den, sum(a.den_v2) as den_v2
    from additive_daily as a
    inner join closure as c on c.d = a.d and c.descendant_id = a.org_unit_id
    group by all
),
active_customers as (
    select c.ancestor_id as org_unit_id, date_trunc('month', o.order_date) as period_start,
           count(distinct o.customer_id) as customers
    from orders as o
    inner join closure as c on c.d = o.order_date and c.descendant_id = o.org_unit_id
    where not o.is_cancelled
    group by all
)
select kpi_id, org_unit_id, cast(period_start as date) as period_start,
       case when kpi_id = 'complaint_rate'
            then num / nullif(case when period_start >= cast($v2_from as date) then den_v2 else den end, 0)
            else num end as actual_value,
       case when kpi_id = 'complaint_rate' then num end as numerator,
       case when kpi_id = 'complaint_rate'
            then case when period_start >= cast($v2_from as date) then den_v2 else den end end as denominator
from additive_monthly
union all
select 'active_customers', org_unit_id, cast(period_start as date), cast(customers as double), null, null
from active_customers
"""


def floor_actuals(lake_dir: Path, start: date, as_of: date, timezone: str) -> tuple[pd.DataFrame, float]:
    """Run FLOOR_SQL; returns (data frame, seconds of the query alone)."""
    con = duckdb.connect()
    started = time.perf_counter()
    frame = con.execute(FLOOR_SQL, {
        **{table: partition_glob(lake_dir, source, table) for source, table in FLOOR_TABLES},
        "start": start.isoformat(), "as_of": as_of.isoformat(), "tz": timezone,
        "v2_from": COMPLAINT_RATE_V2_FROM.isoformat(),
    }).df()
    seconds = time.perf_counter() - started
    con.close()
    return frame, seconds
