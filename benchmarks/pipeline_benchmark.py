"""Benchmark: the nightly pipeline against the physical floor, against pandas, and as data grows.

Not a timed test (docs/contributing.md): a script that builds the demo company at several scale
factors in temporary folders, runs the real pipeline on each, prints a Markdown table and writes it,
with a JSON twin, to ``benchmarks/out/`` (git-ignored). Issue 8 states the goals.

    python benchmarks/pipeline_benchmark.py --scales 1 3 10      # or: kpi bench --scales 1 3 10

Per scale factor, in one run:

- generate the demo company (reported on its own, not part of the nightly run);
- the full nightly run — one in-process Dagster run of the ``nightly`` job over the whole history but
  its last day, exactly what ``kpi backfill`` does — in a subprocess whose process tree (Python,
  the dbt subprocess) is sampled from ``/proc`` every 0.1 s for resident memory and CPU time; the
  Dagster event log gives each step's start and end, dbt's ``run_results.json`` splits the dbt step
  into models and tests. Phases: extract (the ``raw_*`` steps), dbt build (models, snapshots, seeds,
  dbt's start-up), checks (dbt tests), publish (serving copies), reports (reports and alerts),
  Dagster (run set-up — one planned event per asset partition — and the gaps between steps);
- the incremental nightly run: ``kpi run --date <last day>`` on top of that history (the sources hold
  the last day already; the history run did not extract it);
- the floor: ONE hand-written DuckDB query over the raw Parquet lake computing four KPIs' actuals
  (net revenue, new contracts, active customers, complaint rate) for every org unit at month grain,
  with the org closure of the fact's own date and the KPI version of the period (``FLOOR_SQL``);
- pandas: the same actuals from the same Parquet files, as an analyst would write them;
- the three answers compared with each other and with ``marts.kpi_actuals`` of the serving copy;
- p50 / p95 latency of the example analyst queries (``docs/queries.sql``) on the serving copy.

Once per benchmark run: the fixed start-up — the same nightly job over a near-empty lake (scale 0.01,
a few days), i.e. what Dagster and dbt cost with (almost) no data.

Everything runs in subprocesses so that each measurement has its own peak memory; CPU time is
reported next to wall time because the machines we run on are shared (the load average at the start
and end of every phase is recorded too). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "benchmarks" / "out"
QUERIES_PATH = REPO_ROOT / "docs" / "queries.sql"
DBT_TARGET_DIR = REPO_ROOT / "dbt_project" / "target"
SCRIPT = Path(__file__).resolve()

DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 11, 19)
FLOOR_KPIS = ("net_revenue", "new_contracts", "active_customers", "complaint_rate")
#: The raw tables the floor (and its pandas twin) read.
FLOOR_TABLES = (("hr", "org_units"), ("erp", "orders"), ("erp", "order_lines"), ("erp", "returns"),
                ("servicedesk", "tickets"))
#: complaint_rate v2 (catalog/customer.yml) is valid from this day: a month is evaluated with the
#: version valid on its last day (or on the as-of date while it runs).
COMPLAINT_RATE_V2_FROM = date(2025, 7, 1)

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- the floor ------------------------------------------------------------------------------------

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


def floor_actuals(lake_dir: Path, start: date, as_of: date, timezone: str):
    """Run FLOOR_SQL; returns (data frame, seconds of the query alone)."""
    import duckdb

    from pipelines.extract.lake import partition_glob

    con = duckdb.connect()
    started = time.perf_counter()
    frame = con.execute(FLOOR_SQL, {
        **{table: partition_glob(lake_dir, source, table) for source, table in FLOOR_TABLES}, "start": start.isoformat(), "as_of": as_of.isoformat(), "tz": timezone,
        "v2_from": COMPLAINT_RATE_V2_FROM.isoformat(),
    }).df()
    seconds = time.perf_counter() - started
    con.close()
    return frame, seconds


# --- the same in pandas -----------------------------------------------------------------------------

def pandas_actuals(lake_dir: Path, start: date, as_of: date, timezone: str):
    """The floor's actuals the way an analyst writes them in pandas (read, de-duplicate, merge, group)."""
    import numpy as np
    import pandas as pd

    from pipelines.extract.lake import table_dir

    started = time.perf_counter()
    order = ["updated_at", "date", "_loaded_at", "_row_number"]

    def latest(source: str, table: str, key: list[str], columns: list[str]) -> pd.DataFrame:
        frame = pd.read_parquet(table_dir(lake_dir, source, table), columns=columns + order)
        frame["date"] = pd.to_datetime(frame["date"].astype(str))
        frame = frame.sort_values(order, na_position="first", kind="stable")
        return frame.drop_duplicates(key, keep="last").drop(columns=order)

    def local_day(ts: pd.Series) -> pd.Series:
        return ts.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")

    # org closure per day
    org = latest("hr", "org_units", ["org_unit_id", "valid_from"],
                 ["org_unit_id", "parent_org_unit_id", "valid_from", "valid_to"])
    org["valid_from"] = pd.to_datetime(org["valid_from"])
    org["valid_to"] = pd.to_datetime(org["valid_to"])
    days = pd.DataFrame({"d": pd.date_range(start, as_of, freq="D").astype("datetime64[ns]")})
    daily = days.merge(org, how="cross")
    daily = daily[(daily["valid_from"] <= daily["d"]) & (daily["valid_to"].isna() | (daily["d"] < daily["valid_to"]))]
    daily = daily[["d", "org_unit_id", "parent_org_unit_id"]]
    level = daily.rename(columns={"org_unit_id": "descendant_id"}).assign(ancestor_id=lambda f: f["descendant_id"])
    parts = [level[["d", "descendant_id", "ancestor_id"]]]
    current = daily.rename(columns={"org_unit_id": "descendant_id", "parent_org_unit_id": "ancestor_id"})
    while True:
        current = current.dropna(subset=["ancestor_id"])
        if current.empty:
            break
        parts.append(current[["d", "descendant_id", "ancestor_id"]])
        current = current.merge(daily, left_on=["d", "ancestor_id"], right_on=["d", "org_unit_id"])[
            ["d", "descendant_id", "parent_org_unit_id"]].rename(columns={"parent_org_unit_id": "ancestor_id"})
    closure = pd.concat(parts, ignore_index=True)

    orders = latest("erp", "orders", ["order_id"],
                    ["order_id", "customer_id", "org_unit_id", "order_type", "status", "order_ts"])
    orders["d"] = local_day(orders["order_ts"])
    orders["is_cancelled"] = orders["status"] == "cancelled"
    lines = latest("erp", "order_lines", ["order_line_id"],
                   ["order_line_id", "order_id", "quantity", "unit_price", "discount_pct", "is_cancelled"])
    returns = latest("erp", "returns", ["return_id"], ["return_id", "order_line_id", "refund_amount", "return_ts"])
    tickets = latest("servicedesk", "tickets", ["ticket_id"],
                     ["ticket_id", "team_id", "is_complaint", "priority", "opened_at"])

    sales = lines.merge(orders[["order_id", "org_unit_id", "d", "is_cancelled"]], on="order_id",
                        suffixes=("_line", ""))
    cancelled = (sales["is_cancelled_line"] == 1) | sales["is_cancelled"]
    sales["amount"] = np.where(cancelled, 0.0,
                               (sales["quantity"] * sales["unit_price"] * (1 - sales["discount_pct"])).round(2))
    refunds = returns.merge(sales[["order_line_id", "org_unit_id"]], on="order_line_id")
    refunds["d"] = local_day(refunds["return_ts"])
    refunds["amount"] = -refunds["refund_amount"].round(2)
    events = pd.concat([sales[["org_unit_id", "d", "amount"]], refunds[["org_unit_id", "d", "amount"]]])
    revenue = events.groupby(["org_unit_id", "d"], as_index=False)["amount"].sum()
    revenue = revenue.rename(columns={"amount": "num"}).assign(kpi_id="net_revenue")

    orders["contract"] = (orders["order_type"] == "contract") & ~orders["is_cancelled"]
    contracts = orders.groupby(["org_unit_id", "d"], as_index=False)["contract"].sum()
    contracts = contracts.rename(columns={"contract": "num"}).assign(kpi_id="new_contracts")

    tickets["d"] = local_day(tickets["opened_at"])
    tickets["complaint"] = tickets["is_complaint"] == 1
    tickets["den_v2"] = (tickets["priority"] != "P4") | tickets["complaint"]
    complaints = tickets.groupby(["team_id", "d"], as_index=False).agg(
        num=("complaint", "sum"), den=("complaint", "size"), den_v2=("den_v2", "sum"))
    complaints = complaints.rename(columns={"team_id": "org_unit_id"}).assign(kpi_id="complaint_rate")

    additive = pd.concat([revenue, contracts, complaints], ignore_index=True)
    additive = additive.merge(closure, left_on=["d", "org_unit_id"], right_on=["d", "descendant_id"])
    additive["period_start"] = additive["d"].dt.to_period("M").dt.start_time
    monthly = additive.groupby(["kpi_id", "ancestor_id", "period_start"], as_index=False)[["num", "den", "den_v2"]] \
        .sum(min_count=1)
    is_rate = monthly["kpi_id"] == "complaint_rate"
    v2 = monthly["period_start"] >= pd.Timestamp(COMPLAINT_RATE_V2_FROM)
    denominator = np.where(v2, monthly["den_v2"], monthly["den"])
    monthly["numerator"] = np.where(is_rate, monthly["num"], np.nan)
    monthly["denominator"] = np.where(is_rate, denominator, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = monthly["num"] / pd.Series(denominator, index=monthly.index).replace(0, np.nan)
    monthly["actual_value"] = np.where(is_rate, ratio, monthly["num"])

    active = orders[~orders["is_cancelled"]][["org_unit_id", "d", "customer_id"]].drop_duplicates()
    active = active.merge(closure, left_on=["d", "org_unit_id"], right_on=["d", "descendant_id"])
    active["period_start"] = active["d"].dt.to_period("M").dt.start_time
    customers = active.groupby(["ancestor_id", "period_start"], as_index=False)["customer_id"].nunique()
    customers = customers.rename(columns={"customer_id": "actual_value"}).assign(
        kpi_id="active_customers", numerator=np.nan, denominator=np.nan)

    result = pd.concat([
        monthly[["kpi_id", "ancestor_id", "period_start", "actual_value", "numerator", "denominator"]],
        customers[["kpi_id", "ancestor_id", "period_start", "actual_value", "numerator", "denominator"]],
    ], ignore_index=True).rename(columns={"ancestor_id": "org_unit_id"})
    result["period_start"] = result["period_start"].dt.date
    result["actual_value"] = result["actual_value"].astype(float)
    return result, time.perf_counter() - started


# --- measuring a process tree -------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, float, int]]:
    """pid → (parent pid, CPU seconds incl. reaped children, resident bytes) of every process."""
    table: dict[int, tuple[int, float, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/statm", "rb") as fh:
                rss_pages = int(fh.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        try:
            ppid = int(fields[1])
            ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        except (ValueError, IndexError):
            continue
        table[int(entry.name)] = (ppid, ticks / _CLK_TCK, rss_pages * _PAGE)
    return table


@dataclass
class Sample:
    t: float          # wall clock (time.time())
    rss: int          # resident bytes of the whole process tree
    cpu: float        # CPU seconds of the tree so far (user + system, reaped children included)
    largest: int      # resident bytes of the largest single process


class TreeSampler(threading.Thread):
    """Samples a process tree's resident memory and CPU time every ``interval`` seconds."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def sample(self) -> None:
        table = _proc_table()
        if self.root not in table:
            return
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        rss = [table[p][2] for p in tree]
        self.samples.append(Sample(time.time(), sum(rss), sum(table[p][1] for p in tree), max(rss)))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def window(self, start: float, end: float) -> dict[str, float]:
        """Peak tree memory (MB) and CPU seconds between two wall-clock times."""
        inside = [s for s in self.samples if start <= s.t <= end]
        before = [s for s in self.samples if s.t <= start]
        after = [s for s in self.samples if s.t >= end]
        cpu0 = before[-1].cpu if before else (inside[0].cpu if inside else 0.0)
        cpu1 = after[0].cpu if after else (inside[-1].cpu if inside else cpu0)
        return {"peak_mb": round(max((s.rss for s in inside), default=0) / 2**20, 1),
                "cpu_s": round(max(0.0, cpu1 - cpu0), 1)}


def _loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


@dataclass
class Measured:
    label: str
    returncode: int
    wall_s: float
    cpu_s: float
    peak_mb: float           # whole process tree (sampled)
    largest_mb: float        # largest single process (sampled)
    load_before: float
    load_after: float
    result: dict[str, Any] = field(default_factory=dict)
    log: str = ""

    def brief(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("result")
        return out


def run_measured(label: str, args: list[str], env: dict[str, str], log_path: Path,
                 result_path: Path | None = None) -> tuple[Measured, TreeSampler]:
    """Run ``args`` (a Python command line) in a subprocess and measure its process tree."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = _loadavg()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        returncode = proc.wait()
        sampler.stop()
    wall = time.time() - started
    # exact CPU of the whole tree: every process in it was reaped by the time the root exits
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result: dict[str, Any] = {}
    if result_path is not None and result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    measured = Measured(
        label=label, returncode=returncode, wall_s=round(wall, 2), cpu_s=round(cpu, 1),
        peak_mb=round(max((s.rss for s in sampler.samples), default=0) / 2**20, 1),
        largest_mb=round(max((s.largest for s in sampler.samples), default=0) / 2**20, 1),
        load_before=load_before, load_after=_loadavg(), result=result, log=str(log_path),
    )
    return measured, sampler


# --- subprocess entry points ------------------------------------------------------------------------

def _child_nightly(args: argparse.Namespace) -> int:
    """One nightly run (range or one partition) in this process; step times from the event log."""
    t_process = time.time()
    from pipelines.definitions import defs  # noqa: F401 - import cost measured separately
    from pipelines.execution import instance, run_nightly

    t_defs = time.time()
    if args.partition:
        outcome = run_nightly(partition=date.fromisoformat(args.partition))
    else:
        outcome = run_nightly(start=date.fromisoformat(args.start), end=date.fromisoformat(args.end),
                              as_of=date.fromisoformat(args.as_of) if args.as_of else None)
    t_done = time.time()
    steps: dict[str, dict[str, float]] = {}
    run_events: dict[str, float] = {}
    engine: dict[str, float] = {}
    events_per_step: dict[str, int] = {}
    for record in instance().all_logs(outcome.run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION" and event.step_key and event.step_key.startswith("raw_"):
            # the extract assets record the engine's own seconds; the rest of the step is Dagster's
            # (one materialization event per partition)
            seconds = event.event_specific_data.materialization.metadata.get("seconds")
            if seconds is not None:
                engine[event.step_key] = float(getattr(seconds, "value", seconds))
            events_per_step[event.step_key] = events_per_step.get(event.step_key, 0) + 1
        if event.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            entry = steps.setdefault(event.step_key, {})
            entry["start" if kind == "STEP_START" else "end"] = record.timestamp
            entry["status"] = kind  # type: ignore[assignment]
        elif not event.step_key:
            run_events.setdefault(kind, record.timestamp)
    dbt_results = None
    for folder in sorted(DBT_TARGET_DIR.glob(f"warehouse_dbt_assets-{outcome.run_id[:7]}-*")):
        path = folder / "run_results.json"
        if path.exists():
            dbt_results = _dbt_timing(json.loads(path.read_text(encoding="utf-8")))
        shutil.rmtree(folder, ignore_errors=True)  # this run's private dbt target folder
    Path(args.result).write_text(json.dumps({
        "run_id": outcome.run_id, "success": outcome.success, "summary": outcome.summary(),
        "t_process": t_process, "t_defs": t_defs, "t_done": t_done, "steps": steps,
        "run_events": run_events, "dbt": dbt_results, "extract_engine_s": engine,
        "materializations": events_per_step,
    }, indent=1), encoding="utf-8")
    print(outcome.summary())
    return 0 if outcome.success else 1


def _dbt_timing(run_results: dict[str, Any]) -> dict[str, Any]:
    """Intervals of dbt nodes by kind (model / test / other), and per-node execution times."""
    kinds: dict[str, list[tuple[float, float]]] = {"model": [], "test": [], "other": []}
    nodes: list[tuple[str, float]] = []
    for result in run_results.get("results", []):
        uid = result.get("unique_id", "")
        kind = "test" if uid.startswith(("test.", "unit_test.")) else "model" if uid.startswith("model.") else "other"
        stamps = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        if not stamps:
            continue
        begin = min(_ts(t["started_at"]) for t in stamps)
        end = max(_ts(t["completed_at"]) for t in stamps)
        kinds[kind].append((begin, end))
        nodes.append((uid, round(float(result.get("execution_time") or 0.0), 3)))
    nodes.sort(key=lambda n: -n[1])
    return {"intervals": kinds, "elapsed": run_results.get("elapsed_time"), "slowest": nodes[:25],
            "node_count": len(nodes)}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


def _child_actuals(args: argparse.Namespace, compute) -> int:  # noqa: ANN001 - floor_actuals or pandas_actuals
    frame, seconds = compute(Path(args.lake), date.fromisoformat(args.start), date.fromisoformat(args.as_of),
                             args.timezone)
    frame.to_parquet(args.output)
    Path(args.result).write_text(json.dumps({"seconds": seconds, "rows": len(frame)}), encoding="utf-8")
    return 0


# --- phases of a nightly run ---------------------------------------------------------------------------

_PUBLISH_PREFIXES = ("serving__",)
_REPORT_PREFIXES = ("reports__", "alerts__")


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for begin, end in sorted(intervals):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _length(intervals: list[tuple[float, float]]) -> float:
    return sum(end - begin for begin, end in intervals)


def _minus(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of the (merged) intervals ``a`` not covered by the (merged) intervals ``b``."""
    out: list[tuple[float, float]] = []
    for begin, end in a:
        cursor = begin
        for b0, b1 in b:
            if b1 <= cursor or b0 >= end:
                continue
            if b0 > cursor:
                out.append((cursor, b0))
            cursor = max(cursor, b1)
        if cursor < end:
            out.append((cursor, end))
    return out


def phases(measured: Measured, sampler: TreeSampler) -> dict[str, dict[str, float]]:
    """Wall / CPU / peak memory per phase of a nightly run, from the event log and the samples."""
    result = measured.result
    steps = {k: v for k, v in result.get("steps", {}).items() if "start" in v and "end" in v}
    windows: dict[str, list[tuple[float, float]]] = {
        "extract": [], "dbt build": [], "checks": [], "publish": [], "reports": []}
    dbt_step = next((k for k in steps if k.startswith("warehouse_dbt_assets")), None)
    for key, step in steps.items():
        span = (step["start"], step["end"])
        if key.startswith("raw_"):
            windows["extract"].append(span)
        elif key.startswith(_PUBLISH_PREFIXES):
            windows["publish"].append(span)
        elif key.startswith(_REPORT_PREFIXES):
            windows["reports"].append(span)
        elif key != dbt_step:
            windows.setdefault("other steps", []).append(span)
    dbt_info = result.get("dbt") or {}
    if dbt_step is not None:
        dbt_span = [(steps[dbt_step]["start"], steps[dbt_step]["end"])]
        tests = _union([tuple(i) for i in (dbt_info.get("intervals") or {}).get("test", [])])
        models = _union([tuple(i) for i in (dbt_info.get("intervals") or {}).get("model", [])]
                        + [tuple(i) for i in (dbt_info.get("intervals") or {}).get("other", [])])
        # a test running while no model runs is check time; everything else in the step is the build
        checks = _minus(_union([(max(a, dbt_span[0][0]), min(b, dbt_span[0][1])) for a, b in tests]), models)
        windows["checks"] = checks
        windows["dbt build"] = _minus(dbt_span, checks)
    out: dict[str, dict[str, float]] = {}
    for name, spans in windows.items():
        spans = _union(spans)
        wall = _length(spans)
        cpu = sum(sampler.window(a, b)["cpu_s"] for a, b in spans)
        peak = max((sampler.window(a, b)["peak_mb"] for a, b in spans), default=0.0)
        out[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_mb": peak}
    covered = _union([s for spans in windows.values() for s in spans])
    t0 = result.get("t_defs")
    t1 = result.get("t_done")
    if t0 and t1:
        gaps = _minus([(t0, t1)], covered)
        out["dagster"] = {"wall_s": round(_length(gaps), 1),
                          "cpu_s": round(sum(sampler.window(a, b)["cpu_s"] for a, b in gaps), 1),
                          "peak_mb": max((sampler.window(a, b)["peak_mb"] for a, b in gaps), default=0.0)}
        start = result.get("t_process", t0)
        out["python start-up"] = {"wall_s": round(t0 - start, 1),
                                  "cpu_s": sampler.window(start, t0)["cpu_s"],
                                  "peak_mb": sampler.window(start, t0)["peak_mb"]}
    engine = result.get("extract_engine_s") or {}
    if engine and "extract" in out:
        out["extract"]["engine_s"] = round(sum(engine.values()), 1)
        out["extract"]["materialization_events"] = sum((result.get("materializations") or {}).values())
    if dbt_step is not None:
        step = steps[dbt_step]
        firsts = [a for spans in (dbt_info.get("intervals") or {}).values() for a, _ in spans]
        out["dbt step"] = {"wall_s": round(step["end"] - step["start"], 1),
                           "cpu_s": sampler.window(step["start"], step["end"])["cpu_s"],
                           "peak_mb": sampler.window(step["start"], step["end"])["peak_mb"],
                           "startup_s": round(min(firsts) - step["start"], 1) if firsts else None}
    return out


# --- comparing the answers ------------------------------------------------------------------------------

def compare_actuals(floor, pandas_frame, serving_db: Path | None, as_of: date) -> dict[str, Any]:
    """The floor against pandas (same rows, same numbers) and against marts.kpi_actuals."""
    import numpy as np
    import pandas as pd

    key = ["kpi_id", "org_unit_id", "period_start"]

    def norm(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
        frame = frame[frame["period_start"] <= as_of]
        return frame.set_index(key).sort_index()

    def diff(a: pd.DataFrame, b: pd.DataFrame, label: str, missing_ok_zero: bool) -> dict[str, Any]:
        joined = a[["actual_value"]].join(b[["actual_value"]], how="outer", lsuffix="_a", rsuffix="_b")
        only_a = joined["actual_value_b"].isna() & joined["actual_value_a"].notna()
        only_b = joined["actual_value_a"].isna() & joined["actual_value_b"].notna()
        if missing_ok_zero:  # the warehouse has a row (0) for a unit and month without facts
            only_b &= joined["actual_value_b"].fillna(0) != 0
        both = joined.dropna()
        delta = (both["actual_value_a"] - both["actual_value_b"]).abs()
        tolerance = 1e-6 * np.maximum(1.0, both["actual_value_b"].abs())
        mismatched = both[delta > tolerance]
        return {
            "pair": label, "rows_a": int(a.shape[0]), "rows_b": int(b.shape[0]), "compared": int(both.shape[0]),
            "only_in_a": int(only_a.sum()), "only_in_b": int(only_b.sum()),
            "mismatched": int(mismatched.shape[0]), "max_abs_diff": float(delta.max()) if len(delta) else 0.0,
            "examples": [str(x) for x in mismatched.head(3).reset_index().to_dict("records")],
            "same": bool(mismatched.empty and not only_a.any() and not only_b.any()),
        }

    f = norm(floor)
    out = {"floor_vs_pandas": diff(f, norm(pandas_frame), "floor vs pandas", False)}
    if serving_db is not None and serving_db.exists():
        import duckdb

        with duckdb.connect(str(serving_db), read_only=True) as con:
            marts = con.execute(
                "select kpi_id, org_unit_id, period_start, actual_value from marts.kpi_actuals "
                "where grain = 'month' and kpi_id in (select unnest(?))", [list(FLOOR_KPIS)]).df()
        out["floor_vs_kpi_actuals"] = diff(f, norm(marts), "floor vs marts.kpi_actuals", True)
    return out


# --- analyst queries --------------------------------------------------------------------------------

def analyst_queries(path: Path = QUERIES_PATH) -> list[str]:
    """The statements of docs/queries.sql (comments dropped)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def time_queries(serving_db: Path, runs: int) -> dict[str, Any]:
    """p50 / p95 of each example query (warm, one read-only connection) and the first (cold) run."""
    import duckdb

    per_query = []
    every: list[float] = []
    with duckdb.connect(str(serving_db), read_only=True) as con:
        for i, sql in enumerate(analyst_queries(), start=1):
            times = []
            cold = None
            for n in range(runs + 1):
                started = time.perf_counter()
                rows = con.execute(sql).fetchall()
                elapsed = (time.perf_counter() - started) * 1000
                if n == 0:
                    cold = elapsed
                else:
                    times.append(elapsed)
            every.extend(times)
            per_query.append({"query": i, "rows": len(rows), "cold_ms": round(cold or 0, 2),
                              "p50_ms": round(_pct(times, 50), 2), "p95_ms": round(_pct(times, 95), 2)})
    return {"queries": per_query, "p50_ms": round(_pct(every, 50), 2), "p95_ms": round(_pct(every, 95), 2),
            "max_query_p95_ms": max((q["p95_ms"] for q in per_query), default=0.0), "runs": runs}


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- one scale factor ---------------------------------------------------------------------------------

def _env(data_dir: Path, start: date, end: date, scale: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
    env.update({
        "KPI_DATA_DIR": str(data_dir), "KPI_DEMO_START": start.isoformat(), "KPI_DEMO_END": end.isoformat(),
        "KPI_DEMO_SCALE": str(scale), "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1",
    })
    return env


def _py(*args: str) -> list[str]:
    return [sys.executable, *args]


def _say(text: str) -> None:
    print(text, flush=True)


def _nightly(label: str, data_dir: Path, env: dict[str, str], logs: Path, *, start: date | None = None,
             end: date | None = None, as_of: date | None = None, partition: date | None = None) -> dict[str, Any]:
    result_path = logs / f"{label}.json"
    args = _py(str(SCRIPT), "_nightly", "--result", str(result_path))
    if partition is not None:
        args += ["--partition", partition.isoformat()]
    else:
        assert start is not None and end is not None
        args += ["--start", start.isoformat(), "--end", end.isoformat()]
        if as_of is not None:
            args += ["--as-of", as_of.isoformat()]
    measured, sampler = run_measured(label, args, env, logs / f"{label}.log", result_path)
    if measured.returncode != 0 or not measured.result.get("success"):
        raise RuntimeError(f"{label} failed (exit {measured.returncode}); see {measured.log}: "
                           f"{measured.result.get('summary', '')}")
    split = phases(measured, sampler)
    dbt = measured.result.get("dbt") or {}
    return {"total": measured.brief(), "phases": split, "dbt_slowest": dbt.get("slowest", [])[:15],
            "dbt_nodes": dbt.get("node_count")}


def bench_scale(scale: float, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    start, end = args.start, args.end
    history_end = end - timedelta(days=1)
    data_dir = work / f"scale-{scale:g}"
    logs = data_dir / "_bench"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    logs.mkdir(parents=True)
    env = _env(data_dir, start, end, scale)
    out: dict[str, Any] = {"scale": scale, "start": start.isoformat(), "end": end.isoformat(),
                           "history_end": history_end.isoformat()}

    _say(f"[scale {scale:g}] generating the demo company")
    measured, _ = run_measured("generate", _py("-m", "pipelines.demo", "--data-dir", str(data_dir),
                                               "--scale", str(scale), "--seed", str(args.seed),
                                               "--start", start.isoformat(), "--end", end.isoformat()),
                               env, logs / "generate.log")
    if measured.returncode != 0:
        raise RuntimeError(f"generation failed; see {measured.log}")
    out["generate"] = measured.brief()
    manifest = json.loads((data_dir / "ground_truth" / "manifest.json").read_text(encoding="utf-8"))
    out["row_counts"] = manifest.get("row_counts", {})
    out["source_rows"] = sum(out["row_counts"].values()) if out["row_counts"] else None

    _say(f"[scale {scale:g}] full nightly run {start} … {history_end}")
    out["full"] = _nightly("full", data_dir, env, logs, start=start, end=history_end, as_of=history_end)
    _say(f"[scale {scale:g}]   {out['full']['total']['wall_s']:.0f} s, peak {out['full']['total']['peak_mb']:.0f} MB")

    if not args.skip_incremental:
        _say(f"[scale {scale:g}] incremental nightly run for {end}")
        out["incremental"] = _nightly("incremental", data_dir, env, logs, partition=end)
        _say(f"[scale {scale:g}]   {out['incremental']['total']['wall_s']:.0f} s")
    if args.rerun:
        _say(f"[scale {scale:g}] the same night again (no new data)")
        out["rerun"] = _nightly("rerun", data_dir, env, logs, partition=end)

    as_of = end if not args.skip_incremental else history_end
    lake = data_dir / "lake"
    common = ["--lake", str(lake), "--start", start.isoformat(), "--as-of", as_of.isoformat(),
              "--timezone", args.timezone]
    _say(f"[scale {scale:g}] floor query")
    measured, _ = run_measured("floor", _py(str(SCRIPT), "_floor", *common, "--output", str(logs / "floor.parquet"),
                                            "--result", str(logs / "floor.json")),
                               env, logs / "floor.log", logs / "floor.json")
    if measured.returncode != 0:
        raise RuntimeError(f"floor query failed; see {measured.log}")
    out["floor"] = measured.brief() | {"query_s": round(measured.result["seconds"], 2),
                                       "rows": measured.result["rows"]}
    if not args.skip_pandas:
        _say(f"[scale {scale:g}] pandas")
        measured, _ = run_measured("pandas", _py(str(SCRIPT), "_pandas", *common,
                                                 "--output", str(logs / "pandas.parquet"),
                                                 "--result", str(logs / "pandas.json")),
                                   env, logs / "pandas.log", logs / "pandas.json")
        if measured.returncode != 0:
            raise RuntimeError(f"pandas failed; see {measured.log}")
        out["pandas"] = measured.brief() | {"compute_s": round(measured.result["seconds"], 2),
                                            "rows": measured.result["rows"]}
    import pandas as pd

    serving = data_dir / "serving" / "kpi.duckdb"
    floor_frame = pd.read_parquet(logs / "floor.parquet")
    pandas_frame = pd.read_parquet(logs / "pandas.parquet") if not args.skip_pandas else floor_frame
    out["checks"] = compare_actuals(floor_frame, pandas_frame, serving, as_of)
    _say(f"[scale {scale:g}] analyst queries ({args.query_runs} runs each)")
    out["queries"] = time_queries(serving, args.query_runs)
    out["disk_mb"] = {name: round(_du(data_dir / name) / 2**20, 1)
                      for name in ("sources", "landing", "lake", "warehouse", "serving")}
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def bench_fixed(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The nightly job over a near-empty lake: Dagster's and dbt's fixed start-up."""
    start, end = args.end - timedelta(days=args.fixed_days - 1), args.end
    data_dir = work / "fixed"
    logs = data_dir / "_bench"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    logs.mkdir(parents=True)
    env = _env(data_dir, start, end, 0.01)
    measured, _ = run_measured("generate", _py("-m", "pipelines.demo", "--data-dir", str(data_dir), "--scale", "0.01",
                                               "--seed", str(args.seed), "--start", start.isoformat(),
                                               "--end", end.isoformat()), env, logs / "generate.log")
    if measured.returncode != 0:
        raise RuntimeError(f"generation failed; see {measured.log}")
    out = {"days": args.fixed_days, "scale": 0.01,
           "run": _nightly("fixed", data_dir, env, logs, start=start, end=end, as_of=end)}
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the table ----------------------------------------------------------------------------------------

def _phase(run: dict[str, Any] | None, name: str) -> dict[str, float] | None:
    if not run:
        return None
    return run["phases"].get(name)


def _fmt_tcm(entry: dict[str, float] | None, cpu_key: str = "cpu_s", wall_key: str = "wall_s",
             mem_key: str = "peak_mb") -> str:
    if not entry:
        return "–"
    parts = [f"{entry[wall_key]:.1f} s"]
    if entry.get(cpu_key) is not None:
        parts.append(f"cpu {entry[cpu_key]:.0f} s")
    if entry.get(mem_key):
        parts.append(f"{entry[mem_key]:,.0f} MB")
    return " · ".join(parts)


def ratios(scales: list[dict[str, Any]], fixed: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"per_scale": {}}
    fixed_dbt = (fixed or {}).get("run", {}).get("phases", {}).get("dbt step", {}).get("wall_s")
    fixed_total = (fixed or {}).get("run", {}).get("total", {}).get("wall_s")
    for s in scales:
        full = s["full"]
        dbt_wall = full["phases"].get("dbt step", {}).get("wall_s")
        floor = s["floor"]["query_s"]
        r: dict[str, Any] = {
            "dbt_build_over_floor": _div(dbt_wall, floor),
            "dbt_data_dependent_s": round(dbt_wall - fixed_dbt, 1) if dbt_wall and fixed_dbt else None,
        }
        if r["dbt_data_dependent_s"] is not None:
            r["dbt_data_dependent_over_floor"] = _div(r["dbt_data_dependent_s"], floor)
        if "pandas" in s:
            r["pandas_over_floor"] = _div(s["pandas"]["compute_s"], floor)
            r["pandas_over_dbt_build"] = _div(s["pandas"]["compute_s"], dbt_wall)
            r["pandas_over_data_dependent_dbt"] = _div(s["pandas"]["compute_s"], r["dbt_data_dependent_s"])
            r["pandas_mem_over_full_run_mem"] = _div(s["pandas"]["peak_mb"], full["total"]["peak_mb"])
            r["pandas_mem_over_floor_mem"] = _div(s["pandas"]["peak_mb"], s["floor"]["peak_mb"])
        if "incremental" in s:
            r["incremental_over_full"] = _div(s["incremental"]["total"]["wall_s"], full["total"]["wall_s"])
        out["per_scale"][f"{s['scale']:g}"] = r
    by_scale = {s["scale"]: s for s in scales}
    if 1 in by_scale and 10 in by_scale:
        a, b = by_scale[1], by_scale[10]
        out["scale10_over_scale1"] = {
            "full_run": _div(b["full"]["total"]["wall_s"], a["full"]["total"]["wall_s"]),
            "full_run_cpu": _div(b["full"]["total"]["cpu_s"], a["full"]["total"]["cpu_s"]),
            "extract": _div(_wall(b, "extract"), _wall(a, "extract")),
            "dbt_step": _div(_wall(b, "dbt step"), _wall(a, "dbt step")),
            "floor": _div(b["floor"]["query_s"], a["floor"]["query_s"]),
        }
    out["fixed_dbt_step_s"] = fixed_dbt
    out["fixed_nightly_s"] = fixed_total
    return out


def _wall(s: dict[str, Any], phase: str) -> float | None:
    entry = s["full"]["phases"].get(phase)
    return entry["wall_s"] if entry else None


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def markdown(report: dict[str, Any]) -> str:
    scales = report["scales"]
    heads = [f"scale {s['scale']:g}" for s in scales]
    lines = [
        "# Nightly pipeline benchmark",
        "",
        f"{report['started_at']} · host {report['host']['cpus']} CPUs, {report['host']['mem_gb']} GB · "
        f"load average {report['host']['load_start']} at start, {report['host']['load_end']} at end · "
        f"demo history {report['start']} … {report['end']} (full run up to the day before, incremental "
        "run for the last day).",
        "",
        "Wall time · CPU time (user + system, all processes) · peak resident memory of the process tree.",
        "",
        "| | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(scales),
    ]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("source rows (generated)", [f"{s.get('source_rows') or 0:,}" for s in scales])
    row("generate (not in the nightly run)", [_fmt_tcm(s["generate"]) for s in scales])
    for name, label in (("extract", "extract"), ("dbt build", "dbt build (models; dbt start-up)"),
                        ("checks", "checks (dbt tests)"), ("publish", "publish"),
                        ("reports", "reports + alerts"), ("dagster", "Dagster (run set-up, between steps)"),
                        ("python start-up", "Python + definitions import")):
        row(label, [_fmt_tcm(_phase(s["full"], name)) for s in scales])
        if name == "extract":
            row("… of which the extraction engine / Dagster materialization events", [
                f"{(_phase(s['full'], 'extract') or {}).get('engine_s', 0):.1f} s / "
                f"{(_phase(s['full'], 'extract') or {}).get('materialization_events', 0):,}" for s in scales])
    row("**full nightly run**", [f"**{_fmt_tcm(s['full']['total'])}**" for s in scales])
    row("dbt step (build + checks)", [_fmt_tcm(_phase(s["full"], "dbt step")) for s in scales])
    row("incremental nightly run (1 day)", [_fmt_tcm(s.get("incremental", {}).get("total")) for s in scales])
    row("… of which extract / dbt step", [
        f"{(_phase(s.get('incremental'), 'extract') or {}).get('wall_s', 0):.1f} s / "
        f"{(_phase(s.get('incremental'), 'dbt step') or {}).get('wall_s', 0):.1f} s" if s.get("incremental") else "–"
        for s in scales])
    if any("rerun" in s for s in scales):
        row("same night again, no new data", [_fmt_tcm(s.get("rerun", {}).get("total")) for s in scales])
    row("floor: one DuckDB query (query alone)", [
        f"{s['floor']['query_s']:.2f} s · process {s['floor']['wall_s']:.1f} s · {s['floor']['peak_mb']:,.0f} MB"
        for s in scales])
    if any("pandas" in s for s in scales):
        row("pandas, same actuals (compute alone)", [
            f"{s['pandas']['compute_s']:.1f} s · cpu {s['pandas']['cpu_s']:.0f} s · {s['pandas']['peak_mb']:,.0f} MB"
            if "pandas" in s else "–" for s in scales])
    row("same numbers: floor = pandas = kpi_actuals", [_same(s["checks"]) for s in scales])
    row("analyst queries p50 / p95 (all 5)", [
        f"{s['queries']['p50_ms']:.1f} / {s['queries']['p95_ms']:.1f} ms" for s in scales])
    row("slowest query p95", [f"{s['queries']['max_query_p95_ms']:.1f} ms" for s in scales])
    r = report["ratios"]
    lines += ["", "| ratio (within this run) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(scales)]
    for key, label in (("dbt_build_over_floor", "dbt step / floor"),
                       ("dbt_data_dependent_over_floor", "dbt data-dependent (step − fixed) / floor (goal ≤ 3 at 10)"),
                       ("pandas_over_floor", "pandas / floor"),
                       ("pandas_over_dbt_build", "pandas / dbt step (goal ≥ 10 at 10)"),
                       ("pandas_over_data_dependent_dbt", "pandas / dbt data-dependent"),
                       ("pandas_mem_over_full_run_mem", "pandas memory / nightly run memory (goal ≥ 5)"),
                       ("pandas_mem_over_floor_mem", "pandas memory / floor memory"),
                       ("incremental_over_full", "incremental / full run (goal ≤ 0.10 at 10)")):
        row(label, [_num(r["per_scale"].get(f"{s['scale']:g}", {}).get(key)) for s in scales])
    lines.append("")
    fixed = report.get("fixed")
    if fixed:
        ph = fixed["run"]["phases"]
        lines.append(
            f"Fixed start-up (the nightly job over scale 0.01 × {fixed['days']} days): whole run "
            f"{fixed['run']['total']['wall_s']:.1f} s; dbt step {ph.get('dbt step', {}).get('wall_s', 0):.1f} s "
            f"(dbt's own start-up before the first node {ph.get('dbt step', {}).get('startup_s')} s); extract "
            f"{ph.get('extract', {}).get('wall_s', 0):.1f} s; Dagster {ph.get('dagster', {}).get('wall_s', 0):.1f} s "
            "(goal: fixed start-up ≤ 10 s).")
    growth = r.get("scale10_over_scale1")
    if growth:
        lines.append("")
        lines.append("time(scale 10) / time(scale 1) (goal ≤ 12): " + ", ".join(
            f"{k.replace('_', ' ')} {_num(v)}" for k, v in growth.items()))
    lines.append("")
    lines.append("Slowest dbt nodes of the full run at the largest scale (execution seconds): " + ", ".join(
        f"{uid.split('.')[-1]} {sec:.1f}" for uid, sec in scales[-1]["full"]["dbt_slowest"][:10]))
    return "\n".join(lines) + "\n"


def _same(checks: dict[str, Any]) -> str:
    parts = []
    for key in ("floor_vs_pandas", "floor_vs_kpi_actuals"):
        c = checks.get(key)
        if c is None:
            continue
        mark = "yes" if c["same"] else f"NO ({c['mismatched']} differ, {c['only_in_a']}+{c['only_in_b']} missing)"
        parts.append(f"{'pandas' if key == 'floor_vs_pandas' else 'marts'}: {mark} ({c['compared']:,} rows)")
    return "; ".join(parts)


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"


# --- entry point ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pipeline_benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    p.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day of the demo history")
    p.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last day (the incremental run's)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="where the demo companies are built (default: a new folder in $TMPDIR; needs "
                        "≈ 1 GB per scale unit)")
    p.add_argument("--out-dir", type=Path, default=OUT_DIR)
    p.add_argument("--query-runs", type=int, default=50, help="timed runs of each analyst query")
    p.add_argument("--fixed-days", type=int, default=7, help="days of the near-empty fixed start-up run")
    p.add_argument("--skip-fixed", action="store_true", help="skip the fixed start-up run")
    p.add_argument("--skip-incremental", action="store_true")
    p.add_argument("--skip-pandas", action="store_true")
    p.add_argument("--rerun", action="store_true", help="also time the same night again with no new data")
    p.add_argument("--no-prepare", action="store_true", help="do not run `kpi prepare` first")
    p.add_argument("--keep", action="store_true", help="keep the generated data folders")
    return p


def _child_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pipeline_benchmark (internal)")
    sub = p.add_subparsers(dest="child", required=True)
    n = sub.add_parser("_nightly")
    n.add_argument("--result", required=True)
    n.add_argument("--partition")
    n.add_argument("--start")
    n.add_argument("--end")
    n.add_argument("--as-of")
    for name in ("_floor", "_pandas"):
        c = sub.add_parser(name)
        for opt in ("--lake", "--start", "--as-of", "--timezone", "--output", "--result"):
            c.add_argument(opt, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("_nightly", "_floor", "_pandas"):
        cargs = _child_parser().parse_args(argv)
        if cargs.child == "_nightly":
            return _child_nightly(cargs)
        return _child_actuals(cargs, floor_actuals if cargs.child == "_floor" else pandas_actuals)
    if argv and argv[0] == "--":
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if not Path("/proc/self/stat").exists():
        _say("this benchmark samples /proc: it runs on Linux only")
        return 2
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(work).free / 2**30
    _say(f"work folder {work} ({free_gb:.0f} GB free); scales {', '.join(f'{s:g}' for s in args.scales)}")
    started_at = datetime.now(UTC)
    report: dict[str, Any] = {
        "started_at": started_at.strftime("%Y-%m-%d %H:%M UTC"), "start": args.start.isoformat(),
        "end": args.end.isoformat(), "argv": argv,
        "host": {"cpus": os.cpu_count(), "mem_gb": _mem_gb(), "load_start": _loadavg()},
    }
    if not args.no_prepare:
        _say("preparing the dbt project (kpi prepare)")
        measured, _ = run_measured("prepare", _py("-m", "pipelines.cli", "prepare"),
                                   _env(work / "prepare", args.start, args.end, 1.0), work / "prepare.log")
        if measured.returncode != 0:
            _say(f"kpi prepare failed: see {measured.log}")
            return 1
        report["prepare"] = measured.brief()
    try:
        if not args.skip_fixed:
            _say("fixed start-up: the nightly job over a near-empty lake")
            report["fixed"] = bench_fixed(work, args)
            _say(f"  {report['fixed']['run']['total']['wall_s']:.1f} s")
        report["scales"] = []
        for scale in args.scales:
            report["scales"].append(bench_scale(scale, work, args))
            _write(report, args)  # partial results survive a failure at a larger scale
    finally:
        if args.work_dir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["host"]["load_end"] = _loadavg()
    report["ratios"] = ratios(report["scales"], report.get("fixed"))
    md_path, _ = _write(report, args)
    print(markdown(report))
    _say(f"written: {md_path} (+ .json)")
    return 0


def _write(report: dict[str, Any], args: argparse.Namespace) -> tuple[Path, Path]:
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report.setdefault("ratios", ratios(report.get("scales", []), report.get("fixed")))
    report["host"] = dict(report["host"])
    report["host"].setdefault("load_end", _loadavg())
    json_path = args.out_dir / "pipeline_benchmark.json"
    md_path = args.out_dir / "pipeline_benchmark.md"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, json_path)
    if report.get("scales"):
        tmp = md_path.with_suffix(".md.tmp")
        tmp.write_text(markdown(report), encoding="utf-8")
        os.replace(tmp, md_path)
    return md_path, json_path


def _mem_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kb = int(fh.readline().split()[1])
        return round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return float("nan")


if __name__ == "__main__":
    sys.exit(main())
