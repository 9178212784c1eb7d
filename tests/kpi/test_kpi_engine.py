"""Integration: the KPI engine on the mini lake (dbt build of the whole project, twice).

Values are the fixture's hand-computed answers (tests/fixtures/mini_lake.py) or worked out here
from its rows. Marked slow: two full `dbt build` runs.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.kpi.conftest import MiniWarehouse

pytestmark = pytest.mark.slow

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "queries.sql"


def _con(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def _one(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> object:
    row = con.execute(sql, list(params)).fetchone()
    return None if row is None else row[0]


D = date.fromisoformat


def _actual(con: duckdb.DuckDBPyConnection, kpi: str, unit: str, grain: str, start: str) -> tuple:
    return con.execute(
        "select actual_value, numerator, denominator, kpi_version, is_complete, is_verified from marts.kpi_actuals "
        "where kpi_id = ? and org_unit_id = ? and grain = ? and period_start = cast(? as date)",
        [kpi, unit, grain, start],
    ).fetchone()


@pytest.fixture(scope="module")
def before(mini_warehouse: MiniWarehouse) -> duckdb.DuckDBPyConnection:
    con = _con(mini_warehouse.before.warehouse)
    yield con
    con.close()


@pytest.fixture(scope="module")
def after(mini_warehouse: MiniWarehouse) -> duckdb.DuckDBPyConnection:
    con = _con(mini_warehouse.after.warehouse)
    yield con
    con.close()


# ------------------------------------------------------------------------------------------------
# the build and its consistency tests
# ------------------------------------------------------------------------------------------------
def test_build_ran_every_consistency_test_and_they_passed(mini_warehouse: MiniWarehouse) -> None:
    for build in (mini_warehouse.before, mini_warehouse.after):
        results = build.run_results["results"]
        kpi_tests = [r for r in results if r["unique_id"].startswith("test.") and (
            "assert_kpi_" in r["unique_id"] or "kpi_reconciles_to_fact" in r["unique_id"])]
        assert len(kpi_tests) >= 6
        assert all(r["status"] == "pass" for r in kpi_tests)
        unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")
                      and ("attainment" in r["unique_id"] or "scorecard" in r["unique_id"])]
        assert len(unit_tests) == 4 and all(r["status"] == "pass" for r in unit_tests)


def test_as_of_date_defaults_to_the_latest_business_date(before: duckdb.DuckDBPyConnection,
                                                          mini_warehouse: MiniWarehouse) -> None:
    assert str(_one(before, "select as_of_date from intermediate.int_kpi_as_of")) == \
        mini_warehouse.expected["last_business_date"]


# ------------------------------------------------------------------------------------------------
# actuals equal the hand-computed answers
# ------------------------------------------------------------------------------------------------
def test_net_revenue_by_unit_and_month(before: duckdb.DuckDBPyConnection, mini_warehouse: MiniWarehouse) -> None:
    exp = mini_warehouse.expected
    for by in ("net_revenue_by_team_month", "net_revenue_by_unit_month"):
        for unit, months in exp[by].items():
            for month, value in months.items():
                got = _actual(before, "net_revenue", unit, "month", f"{month}-01")
                assert got is not None and got[0] == pytest.approx(value), (unit, month)
    for unit, years in exp["net_revenue_by_unit_year"].items():
        for year, value in years.items():
            assert _actual(before, "net_revenue", unit, "year", f"{year}-01-01")[0] == pytest.approx(value), (unit, year)


def test_reorg_counts_a_team_once_for_the_department_of_the_fact_date(before: duckdb.DuckDBPyConnection) -> None:
    # TM-SE-3 (40,100 in 2024) moved from EAST to NORTH on 2024-07-01: 30,200 for EAST, 9,900 for NORTH
    east = _actual(before, "net_revenue", "DEP-SALES-EAST", "year", "2024-01-01")[0]
    north = _actual(before, "net_revenue", "DEP-SALES-NORTH", "year", "2024-01-01")[0]
    division = _actual(before, "net_revenue", "DIV-SALES", "year", "2024-01-01")[0]
    assert east == pytest.approx(40200.0) and north == pytest.approx(13900.0)
    assert east + north == pytest.approx(division) == pytest.approx(54100.0)
    # the same for a semi-additive KPI on the day of the move
    assert _actual(before, "headcount", "DEP-SALES-EAST", "day", "2024-06-30")[0] == 3
    assert _actual(before, "headcount", "DEP-SALES-EAST", "day", "2024-07-01")[0] == 2
    assert _actual(before, "headcount", "DEP-SALES-NORTH", "day", "2024-07-01")[0] == 2


def test_ratio_is_recomputed_from_summed_parts_not_averaged(before: duckdb.DuckDBPyConnection) -> None:
    # 2024 non-cancelled orders: TM-SE-1 1 repeat / 2, TM-SE-3 1/3, TM-SN-1 0/1 -> division 2/6.
    # Averaging team ratios would give 0.278, averaging departments (EAST 1/4, NORTH 1/2) 0.375.
    value, num, den, *_ = _actual(before, "repurchase_rate", "DIV-SALES", "year", "2024-01-01")
    assert (num, den) == (2, 6)
    assert value == pytest.approx(2 / 6)
    assert _actual(before, "repurchase_rate", "DEP-SALES-EAST", "year", "2024-01-01")[:3] == (0.25, 1, 4)
    assert _actual(before, "repurchase_rate", "DEP-SALES-NORTH", "year", "2024-01-01")[:3] == (0.5, 1, 2)
    # a month without orders: zero denominator -> null, not 0
    assert _actual(before, "repurchase_rate", "DIV-SALES", "month", "2024-04-01")[:3] == (None, 0, 0)


def test_count_distinct_and_percentile_are_computed_at_every_level(before: duckdb.DuckDBPyConnection) -> None:
    # customers C1..C5 in 2024; EAST saw 4 (C1, C2, C4, C5), NORTH 2 (C2 after the move, C3): not additive
    assert _actual(before, "active_customers", "DIV-SALES", "year", "2024-01-01")[0] == 5
    assert _actual(before, "active_customers", "DEP-SALES-EAST", "year", "2024-01-01")[0] == 4
    assert _actual(before, "active_customers", "DEP-SALES-NORTH", "year", "2024-01-01")[0] == 2
    # first response p90 in January 2024: tickets of 2,400 s and 1,800 s -> 1,800 + 0.9 × 600
    assert _actual(before, "first_response_p90", "DIV-SERVICE", "month", "2024-01-01")[0] == pytest.approx(2340.0)


def test_service_survey_production_engineering_and_people(before: duckdb.DuckDBPyConnection,
                                                          mini_warehouse: MiniWarehouse) -> None:
    exp = mini_warehouse.expected
    for month, value in exp["csat_avg_by_month"].items():
        assert _actual(before, "csat_avg", "TM-HL-1", "month", f"{month}-01")[0] == pytest.approx(value)
    for month, n in exp["complaints_by_month"].items():
        got = _actual(before, "complaint_rate", "DIV-SERVICE", "month", f"{month}-01")
        assert got[1] == n and got[2] == exp["tickets_by_month"][month]
    assert _actual(before, "nps", "DIV-SALES", "year", "2024-01-01")[0] == pytest.approx(exp["nps_div_sales_2024"])
    q = exp["quality_pass_2024"]
    got = _actual(before, "quality_pass_rate", "DIV-OPS", "year", "2024-01-01")
    assert got[1:3] == (q["good_qty"], q["produced_qty"]) and got[0] == pytest.approx(646 / 658)
    # bug rate (derived): 2 bugs / 500 test cases in August 2024
    assert _actual(before, "bug_rate", "TM-PF-1", "month", "2024-08-01")[:3] == (pytest.approx(0.004), 2, 500)
    for unit, quarters in exp["training_hours_by_unit_quarter"].items():
        for quarter, hours in quarters.items():
            year, qn = quarter.split("-Q")
            start = f"{year}-{3 * int(qn) - 2:02d}-01"
            assert _actual(before, "training_hours", unit, "quarter", start)[0] == pytest.approx(hours), (unit, quarter)
    for (unit, day), count in exp["headcount_rollup"].items():
        assert _actual(before, "headcount", unit, "day", day)[0] == count, (unit, day)


def test_last_takes_the_value_on_the_period_s_last_day(before: duckdb.DuckDBPyConnection,
                                                        mini_warehouse: MiniWarehouse) -> None:
    by_date = mini_warehouse.expected["inventory_value_by_date"]
    assert _actual(before, "inventory_value", "ACME", "quarter", "2024-04-01")[0] == by_date["2024-06-30"]
    assert _actual(before, "inventory_value", "DIV-OPS", "month", "2024-07-01")[0] == by_date["2024-07-31"]
    assert _actual(before, "inventory_value", "TM-WH-1", "month", "2024-08-01")[0] == by_date["2024-08-31"]
    # the running quarter takes the as-of date (2024-09-10), which has no snapshot: 0, not a sum of months
    assert _actual(before, "inventory_value", "ACME", "quarter", "2024-07-01")[0] == 0


def test_every_kpi_unit_period_exists_once(before: duckdb.DuckDBPyConnection) -> None:
    dupes = _one(before, "select count(*) from (select kpi_id, org_unit_id, grain, period_start from marts.kpi_actuals "
                         "group by all having count(*) > 1)")
    assert dupes == 0
    # a day without any revenue still has a row (additive -> 0), for every in-scope unit valid that day
    for unit in ("ACME", "DIV-SALES", "DEP-SALES-EAST", "DEP-SALES-NORTH", "TM-SE-1", "TM-SE-3", "TM-SN-1"):
        assert _actual(before, "net_revenue", unit, "day", "2024-05-05")[0] == 0
    # out of scope: no sales KPI rows for the service division
    assert _actual(before, "net_revenue", "DIV-SERVICE", "month", "2024-01-01") is None
    # complete periods and the running one
    assert _actual(before, "net_revenue", "ACME", "month", "2024-08-01")[4] is True
    assert _actual(before, "net_revenue", "ACME", "month", "2024-09-01")[4] is False
    assert _one(before, "select max(period_start) from marts.kpi_actuals where grain = 'day'").isoformat() == "2024-09-10"


def test_is_verified_follows_the_load_log(before: duckdb.DuckDBPyConnection) -> None:
    # one ticket row was quarantined in servicedesk.tickets, partition 2024-07-02
    assert _actual(before, "complaint_rate", "TM-HL-1", "month", "2024-07-01")[5] is False
    assert _actual(before, "complaint_rate", "TM-HL-1", "quarter", "2024-07-01")[5] is False
    assert _actual(before, "complaint_rate", "TM-HL-1", "month", "2024-06-01")[5] is True
    assert _actual(before, "net_revenue", "DIV-SALES", "month", "2024-07-01")[5] is True


# ------------------------------------------------------------------------------------------------
# targets, attainment, scorecard
# ------------------------------------------------------------------------------------------------
def _target(con: duckdb.DuckDBPyConnection, kpi: str, unit: str, grain: str, start: str) -> tuple | None:
    return con.execute(
        "select target_value, target_low, target_high, source, plan_version from marts.kpi_targets "
        "where kpi_id = ? and org_unit_id = ? and grain = ? and period_start = cast(? as date)",
        [kpi, unit, grain, start]).fetchone()


def test_no_data_is_not_zero(before: duckdb.DuckDBPyConnection) -> None:
    """The mini lake's sales begin with the order of 2023-12-28: before that month there is no net
    revenue at all (null, `no_data`), not 0; December 2023 has data only from the 28th (`partial`: a
    value, but no status and no growth base). Headcount has HR history from 2020: it is real there."""
    rows = {str(r[0]): r[1:] for r in before.execute(
        "select period_start, actual_value, data_status, data_start from marts.kpi_actuals where kpi_id = "
        "'net_revenue' and org_unit_id = 'ACME' and grain = 'month' and period_start between '2023-10-01' "
        "and '2024-01-01'").fetchall()}
    assert rows["2023-11-01"] == (None, "no_data", D("2023-12-28"))
    assert rows["2023-12-01"] == (18000.0, "partial", D("2023-12-28"))
    assert rows["2024-01-01"][1] == "ok"
    zeros = before.execute("select count(*) from marts.kpi_actuals where data_status = 'no_data' and "
                           "(actual_value is not null or numerator is not null)").fetchone()[0]
    assert zeros == 0
    assert _actual(before, "headcount", "ACME", "month", "2023-11-01")[0] == 14.0
    status = before.execute("select status, data_status from marts.kpi_attainment where kpi_id = 'net_revenue' and "
                            "org_unit_id = 'ACME' and grain = 'month' and period_start = '2023-12-01'").fetchone()
    assert status == (None, "partial")
    # a growth target on a partial base period is missing, and says why; no target is "missing" for
    # a period that has no data itself
    missing = before.execute(
        "select target_status, target_note from marts.kpi_targets where kpi_id = 'net_revenue' and org_unit_id = "
        "'ACME' and grain = 'year' and period_start = '2024-01-01'").fetchone()
    assert missing[0] == "missing"
    assert missing[1] == ("growth target needs a complete base period: last year is incomplete "
                          "(its inputs start 2023-12-28)")
    assert before.execute("select count(*) from marts.kpi_targets t join marts.kpi_actuals a using "
                          "(kpi_id, org_unit_id, grain, period_start) where a.data_status = 'no_data' and "
                          "t.target_status = 'missing'").fetchone()[0] == 0
    # the scorecard says which weighted KPIs it could not score, and why
    unscored = before.execute("select weight_unscored, unscored_kpis from marts.kpi_scorecard where org_unit_id = "
                              "'ACME' and grain = 'year' and period_start = '2024-01-01'").fetchone()
    assert unscored[0] > 0 and "net_revenue (target missing)" in unscored[1]


def test_plan_targets_allocation_and_phasing(before: duckdb.DuckDBPyConnection) -> None:
    assert _target(before, "net_revenue", "DIV-SALES", "year", "2024-01-01") == (60000.0, None, None, "set", "FY2024-v1")
    assert _target(before, "net_revenue", "DIV-SALES", "month", "2024-07-01")[:4] == (10000.0, None, None, "set")
    assert _target(before, "net_revenue", "TM-SE-1", "quarter", "2024-01-01")[3] == "set"
    # TM-SE-1 had all of EAST's 2023 revenue (18,000 of 18,000): its allocated share of EAST's 40,000 is 100 %
    assert _target(before, "net_revenue", "TM-SE-1", "year", "2024-01-01")[:4] == (40000.0, None, None, "allocated")
    # the mini plan sets complaint_rate (a share) to 5.0 — "5 per 100 tickets" written as 5: impossible
    # for a share, so the plan row is rejected, visibly, and the catalog rule does not fill in; the
    # team that would inherit it inherits the rejection (ratio KPIs inherit the parent's target)
    status = before.execute(
        "select target_value, source, target_status, target_note from marts.kpi_targets where kpi_id = "
        "'complaint_rate' and grain = 'year' and period_start = '2024-01-01' and org_unit_id = ?", ["DIV-SERVICE"]
    ).fetchone()
    assert status[:3] == (None, "set", "rejected")
    assert "above the highest value complaint_rate can take (1.0" in status[3] and "rule: possible" in status[3]
    inherited = before.execute(
        "select target_value, source, target_status, target_note from marts.kpi_targets where kpi_id = "
        "'complaint_rate' and grain = 'year' and period_start = '2024-01-01' and org_unit_id = 'TM-HL-1'").fetchone()
    assert inherited[:3] == (None, "allocated", "rejected")
    assert inherited[3].startswith("allocated from the rejected target of DIV-SERVICE")
    # the quarter phased from the division's year target: 2023 has only December, so linear by days
    assert _target(before, "net_revenue", "DIV-SALES", "quarter", "2024-07-01")[0] == pytest.approx(60000 * 92 / 366)
    # range target set for the company
    assert _target(before, "headcount", "ACME", "year", "2024-01-01")[1:4] == (12.0, 16.0, "set")
    # an additive plan target that cannot be allocated (no history below it) leaves the catalog's rule:
    # new contracts >= 20 a quarter for every sales team
    assert _target(before, "new_contracts", "DIV-SALES", "quarter", "2024-07-01")[:4] == (3.0, None, None, "set")
    assert _target(before, "new_contracts", "TM-SE-1", "quarter", "2024-07-01")[:4] == (20.0, None, None, "catalog_rule")
    # catalog rule: fixed (NPS 80) where the plan sets nothing
    assert _target(before, "nps", "DIV-SALES", "quarter", "2024-07-01")[:4] == (80.0, None, None, "catalog_rule")


def test_attainment_and_status(before: duckdb.DuckDBPyConnection) -> None:
    row = before.execute(
        "select actual_value, target_value, attainment, status from marts.kpi_attainment "
        "where kpi_id = 'net_revenue' and org_unit_id = 'DIV-SALES' and grain = 'month' and period_start = '2024-07-01'"
    ).fetchone()
    assert row == (pytest.approx(9900.0), 10000.0, pytest.approx(0.99), "at_risk")
    # 2 complaints in 5 tickets (0.4) against the mini plan's impossible 5.0: the target is rejected,
    # so there is no attainment and no status — not a fallback's verdict
    row = before.execute(
        "select actual_value, attainment, status, target_status from marts.kpi_attainment where kpi_id = "
        "'complaint_rate' and org_unit_id = 'DIV-SERVICE' and grain = 'year' and period_start = '2024-01-01'"
    ).fetchone()
    assert row == (pytest.approx(0.4), None, None, "rejected")
    # lower is better, floored at 0: the catalog's fixed 60 s first response against 2,340 s in January
    # is 0, missed
    row = before.execute(
        "select target_value, attainment, status from marts.kpi_attainment where kpi_id = 'first_response_p90' "
        "and org_unit_id = 'DIV-SERVICE' and grain = 'month' and period_start = '2024-01-01'").fetchone()
    assert row == (60.0, 0.0, "missed")
    # range: 15 people at ACME at the as-of date, inside 12..16
    row = before.execute(
        "select attainment, status from marts.kpi_attainment where kpi_id = 'headcount' and org_unit_id = 'ACME' "
        "and grain = 'year' and period_start = '2024-01-01'").fetchone()
    assert row == (1.0, "on_track")


def test_scorecard_uses_the_plan_weights(before: duckdb.DuckDBPyConnection) -> None:
    weights = dict(before.execute(
        "select kpi_id, weight from marts.kpi_weights where org_unit_id = 'DIV-SALES' "
        "and valid_from <= date '2024-07-31' and (valid_to is null or date '2024-07-31' < valid_to)").fetchall())
    assert weights == {"net_revenue": 50.0, "new_contracts": 30.0, "repurchase_rate": 20.0}
    assert _one(before, "select count(*) from (select org_unit_id, valid_from from marts.kpi_weights "
                        "group by all having abs(sum(weight) - 100) > 1e-9)") == 0
    score, count, total = before.execute(
        "select score, kpi_count, weight_total from marts.kpi_scorecard where org_unit_id = 'DIV-SALES' "
        "and grain = 'month' and period_start = '2024-07-01'").fetchone()
    att = dict(before.execute(
        "select kpi_id, attainment from marts.kpi_attainment where org_unit_id = 'DIV-SALES' and grain = 'month' "
        "and period_start = '2024-07-01' and attainment is not null").fetchall())
    scored = {k: w for k, w in weights.items() if k in att}
    assert count == len(scored) and total == sum(scored.values())
    assert score == pytest.approx(sum(w * min(att[k], 1.2) for k, w in scored.items()) / sum(scored.values()))


# ------------------------------------------------------------------------------------------------
# versions: a change from 2024-08-01 leaves closed periods alone
# ------------------------------------------------------------------------------------------------
def test_target_change_does_not_rewrite_the_closed_quarter(before: duckdb.DuckDBPyConnection,
                                                           after: duckdb.DuckDBPyConnection) -> None:
    sql = ("select kpi_id, org_unit_id, grain, period_start, target_value, source, plan_version from marts.kpi_targets "
           "where period_end < date '2024-08-01' order by all")
    assert after.execute(sql).fetchall() == before.execute(sql).fetchall()
    sql_att = ("select kpi_id, org_unit_id, grain, period_start, attainment, status from marts.kpi_attainment "
               "where period_end < date '2024-08-01' order by all")
    assert after.execute(sql_att).fetchall() == before.execute(sql_att).fetchall()
    # Q2 (closed) keeps FY2024-v1; Q3 (running on 2024-09-10) takes FY2024-v2
    assert _target(after, "net_revenue", "DIV-SALES", "quarter", "2024-04-01")[4] == "FY2024-v1"
    q3_before = _target(before, "net_revenue", "DIV-SALES", "quarter", "2024-07-01")
    q3_after = _target(after, "net_revenue", "DIV-SALES", "quarter", "2024-07-01")
    assert q3_after[4] == "FY2024-v2" and q3_after[0] == pytest.approx(90000 * 92 / 366) != q3_before[0]
    assert _target(after, "net_revenue", "DIV-SALES", "year", "2024-01-01")[:4] == (90000.0, None, None, "set")
    # July (closed before the plan took effect) keeps its set target
    assert _target(after, "net_revenue", "DIV-SALES", "month", "2024-07-01")[:4] == (10000.0, None, None, "set")


def test_kpi_formula_change_applies_to_the_period_valid_then(before: duckdb.DuckDBPyConnection,
                                                             after: duckdb.DuckDBPyConnection) -> None:
    # v2 (from 2024-08-01) excludes returns. July is closed under v1 and keeps the -8,100 return.
    assert _actual(after, "net_revenue", "TM-SE-3", "month", "2024-07-01")[::3] == (9900.0, 1)
    # Q3 is running on 2024-09-10, so it is evaluated with v2 over the whole quarter
    q3 = _actual(after, "net_revenue", "TM-SE-3", "quarter", "2024-07-01")
    assert q3[3] == 2 and q3[0] == pytest.approx(18000.0)
    assert _actual(before, "net_revenue", "TM-SE-3", "quarter", "2024-07-01")[0] == pytest.approx(9900.0)
    closed = ("select kpi_id, org_unit_id, grain, period_start, actual_value, kpi_version from marts.kpi_actuals "
              "where period_end < date '2024-08-01' order by all")
    assert after.execute(closed).fetchall() == before.execute(closed).fetchall()
    versions = after.execute("select version, valid_from, valid_to, is_current from marts.kpi_definitions "
                             "where kpi_id = 'net_revenue' order by version").fetchall()
    assert [(v, str(f), str(t) if t else None, c) for v, f, t, c in versions] == [
        (1, "2023-01-01", "2024-08-01", False), (2, "2024-08-01", None, True)]


def test_snapshots_record_the_changes(after: duckdb.DuckDBPyConnection) -> None:
    closed_rows = _one(after, "select count(*) from snapshots.kpi_definitions_snapshot "
                              "where kpi_id = 'net_revenue' and version = 1 and dbt_valid_to is not null")
    assert closed_rows == 1  # v1 got valid_to when v2 arrived
    changed = _one(after, "select count(*) from snapshots.kpi_targets_snapshot where kpi_id = 'net_revenue' "
                          "and org_unit_id = 'DIV-SALES' and grain = 'year' and period_start = '2024-01-01'")
    assert changed == 2


def test_target_findings_when_children_do_not_add_up(before: duckdb.DuckDBPyConnection,
                                                     after: duckdb.DuckDBPyConnection) -> None:
    assert _one(before, "select count(*) from marts.kpi_target_findings") == 0  # 40,000 + 20,000 = 60,000
    row = after.execute(
        "select parent_target, children_target_sum, children_with_target, children_count, finding "
        "from marts.kpi_target_findings where kpi_id = 'net_revenue' and org_unit_id = 'DIV-SALES' "
        "and grain = 'year'").fetchone()
    assert row == (90000.0, 120000.0, 2, 2, "children_do_not_add_up")


# ------------------------------------------------------------------------------------------------
# the analyst queries
# ------------------------------------------------------------------------------------------------
def _statements() -> list[str]:
    text = "\n".join(line for line in QUERIES.read_text(encoding="utf-8").splitlines()
                     if not line.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def test_docs_queries_run_and_answer(after: duckdb.DuckDBPyConnection) -> None:
    statements = _statements()
    assert len(statements) == 5
    results = [after.execute(s).fetchall() for s in statements]
    # 1. behind on revenue this quarter: EAST's Q3 target (100,000 × 92/366, phased linearly to
    #    72 of 92 days) expects 19,672 by 2024-09-10; it has 8,000 (TM-SE-1's September order)
    behind = {r[0]: r for r in results[0]}
    assert set(behind) == {"DEP-SALES-EAST"}
    expected_to_date = 100000 * 92 / 366 * 72 / 92
    assert behind["DEP-SALES-EAST"][4] == pytest.approx(8000 - expected_to_date)
    # 2. league table of August (the last complete month): only TM-PF-1 scores above 0 (capped at
    #    1.2); teams with nothing scored have no score and no rank; TM-SE-3 now sits under NORTH
    league = {r[1]: (r[0], r[3], r[4], r[5]) for r in results[1]}
    assert league == {
        "TM-WH-1": ("DEP-LOGISTICS", None, 0, 0.0), "TM-PL1-A": ("DEP-MFG-PLANT1", None, 0, 0.0),
        "TM-PF-1": ("DEP-RND-PLATFORM", 1, 1, 50.0), "TM-SE-1": ("DEP-SALES-EAST", 1, 1, 30.0),
        "TM-SN-1": ("DEP-SALES-NORTH", 1, 2, 60.0), "TM-SE-3": ("DEP-SALES-NORTH", 1, 1, 30.0),
        "TM-HL-1": ("DEP-SVC-HOTLINE", None, 0, 0.0),
    }
    assert {r[1]: r[2] for r in results[1]} == {
        "TM-WH-1": None, "TM-PL1-A": None, "TM-PF-1": pytest.approx(1.2), "TM-SE-1": 0.0,
        "TM-SN-1": 0.0, "TM-SE-3": 0.0, "TM-HL-1": None}
    # 3. off track in September: the three sales teams' new contracts (7 a quarter phased to date),
    #    owned by DIV-SALES / E00002
    assert [(r[0], r[2], r[3], r[4], r[5], r[7]) for r in results[2]] == [
        ("new_contracts", "TM-SE-1", "DIV-SALES", "E00002", 1.0, "off_track"),
        ("new_contracts", "TM-SE-3", "DIV-SALES", "E00002", 0.0, "off_track"),
        ("new_contracts", "TM-SN-1", "DIV-SALES", "E00002", 0.0, "off_track"),
    ]
    assert [r[6] for r in results[2]] == pytest.approx([7 / 3] * 3)
    # 4. NPS of DIV-SALES = promoters % - detractors %, in the months with responses; September
    #    (still running on 2024-09-10) is not verified
    answered = {r[0]: r[1:5] for r in results[3] if r[4]}
    assert answered == {
        date(2024, 1, 1): (100.0, 0.0, 100.0, 1.0), date(2024, 3, 1): (0.0, 100.0, -100.0, 1.0),
        date(2024, 7, 1): (0.0, 0.0, 0.0, 1.0), date(2024, 8, 1): (100.0, 0.0, 100.0, 1.0),
        date(2024, 9, 1): (0.0, 100.0, -100.0, 1.0),
    }
    assert all(r[3] is None for r in results[3] if not r[4])
    assert [r[0] for r in results[3] if not r[5]] == [date(2024, 9, 1)]
    # 5. two definition changes (newest version first) and where the year's targets come from
    changes = results[4]
    assert len(changes) == 26 and [r[:2] for r in changes[:2]] == [("complaint_rate", 2), ("net_revenue", 2)]
    assert changes[1][2:] == (date(2024, 8, 1), "test: returns are reported separately", 3, 1, 3)
    assert changes[0][2] == date(2025, 7, 1) and changes[0][3].startswith("Formula change: P4")
    assert {r[0]: r[4:] for r in changes if r[1] == 1}["headcount"] == (1, 17, 0)


def test_largest_fact_is_scanned_once_by_the_kpi_models(mini_warehouse: MiniWarehouse,
                                                        after: duckdb.DuckDBPyConnection) -> None:
    """Count table scans of each fact in the physical plans of every KPI model (EXPLAIN)."""
    compiled = mini_warehouse.after.target_path / "compiled" / "kpi_warehouse" / "models"
    scans: dict[str, int] = {}

    def walk(node: object) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        assert isinstance(node, dict)
        extra = node.get("extra_info")
        table = extra.get("Table") if isinstance(extra, dict) else None
        if "SCAN" in str(node.get("name")) and table:
            name = str(table).split(".")[-1]
            if name.startswith("fct_"):
                scans[name] = scans.get(name, 0) + 1
        walk(node.get("children", []))

    models = sorted(compiled.glob("*/kpi/*.sql"))
    assert len(models) >= 25
    for path in models:
        plan = after.execute("explain (format json) " + path.read_text(encoding="utf-8")).fetchall()
        walk(json.loads(plan[0][1]))
    assert scans, "no fact scans found in the plans"
    # additive pass (all additive KPIs of a fact at once) + one pass per count_distinct/percentile KPI
    # version (active_customers, median_order_value: one pass mixing both spilled > 50 GB at scale 10,
    # see kpi_nonadditive_sql) + last year's distinct counts to date for the running periods (fct_orders)
    assert scans.get("fct_revenue_events") == 1
    assert scans.get("fct_orders") == 4
    assert scans.get("fct_tickets") == 2  # additive + first_response_p90
    assert all(n <= 4 for n in scans.values()), scans


def test_actuals_by_dimension_add_up_and_explain(before: duckdb.DuckDBPyConnection) -> None:
    by_channel = dict(before.execute(
        "select dimension_value, actual_value from marts.kpi_actuals_by_dimension where kpi_id = 'net_revenue' "
        "and org_unit_id = 'DIV-SALES' and grain = 'year' and period_start = '2024-01-01' and dimension = 'channel'"
    ).fetchall())
    # O00000005 (partner): 24,300 sold, 8,100 refunded after the re-org
    assert by_channel["partner"] == pytest.approx(16200.0)
    assert sum(by_channel.values()) == pytest.approx(54100.0)
    parts = before.execute(
        "select sum(numerator), sum(denominator) from marts.kpi_actuals_by_dimension where kpi_id = 'repurchase_rate' "
        "and org_unit_id = 'DIV-SALES' and grain = 'year' and period_start = '2024-01-01' and dimension = 'segment'"
    ).fetchone()
    assert parts == (2, 6)
    dims = {r[0] for r in before.execute("select distinct dimension from marts.kpi_actuals_by_dimension "
                                         "where kpi_id = 'complaint_rate'").fetchall()}
    assert "priority" in dims and "product_category" not in dims


def test_every_kpi_mart_column_is_documented(after: duckdb.DuckDBPyConnection) -> None:
    import yaml

    doc = yaml.safe_load((QUERIES.parents[1] / "dbt_project" / "models" / "marts" / "kpi" / "_kpi__models.yml")
                         .read_text(encoding="utf-8"))
    for model in doc["models"]:
        columns = [r[0] for r in after.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = ? "
            "order by ordinal_position", [model["name"]]).fetchall()]
        documented = {c["name"] for c in model.get("columns", []) if c.get("description")}
        assert columns and set(columns) == documented, model["name"]


@pytest.fixture(scope="module")
def as_of_june(mini_warehouse: MiniWarehouse, tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """The KPI models rebuilt with var as_of_date = 2024-06-30 (on a copy of the second warehouse)."""
    import shutil
    import subprocess

    from tests.kpi.conftest import _dbt

    root = tmp_path_factory.mktemp("kpi_as_of")
    warehouse = root / "june.duckdb"
    shutil.copy(mini_warehouse.after.warehouse, warehouse)
    env = {**__import__("os").environ, "KPI_WAREHOUSE_PATH": str(warehouse),
           "KPI_LAKE_DIR": str(mini_warehouse.after.warehouse.parent / "lake"), "KPI_TIMEZONE": "Asia/Shanghai"}
    project = mini_warehouse.project_dir
    proc = subprocess.run(
        [_dbt(), "run", "--select", "int_kpi_as_of+,tag:kpi", "--vars", '{"as_of_date": "2024-06-30"}',
         "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(root / "target"),
         "--log-path", str(root / "logs")], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    con = _con(warehouse)
    yield con
    con.close()


def test_as_of_var_ends_the_periods_and_closed_periods_do_not_move(
        as_of_june: duckdb.DuckDBPyConnection, after: duckdb.DuckDBPyConnection) -> None:
    assert str(_one(as_of_june, "select as_of_date from intermediate.int_kpi_as_of")) == "2024-06-30"
    assert str(_one(as_of_june, "select max(period_start) from marts.kpi_actuals where grain = 'day'")) == "2024-06-30"
    assert _actual(as_of_june, "net_revenue", "ACME", "quarter", "2024-07-01") is None
    assert _actual(as_of_june, "net_revenue", "ACME", "quarter", "2024-04-01")[4] is True
    assert _actual(as_of_june, "net_revenue", "ACME", "year", "2024-01-01")[4] is False
    sql = ("select kpi_id, org_unit_id, grain, period_start, actual_value, kpi_version from marts.kpi_actuals "
           "where period_end <= date '2024-06-30' order by all")
    assert as_of_june.execute(sql).fetchall() == after.execute(sql).fetchall()
