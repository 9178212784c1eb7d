"""The data-quality marts and the trust flag, on the mini lake with known source problems.

The mini lake (tests/fixtures/mini_lake.py) plus:
- erp.orders, partition 2024-07-05 (an `updated_at` date): a quarantined update of an order placed on
  2024-06-20 local time — it must count on its business date, not on the partition date;
- erp.orders, partition 2024-08-12: a quarantined order whose `order_ts` is the field that failed (a
  date years ahead) — it counts on its partition date;
- servicedesk.tickets, partition 2024-01-16 rejected (the export repeats changed tickets: a change-date
  partition) — the 92 business days up to it are unverified;
- survey.nps_responses, partition 2024-03-15 rejected (one file per response day), its one readable
  response (TM-SE-1's) kept beside it — that day, and TM-SE-1 and its ancestors only;
- erp.orders, partition 2024-03-10: a quarantined version of order O00000004, which the partition of
  2024-03-12 loaded again — superseded, so resolved: no problem at all;
- erp.order_lines, partition 2024-07-05: a quarantined line (2 × 100 CNY, unknown product) of order
  O00000006 of TM-SE-3 (under DEP-SALES-NORTH since the re-org of 2024-07-01) — it can move July's net
  revenue of TM-SE-3 and its ancestors by at most 200 CNY.
Answers worked out from those rows and the fixture's EXPECTED values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.dbt.dbt_helpers import dbt_executable
from tests.fixtures.mini_lake import QUARANTINE_SCHEMA, build_mini_lake
from tests.kpi.conftest import copy_project, run_dbt_build

pytestmark = pytest.mark.slow

D = date.fromisoformat


@dataclass(frozen=True)
class QualityWarehouse:
    root: Path
    project: Path
    lake: Path
    warehouse: Path


def _quarantine(lake: Path, source: str, table: str, day: str, rows: list[dict]) -> None:
    loaded = datetime.fromisoformat(f"{day}T18:00:00").replace(tzinfo=UTC)
    records = [{"_raw": json.dumps(r["raw"]), "_rule": r["rule"], "_field": r["field"], "_value": r["value"],
                "_reason": r["reason"], "_row_number": i, "_source": f"{table}@{source}.sqlite",
                "_batch_id": f"{source}.{table}.{day}.b2", "_loaded_at": loaded} for i, r in enumerate(rows, 1)]
    path = lake / "quarantine" / source / table / f"date={day}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=QUARANTINE_SCHEMA), path)
    _edit_log(lake, source, table, day, rows_read=+len(rows), rows_quarantined=+len(rows))


def _edit_log(lake: Path, source: str, table: str, day: str, *, status: str | None = None,
              message: str | None = None, **deltas: int) -> None:
    path = lake / "_meta" / "load_log" / source / table / f"date={day}" / "log.parquet"
    log = pq.read_table(path)
    row = log.to_pylist()[0]
    for column, delta in deltas.items():
        row[column] += delta
    if status is not None:
        row.update(status=status, rows_read=0, rows_loaded=0, rows_quarantined=0, message=message)
    pq.write_table(pa.Table.from_pylist([row], schema=log.schema), path)


def _break_the_lake(lake: Path) -> None:
    _quarantine(lake, "erp", "orders", "2024-07-05", [{
        "raw": {"order_id": "O00000005", "customer_id": "C000004", "sales_rep_id": "E00012",
                "org_unit_id": "TM-SE-3", "order_ts": "2024-06-19 18:30:00", "channel": "direct",
                "order_type": "contract", "status": "returned", "currency": "CNY",
                "created_at": "2024-06-19 18:30:00", "updated_at": "2024-07-05 03:00:00"},
        "rule": "expect_column_values_to_be_in_set(status)", "field": "status", "value": "returned",
        "reason": "status must be one of open, shipped, cancelled"}])
    _quarantine(lake, "erp", "orders", "2024-08-12", [{
        "raw": {"order_id": "O90000001", "customer_id": "C000001", "sales_rep_id": "E00002",
                "org_unit_id": "TM-SE-1", "order_ts": "2031-08-12 03:00:00", "channel": "direct",
                "order_type": "spot", "status": "open", "currency": "CNY",
                "created_at": "2024-08-12 03:00:00", "updated_at": "2024-08-12 03:00:00"},
        "rule": "expect_column_values_to_be_between(order_ts)", "field": "order_ts",
        "value": "2031-08-12 03:00:00", "reason": "order_ts is after the run date + 1 day"}])
    _quarantine(lake, "erp", "orders", "2024-03-10", [{
        "raw": {"order_id": "O00000004", "customer_id": "C000003", "sales_rep_id": None,
                "org_unit_id": "TM-SN-1", "order_ts": "2024-03-10 06:00:00", "channel": "online",
                "order_type": "spot", "status": "lost", "currency": "CNY",
                "created_at": "2024-03-10 06:00:00", "updated_at": "2024-03-10 07:00:00"},
        "rule": "expect_column_values_to_be_in_set(status)", "field": "status", "value": "lost",
        "reason": "status must be one of open, shipped, cancelled"}])
    _quarantine(lake, "erp", "order_lines", "2024-07-05", [{
        "raw": {"order_line_id": "O00000006-3", "order_id": "O00000006", "line_no": "3", "product_id": "P9999",
                "quantity": "2", "unit_price": "100.0", "discount_pct": "0.0", "unit_cost": "60.0",
                "is_cancelled": "0", "created_at": "2024-07-05 04:00:00", "updated_at": "2024-07-05 04:00:00"},
        "rule": "reference(product_id)", "field": "product_id", "value": "P9999",
        "reason": "product_id 'P9999' not found in erp.products.product_id (orphan reference)"}])
    _edit_log(lake, "servicedesk", "tickets", "2024-01-16", status="rejected",
              message="batch rejected: header: columns changed; the partition loaded earlier is kept")
    _edit_log(lake, "survey", "nps_responses", "2024-03-15", status="rejected",
              message="batch rejected: changed column set (unexpected 'nps_score')")
    # the rejected survey file could still be read: its one response (of TM-SE-1) scopes the rejection
    path = lake / "quarantine" / "survey" / "nps_responses" / "date=2024-03-15" / "rejected-batch.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([{
        "_raw": json.dumps({"response_id": "R0099", "submitted_at": "2024-03-15T10:00:00+08:00",
                            "customer_id": "C000001", "account_team_id": "TM-SE-1", "nps_score": "10"}),
        "_rule": "batch_rejected", "_field": None, "_value": None,
        "_reason": "survey/nps_20240315.jsonl: the whole batch was rejected: changed column set",
        "_row_number": 1, "_source": "survey/nps_20240315.jsonl", "_batch_id": "survey.b9",
        "_loaded_at": datetime(2024, 3, 15, 18, tzinfo=UTC)}], schema=QUARANTINE_SCHEMA), path)


@pytest.fixture(scope="module")
def qwh(tmp_path_factory: pytest.TempPathFactory) -> QualityWarehouse:
    from pipelines.checkins import snapshot_checkins
    from quality.catalog import compile_and_write

    root = tmp_path_factory.mktemp("quality_marts")
    lake = root / "lake"
    build_mini_lake(lake)
    _break_the_lake(lake)
    snapshot_checkins(root / "landing", lake, timezone="Asia/Shanghai")  # the nightly job's check-in snapshot
    project = copy_project(root / "dbt_project")
    compile_and_write(project / "catalog", project)
    run_dbt_build(project, root / "warehouse.duckdb", lake, root / "target")
    return QualityWarehouse(root, project, lake, root / "warehouse.duckdb")


@pytest.fixture()
def con(qwh: QualityWarehouse):
    with duckdb.connect(str(qwh.warehouse), read_only=True) as c:
        yield c


def _dbt(qwh: QualityWarehouse, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KPI_WAREHOUSE_PATH": str(qwh.warehouse), "KPI_LAKE_DIR": str(qwh.lake),
           "KPI_TIMEZONE": "Asia/Shanghai", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = qwh.root / "target_extra"
    return subprocess.run([dbt_executable(), *args, "--project-dir", str(qwh.project), "--profiles-dir",
                           str(qwh.project), "--target-path", str(target), "--log-path", str(target / "logs")],
                          env=env, capture_output=True, text=True, timeout=900)


# ------------------------------------------------------------------------------------------------ freshness
def test_freshness(con) -> None:
    rows = {(s, t): r for s, t, *r in con.execute(
        'select source, "table", latest_partition, age_days, max_age_days, status from marts.dq_freshness').fetchall()}
    assert len(rows) == 18
    assert rows[("erp", "returns")] == [D("2024-09-10"), 0, 2, "ok"]  # the empty partition of the as-of date
    assert rows[("servicedesk", "tickets")] == [D("2024-09-10"), 0, 2, "ok"]
    assert rows[("mes", "production_runs")] == [D("2024-09-08"), 2, 2, "ok"]  # exactly the allowance
    assert rows[("survey", "nps_responses")] == [D("2024-09-02"), 8, 2, "stale"]
    assert rows[("hr", "org_units")] == [D("2024-06-15"), 87, 2, "stale"]
    # the finance plan: a plan for fiscal year 2024 (the as-of date's) is loaded
    assert rows[("finance", "plan_info")] == [D("2024-01-01"), 253, None, "ok"]


# ------------------------------------------------------------------------------------------------ problems
def test_source_problems_are_placed_on_business_days(con) -> None:
    problems = con.execute(
        'select source, "table", problem, check_name, partition_date, first_day, last_day, rows_affected '
        "from marts.dq_source_problems where problem <> 'stale' order by all").fetchall()
    assert problems == [
        # the line of an order placed on 2024-07-05: its business date through its order
        ("erp", "order_lines", "quarantined_rows", "quarantine", D("2024-07-05"), D("2024-07-05"), D("2024-07-05"), 1),
        # the update of an order placed on 2024-06-20 (local), quarantined in the 2024-07-05 partition
        ("erp", "orders", "quarantined_rows", "quarantine", D("2024-07-05"), D("2024-06-20"), D("2024-06-20"), 1),
        # its order_ts is what failed: the partition date
        ("erp", "orders", "quarantined_rows", "quarantine", D("2024-08-12"), D("2024-08-12"), D("2024-08-12"), 1),
        # the service desk export repeats changed tickets: the 92 days up to the rejected partition
        ("servicedesk", "tickets", "quarantined_rows", "quarantine", D("2024-07-02"), D("2024-07-02"),
         D("2024-07-02"), 1),
        ("servicedesk", "tickets", "rejected_partition", "batches_accepted", D("2024-01-16"), D("2023-10-16"),
         D("2024-01-16"), None),
        # one survey file per response day: that day — placed by the rejected file's readable row
        ("survey", "nps_responses", "rejected_partition", "batches_accepted", D("2024-03-15"), D("2024-03-15"),
         D("2024-03-15"), 1),
    ]
    stale = dict(con.execute('select source || \'.\' || "table", first_day from marts.dq_source_problems '
                             "where problem = 'stale'").fetchall())
    assert stale["hr.org_units"] == D("2024-06-16") and stale["survey.nps_responses"] == D("2024-09-03")
    assert "finance.plan_info" not in stale


def _verified(con, kpi: str, unit: str, grain: str, start: str) -> bool:
    return con.execute("select is_verified from marts.kpi_actuals where kpi_id = ? and org_unit_id = ? and grain = ? "
                       "and period_start = ?", [kpi, unit, grain, D(start)]).fetchone()[0]


def test_trust_has_the_grain_of_the_unit_and_the_day(con) -> None:
    """A problem marks unverified only the values whose inputs it can change: its own unit and that
    unit's ancestors (as of the problem's day), on its days — not its siblings, not the other days."""
    problems = {(s, t, p): u for s, t, p, u in con.execute(
        'select source, "table", cast(partition_date as varchar), org_unit_id from marts.dq_source_problems '
        "where problem = 'quarantined_rows'").fetchall()}
    assert problems[("erp", "orders", "2024-07-05")] == "TM-SE-3"
    assert problems[("erp", "order_lines", "2024-07-05")] == "TM-SE-3"  # through its order
    assert ("erp", "orders", "2024-03-10") not in problems  # superseded by the partition of 2024-03-12
    # the quarantined update of TM-SE-3's order of 2024-06-20 (before the re-org: under EAST)
    for unit in ("TM-SE-3", "DEP-SALES-EAST", "DIV-SALES", "ACME"):
        assert not _verified(con, "net_revenue", unit, "month", "2024-06-01"), unit
        assert not _verified(con, "net_revenue", unit, "day", "2024-06-20"), unit
    for unit in ("TM-SE-1", "TM-SN-1", "DEP-SALES-NORTH"):
        assert _verified(con, "net_revenue", unit, "month", "2024-06-01"), unit
    assert _verified(con, "net_revenue", "DIV-SALES", "day", "2024-06-19")
    reason = con.execute("select unverified_reason, unverified_tables from marts.kpi_actuals where kpi_id = "
                         "'net_revenue' and org_unit_id = 'TM-SE-3' and grain = 'month' and period_start = ?",
                         [D("2024-06-01")]).fetchone()
    assert reason == ("erp.orders: 1 quarantined row(s) from 2024-06-20", "erp.orders")
    # the superseded version of O00000004 leaves March alone
    assert _verified(con, "net_revenue", "TM-SN-1", "month", "2024-03-01")
    # a rejected change-dated partition has no unit: every unit, the 92 days up to it
    assert not _verified(con, "complaint_rate", "TM-HL-1", "day", "2023-10-16")
    assert _verified(con, "complaint_rate", "TM-HL-1", "day", "2023-10-15")
    assert _verified(con, "complaint_rate", "TM-HL-1", "day", "2024-01-17")
    # HR is stale after its partitions of 2024-06-14: headcount from 2024-06-15, but not a ticket problem
    assert _verified(con, "headcount", "ACME", "day", "2024-06-14")
    assert not _verified(con, "headcount", "ACME", "day", "2024-06-15")
    assert _verified(con, "headcount", "DIV-SERVICE", "day", "2024-01-10")


def test_a_bounded_problem_that_cannot_change_the_status_leaves_it_verified(con) -> None:
    """The quarantined order line can add at most 2 × 100 CNY to July's net revenue of TM-SE-3's
    ancestors. DEP-SALES-NORTH's 9,900 against its phased target is met anywhere in [9,700, 10,100]:
    verified, with a note. DIV-SALES's 9,900 against 10,000 is at risk, but 10,100 would be met: not."""
    north = con.execute(
        "select a.actual_value, a.value_low, a.value_high, a.is_verified, a.status, a.verification_note, "
        "k.is_verified from marts.kpi_attainment a join marts.kpi_actuals k using (kpi_id, org_unit_id, grain, "
        "period_start) where a.kpi_id = 'net_revenue' and a.org_unit_id = 'DEP-SALES-NORTH' and a.grain = 'month' "
        "and a.period_start = ?", [D("2024-07-01")]).fetchone()
    assert north[:5] == (pytest.approx(9900.0), pytest.approx(9700.0), pytest.approx(10100.0), True, "met")
    assert "between 9700.0 and 10100.0" in north[5] and "erp.order_lines: 1 quarantined row(s)" in north[5]
    assert north[6] is False  # the value itself is unverified; its status is not in doubt
    division = con.execute(
        "select is_verified, computed_status, is_status_held_back, verification_note from marts.kpi_attainment "
        "where kpi_id = 'net_revenue' and org_unit_id = 'DIV-SALES' and grain = 'month' and period_start = ?",
        [D("2024-07-01")]).fetchone()
    assert division == (False, "at_risk", True, None)
    # the other teams are untouched
    assert _verified(con, "net_revenue", "TM-SE-1", "month", "2024-07-01")


# ------------------------------------------------------------------------------------------------ trust flag
def _actual(con, kpi: str, unit: str, grain: str, start: str):
    return con.execute("select actual_value, is_verified from marts.kpi_actuals where kpi_id = ? and org_unit_id = ? "
                       "and grain = ? and period_start = ?", [kpi, unit, grain, D(start)]).fetchone()


def test_is_verified_per_period(con) -> None:
    assert _actual(con, "net_revenue", "DIV-SALES", "month", "2024-06-01") == (24300.0, False)
    assert _actual(con, "net_revenue", "DIV-SALES", "day", "2024-06-20")[1] is False
    assert _actual(con, "net_revenue", "DIV-SALES", "day", "2024-06-19")[1] is True
    assert _actual(con, "net_revenue", "DIV-SALES", "month", "2024-07-01") == (9900.0, False)  # the quarantined line
    assert _actual(con, "net_revenue", "DIV-SALES", "month", "2024-05-01")[1] is True
    assert _actual(con, "complaint_rate", "TM-HL-1", "month", "2024-01-01")[1] is False
    assert _actual(con, "complaint_rate", "TM-HL-1", "month", "2024-02-01")[1] is True
    assert _actual(con, "promoters_pct", "DIV-SALES", "month", "2024-03-01")[1] is False
    # the rejected survey file's readable row belongs to TM-SE-1: TM-SN-1's March is not in doubt
    assert _actual(con, "promoters_pct", "TM-SN-1", "month", "2024-03-01")[1] is True
    assert _actual(con, "promoters_pct", "TM-SE-1", "month", "2024-03-01")[1] is False
    assert _actual(con, "promoters_pct", "DIV-SALES", "month", "2024-04-01")[1] is True
    # derived: nps reads the survey like its references
    assert _actual(con, "nps", "DIV-SALES", "month", "2024-03-01")[1] is False


def _attainment(con, kpi: str, unit: str, start: str):
    return con.execute(
        "select status, computed_status, is_status_held_back, status_as_of, is_verified from marts.kpi_attainment "
        "where kpi_id = ? and org_unit_id = ? and grain = 'month' and period_start = ?", [kpi, unit, D(start)]).fetchone()


def test_status_change_is_held_back_while_unverified(con) -> None:
    # June: 24,300 against 4,918 is met — but 2024-06-20 is unverified. The last verified evaluation is
    # as of 2024-06-19: nothing sold yet against 19/30 of the target -> off track.
    assert _attainment(con, "net_revenue", "DIV-SALES", "2024-06-01") == (
        "off_track", "met", True, D("2024-06-19"), False)
    # January's tickets are unverified from its first day: no verified evaluation -> null
    assert _attainment(con, "avg_resolution_hours", "TM-HL-1", "2024-01-01") == (None, "met", True, None, False)
    # verified values keep their own status
    assert _attainment(con, "net_revenue", "DEP-SALES-EAST", "2024-07-01") == (
        "missed", "missed", False, D("2024-07-31"), True)
    held = con.execute("select count(*) from marts.kpi_attainment where is_status_held_back <> (not is_verified "
                       "and computed_status is not null) or (is_verified and status is distinct from computed_status)"
                       ).fetchone()[0]
    assert held == 0


# ------------------------------------------------------------------------------------------------ check results
def test_check_results_of_the_build(con) -> None:
    run_id, = con.execute("select distinct run_id from marts.dq_check_results").fetchone()
    rows = {(a, c): (s, b, sev, f) for a, c, s, b, sev, f in con.execute(
        "select asset, check_name, status, blocking, severity, failing_rows from marts.dq_check_results "
        "where layer = 'source'").fetchall()}
    assert rows[("raw_servicedesk/tickets", "batches_accepted")] == ("failed", False, "warn", 1)
    assert rows[("raw_survey/nps_responses", "batches_accepted")] == ("failed", False, "warn", 1)
    assert rows[("raw_erp/orders", "batches_accepted")] == ("passed", False, "warn", 0)
    assert rows[("raw_erp/orders", "quarantine")] == ("warn", False, "warn", 3)  # the superseded one too
    assert rows[("raw_hr/org_units", "freshness")][0] == "failed"
    assert rows[("raw_erp/returns", "freshness")][0] == "passed"
    assert {s for (a, c), (s, *_) in rows.items() if c == "reconciliation"} == {"passed"}
    assert len([k for k in rows if k[1] == "reconciliation"]) == 18
    tests = dict(con.execute(
        "select check_name, layer || ' ' || asset || ' ' || status || ' ' || blocking from marts.dq_check_results "
        "where resource_type = 'test'").fetchall())
    assert tests["assert_core_load_log_rows_reconcile"] == "marts marts/dq_load_log passed true"
    assert tests["assert_kpi_weights_sum_to_100"] == "kpi marts/kpi_weights passed true"
    models = dict(con.execute("select asset, status from marts.dq_check_results where resource_type = 'model'"
                              ).fetchall())
    assert models["marts/kpi_attainment"] == "passed" and models["staging/stg_erp__orders"] == "passed"
    assert run_id


def test_check_results_survive_rebuilds_and_record_every_command(qwh: QualityWarehouse) -> None:
    with duckdb.connect(str(qwh.warehouse), read_only=True) as c:
        before = c.execute("select count(*), count(distinct run_id) from marts.dq_check_results").fetchone()
    # building the model itself, even with --full-refresh, keeps the history
    built = _dbt(qwh, "build", "--select", "dq_check_results", "--full-refresh")
    assert built.returncode == 0, built.stdout[-3000:]
    tested = _dbt(qwh, "test", "--select", "dq_freshness")
    assert tested.returncode == 0, tested.stdout[-3000:]
    with duckdb.connect(str(qwh.warehouse), read_only=True) as c:
        after = c.execute("select count(*), count(distinct run_id) from marts.dq_check_results").fetchone()
        commands = [r[0] for r in c.execute("select dbt_command from marts.dq_check_results group by run_id, "
                                            "dbt_command order by min(checked_at)").fetchall()]
    assert after[0] > before[0] and after[1] == before[1] + 2
    assert commands[-2:] == ["build", "test"]
    shutil.rmtree(qwh.root / "target_extra", ignore_errors=True)
