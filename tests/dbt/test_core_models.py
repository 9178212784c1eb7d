"""Known answers of the core layers (staging → intermediate → marts.core) built from the mini lake."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from pipelines.settings import REPO_ROOT
from tests.dbt.dbt_helpers import rows, scalar

pytestmark = pytest.mark.slow

D = date.fromisoformat


def _same(a, b) -> bool:
    """Equal, with a float tolerance, element-wise through tuples."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def assert_matches(got: dict, want: dict) -> None:
    assert set(got) == set(want), (sorted(set(got) ^ set(want)))
    wrong = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
    assert not wrong, wrong


# ---------------------------------------------------------------------------------------------- build
def test_build_materialises_every_core_model(core_warehouse, wh):
    manifest = json.loads((core_warehouse.workspace.target_path / "manifest.json").read_text())
    core = {
        (node["schema"].lower(), (node["alias"] or node["name"]).lower())
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "core" in node["tags"]
        and node["config"]["materialized"] != "ephemeral"
    }
    built = {(s.lower(), t.lower()) for s, t in rows(wh, "select table_schema, table_name from information_schema.tables")}
    assert {("marts", "fct_revenue_events"), ("marts", "dim_org_unit")} <= core
    assert sorted(core - built) == []


def test_docs_generate_succeeds(core_warehouse):
    assert core_warehouse.docs_ok
    catalog = json.loads((core_warehouse.workspace.target_path / "catalog.json").read_text())
    assert "model.kpi_warehouse.fct_revenue_events" in catalog["nodes"]
    manifest = json.loads((core_warehouse.workspace.target_path / "manifest.json").read_text())
    closure = manifest["nodes"]["model.kpi_warehouse.int_org_closure_daily"]
    assert "Re-organisation rule" in closure["description"]


def test_every_core_model_and_column_is_documented(core_warehouse):
    manifest = json.loads((core_warehouse.workspace.target_path / "manifest.json").read_text())
    catalog = json.loads((core_warehouse.workspace.target_path / "catalog.json").read_text())
    missing = []
    for node_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or "core" not in node["tags"]:
            continue
        if not node["description"].strip():
            missing.append(node_id)
        built = catalog["nodes"].get(node_id, {}).get("columns", {})
        for column in built:
            doc = node["columns"].get(column) or node["columns"].get(column.lower())
            if doc is None or not doc["description"].strip():
                missing.append(f"{node_id}.{column}")
        if node["config"].get("meta", {}).get("rebuild_when_columns_change"):
            # macros/core/should_full_refresh.sql compares the table with the documented columns: a
            # documented column the model does not build would rebuild the fact every night
            assert {c.lower() for c in node["columns"]} == {c.lower() for c in built}, node_id
    assert not missing


def test_pii_columns_are_tagged(core_warehouse):
    manifest = json.loads((core_warehouse.workspace.target_path / "manifest.json").read_text())
    tagged = {
        (node["name"], name)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        for name, column in node["columns"].items()
        if "pii" in column.get("tags", [])
    }
    assert {("dim_employee", "full_name"), ("dim_employee", "full_name_zh"), ("dim_employee", "email"),
            ("dim_customer", "customer_name")} <= tagged


def _contract_fact_columns() -> dict[str, list[str]]:
    """The fact table of docs/warehouse.md: fact name -> the columns it lists."""
    text = (Path(REPO_ROOT) / "docs" / "warehouse.md").read_text(encoding="utf-8")
    facts = {}
    for line in text.splitlines():
        m = re.match(r"^\|\s*`(fct_\w+)`\s*\|[^|]*\|(.*)\|\s*$", line)
        if m:
            facts[m.group(1)] = re.findall(r"`(\w+)`", m.group(2))
    return facts


def test_facts_have_the_contract_columns(wh):
    contract = _contract_fact_columns()
    assert len(contract) == 10
    for fact, columns in contract.items():
        actual = {r[0] for r in rows(wh, "select column_name from information_schema.columns "
                                          "where table_schema = 'marts' and table_name = ?", [fact])}
        assert set(columns) <= actual, (fact, set(columns) - actual)


@pytest.mark.parametrize(("model", "columns"), [
    ("dim_date", ["date_day", "day_of_week", "day_of_month", "is_month_end", "week_start", "iso_year", "iso_week",
                  "month_start", "quarter_start", "year_start", "fiscal_year", "fiscal_quarter", "is_weekend",
                  "is_holiday", "holiday_name", "is_workday"]),
    ("dim_org_unit", ["org_unit_id", "name", "name_zh", "unit_type", "level", "parent_org_unit_id", "path",
                      "manager_employee_id", "valid_from", "valid_to", "is_current"]),
    ("dim_employee", ["employee_id", "full_name", "full_name_zh", "email", "job_title", "hire_date",
                      "termination_date", "current_org_unit_id"]),
    ("dq_load_log", ["source", "table", "partition_date", "status", "rows_read", "rows_loaded",
                     "rows_quarantined", "message", "source_ref", "batch_id", "loaded_at", "content_sha256"]),
])
def test_dimensions_have_the_contract_columns(wh, model, columns):
    actual = [r[0] for r in rows(wh, "select column_name from information_schema.columns "
                                      "where table_schema = 'marts' and table_name = ?", [model])]
    assert set(columns) <= set(actual)


def test_closure_columns(wh):
    actual = [r[0] for r in rows(wh, "select column_name from information_schema.columns where "
                                      "table_schema = 'intermediate' and table_name = 'int_org_closure_daily' "
                                      "order by ordinal_position")]
    assert actual == ["date_day", "ancestor_id", "descendant_id", "depth"]


# ---------------------------------------------------------------------------------------------- staging
def test_staging_keeps_the_latest_version(wh):
    # orders: newer updated_at wins (late update), also for a cancellation
    assert rows(wh, "select status from staging.stg_erp__orders where order_id = 'O00000005'") == [("shipped",)]
    assert rows(wh, "select status from staging.stg_erp__orders where order_id = 'O00000004'") == [("cancelled",)]
    assert rows(wh, "select quantity from staging.stg_erp__order_lines where order_line_id = 'O00000005-1'") == [(3,)]
    # same updated_at in two partitions: the later partition wins
    assert rows(wh, "select product_name from staging.stg_erp__products where product_id = 'P0004'") == [
        ("Calibration service",)]
    # no updated_at: the later export wins
    assert rows(wh, "select status from staging.stg_engineering__bugs where bug_id = 'B0001'") == [("fixed",)]
    # composite key: the restated snapshot wins
    assert rows(wh, "select quantity_on_hand from staging.stg_erp__inventory_snapshots where "
                    "snapshot_date = date '2024-08-31' and product_id = 'P0002'") == [(90,)]
    # SCD2 key (org_unit_id, valid_from): the closing update of TM-SE-3's first row
    assert rows(wh, "select valid_from, valid_to, parent_org_unit_id from staging.stg_hr__org_units "
                    "where org_unit_id = 'TM-SE-3' order by valid_from") == [
        (D("2020-01-01"), D("2024-07-01"), "DEP-SALES-EAST"), (D("2024-07-01"), None, "DEP-SALES-NORTH")]


def test_staging_row_counts_are_one_per_key(wh, expected):
    assert scalar(wh, "select count(*) from staging.stg_erp__orders") == len(expected["orders"])
    assert scalar(wh, "select count(*) from staging.stg_servicedesk__tickets") == len(expected["tickets"])
    assert scalar(wh, "select count(*) from staging.stg_finance__targets") == expected["targets"]


def test_staging_types_are_explicit(wh):
    types = dict(rows(wh, "select column_name, data_type from information_schema.columns "
                          "where table_schema = 'staging' and table_name = 'stg_servicedesk__tickets'"))
    assert types["opened_at_utc"] == "TIMESTAMP"  # plain UTC wall-clock, no zone
    assert types["opened_date"] == "DATE"
    assert types["is_complaint"] == "BOOLEAN"
    assert types["csat"] == "INTEGER"


# ---------------------------------------------------------------------------------------------- time
def test_ticket_opened_2330_local_is_on_its_local_day(wh):
    assert rows(wh, "select opened_date, opened_at_utc from marts.fct_tickets where ticket_id = 'T0002'") == [
        (D("2024-01-15"), datetime(2024, 1, 15, 15, 30))]
    # 00:15 local is the next local day although it is still Jan 15 in UTC
    assert scalar(wh, "select opened_date from marts.fct_tickets where ticket_id = 'T0003'") == D("2024-01-16")


def test_order_at_1700_utc_is_on_the_next_local_date(wh):
    assert scalar(wh, "select order_date from marts.fct_orders where order_id = 'O00000003'") == D("2024-02-01")
    assert scalar(wh, "select event_date from marts.fct_revenue_events where event_id = 'O00000003-1'") == D(
        "2024-02-01")


def test_other_local_date_edges(wh):
    assert scalar(wh, "select response_date from marts.fct_survey_responses where response_id = 'S0004'") == D(
        "2024-08-01")
    assert scalar(wh, "select created_date from marts.fct_bugs where bug_id = 'B0003'") == D("2024-08-22")
    assert scalar(wh, "select finish_date from marts.fct_production_runs where run_id = 'RUN0002'") == D(
        "2024-07-15")


# ---------------------------------------------------------------------------------------------- org
def test_closure_moves_tm_se_3_on_the_reorg_date(wh):
    sql = ("select ancestor_id from intermediate.int_org_closure_daily "
           "where descendant_id = 'TM-SE-3' and depth = 1 and date_day = ?")
    assert rows(wh, sql, [D("2024-06-30")]) == [("DEP-SALES-EAST",)]
    assert rows(wh, sql, [D("2024-07-01")]) == [("DEP-SALES-NORTH",)]
    both = scalar(wh, """
        select count(*) from (
            select date_day
            from intermediate.int_org_closure_daily
            where descendant_id = 'TM-SE-3' and ancestor_id in ('DEP-SALES-EAST', 'DEP-SALES-NORTH')
            group by date_day
            having count(*) > 1
        )""")
    assert both == 0
    # the division and the company contain TM-SE-3 every day, exactly once
    assert scalar(wh, """
        select count(*) from intermediate.int_org_closure_daily
        where descendant_id = 'TM-SE-3' and ancestor_id = 'DIV-SALES'
        """) == scalar(wh, "select count(*) from intermediate.int_date_spine")


def test_closure_depths_and_self_rows(wh):
    assert rows(wh, """
        select ancestor_id, depth from intermediate.int_org_closure_daily
        where descendant_id = 'TM-SN-1' and date_day = date '2024-03-01' order by depth""") == [
        ("TM-SN-1", 0), ("DEP-SALES-NORTH", 1), ("DIV-SALES", 2), ("ACME", 3)]


def test_dim_org_unit(wh, expected):
    assert scalar(wh, "select count(*) from marts.dim_org_unit") == expected["org_unit_rows"]
    for (unit, valid_from), path in expected["org_paths"].items():
        assert rows(wh, "select path, level from marts.dim_org_unit where org_unit_id = ? and valid_from = ?",
                    [unit, D(valid_from)]) == [(path, 4)]
    assert rows(wh, "select org_unit_id, parent_org_unit_id from marts.dim_org_unit where is_current "
                    "order by org_unit_id") == sorted(expected["org_parent"].items())
    assert scalar(wh, "select level from marts.dim_org_unit where org_unit_id = 'ACME'") == 1


# ---------------------------------------------------------------------------------------------- revenue
def test_late_update_wins_and_cancellations_net_to_zero(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, """
        select event_id, event_type, cast(event_date as varchar), org_unit_id, quantity, gross_amount, net_amount,
               cost_amount
        from marts.fct_revenue_events""")}
    assert len(got) == expected["revenue_events"]
    assert_matches({k: got[k] for k in expected["revenue_event"]}, expected["revenue_event"])
    assert scalar(wh, "select is_cancelled from marts.fct_revenue_events where event_id = 'O00000004-1'") is True


def test_net_revenue_per_team_and_month(wh, expected):
    got = rows(wh, """
        select org_unit_id, strftime(event_date, '%Y-%m'), sum(net_amount), sum(cost_amount), sum(gross_amount)
        from marts.fct_revenue_events group by all""")
    net = {(u, m): n for u, m, n, _, _ in got}
    cost = {(u, m): c for u, m, _, c, _ in got}
    gross = {(u, m): g for u, m, _, _, g in got}
    want_net = {(u, m): v for u, months in expected["net_revenue_by_team_month"].items() for m, v in months.items()}
    want_cost = {(u, m): v for u, months in expected["cost_by_team_month"].items() for m, v in months.items()}
    want_gross = {(u, m): v for u, months in expected["gross_by_team_month"].items() for m, v in months.items()}
    assert net == pytest.approx(want_net)
    assert cost == pytest.approx(want_cost)
    assert gross == pytest.approx(want_gross)


def test_net_revenue_rolls_up_along_the_hierarchy_of_each_day(wh, expected):
    by_month = {(u, m): v for u, m, v in rows(wh, """
        select c.ancestor_id, strftime(e.event_date, '%Y-%m'), sum(e.net_amount)
        from marts.fct_revenue_events as e
        join intermediate.int_org_closure_daily as c on c.date_day = e.event_date and c.descendant_id = e.org_unit_id
        group by all""")}
    for unit, months in expected["net_revenue_by_unit_month"].items():
        got = {m: v for (u, m), v in by_month.items() if u == unit}
        assert got == pytest.approx(months), unit
    by_year = {(u, y): v for u, y, v in rows(wh, """
        select c.ancestor_id, strftime(e.event_date, '%Y'), sum(e.net_amount)
        from marts.fct_revenue_events as e
        join intermediate.int_org_closure_daily as c on c.date_day = e.event_date and c.descendant_id = e.org_unit_id
        group by all""")}
    for unit, years in expected["net_revenue_by_unit_year"].items():
        for year, value in years.items():
            assert by_year[(unit, year)] == pytest.approx(value), (unit, year)


def test_orders_flags_and_amounts(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, """
        select order_id, cast(order_date as varchar), org_unit_id, is_cancelled, is_repeat_customer,
               is_new_contract, order_net_amount, region, segment
        from marts.fct_orders""")}
    assert_matches(got, expected["orders"])


# ---------------------------------------------------------------------------------------------- service
def test_tickets(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, """
        select ticket_id, cast(opened_date as varchar), first_response_seconds, is_resolved, resolution_hours, csat,
               is_complaint
        from marts.fct_tickets""")}
    assert_matches(got, expected["tickets"])
    by_month = dict(rows(wh, "select strftime(opened_date, '%Y-%m'), count(*) from marts.fct_tickets group by 1"))
    assert by_month == expected["tickets_by_month"]
    complaints = dict(rows(wh, "select strftime(opened_date, '%Y-%m'), count(*) from marts.fct_tickets "
                               "where is_complaint group by 1"))
    assert complaints == expected["complaints_by_month"]
    csat = dict(rows(wh, "select strftime(opened_date, '%Y-%m'), sum(csat) / count(csat) from marts.fct_tickets "
                         "where csat is not null group by 1"))
    assert csat == pytest.approx(expected["csat_avg_by_month"])
    assert scalar(wh, "select count(*) from marts.fct_tickets where org_unit_id <> 'TM-HL-1'") == 0


def test_survey(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, """
        select response_id, cast(response_date as varchar), org_unit_id, score, is_promoter, is_detractor
        from marts.fct_survey_responses""")}
    assert got == expected["survey"]
    nps = scalar(wh, """
        select 100.0 * (count(*) filter (where is_promoter) - count(*) filter (where is_detractor)) / count(*)
        from marts.fct_survey_responses as s
        join intermediate.int_org_closure_daily as c on c.date_day = s.response_date and c.descendant_id = s.org_unit_id
        where c.ancestor_id = 'DIV-SALES' and year(s.response_date) = 2024""")
    assert nps == pytest.approx(expected["nps_div_sales_2024"])


# ---------------------------------------------------------------------------------------------- operations
def test_production_runs(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, """
        select run_id, cast(finish_date as varchar), good_qty, is_delivered, is_on_time
        from marts.fct_production_runs""")}
    assert got == expected["production_runs"]
    assert rows(wh, "select sum(good_qty), sum(produced_qty) from marts.fct_production_runs") == [
        (expected["quality_pass_2024"]["good_qty"], expected["quality_pass_2024"]["produced_qty"])]


def test_inventory(wh, expected):
    got = dict(rows(wh, "select cast(snapshot_date as varchar), sum(inventory_value) from marts.fct_inventory_daily "
                        "group by 1"))
    assert got == pytest.approx(expected["inventory_value_by_date"])


def test_engineering(wh, expected):
    got = {r[0]: r[1:] for r in rows(wh, "select bug_id, cast(created_date as varchar), status from marts.fct_bugs")}
    assert got == expected["bugs"]
    assert dict(rows(wh, "select strftime(release_date, '%Y-%m'), sum(test_cases_executed) from marts.fct_releases "
                         "group by 1")) == expected["test_cases_by_month"]


# ---------------------------------------------------------------------------------------------- people
def test_training_is_attributed_to_the_unit_on_its_date(wh, expected):
    got = {r[0]: (r[1], r[2]) for r in rows(wh, "select training_id, org_unit_id, hours from marts.fct_training")}
    assert_matches(got, expected["training"])
    assert scalar(wh, "select bool_and(is_unit_on_date) from marts.fct_training") is True
    by_quarter = {(u, q): v for u, q, v in rows(wh, """
        select c.ancestor_id, strftime(t.training_date, '%Y') || '-Q' || quarter(t.training_date), sum(t.hours)
        from marts.fct_training as t
        join intermediate.int_org_closure_daily as c on c.date_day = t.training_date and c.descendant_id = t.org_unit_id
        group by all""")}
    for unit, quarters in expected["training_hours_by_unit_quarter"].items():
        got_unit = {q: v for (u, q), v in by_quarter.items() if u == unit}
        assert got_unit == pytest.approx(quarters), unit


def test_headcount_per_day(wh, expected):
    for (unit, day), want in expected["headcount"].items():
        assert scalar(wh, "select headcount from marts.fct_headcount_daily where org_unit_id = ? and date_day = ?",
                      [unit, D(day)]) == want, (unit, day)
    for (unit, day), want in expected["headcount_rollup"].items():
        got = scalar(wh, """
            select sum(h.headcount) from marts.fct_headcount_daily as h
            join intermediate.int_org_closure_daily as c on c.date_day = h.date_day and c.descendant_id = h.org_unit_id
            where c.ancestor_id = ? and h.date_day = ?""", [unit, D(day)])
        assert got == want, (unit, day)


def test_headcount_starts_with_the_hr_history(wh, expected):
    """Headcount has history before the first order: the fact starts on the first day an assignment is
    effective (the fixture's managers from 2020-01-01), or the calendar's first day if that is later —
    not on the first business date of the events (no data is not zero, and this is data)."""
    first, last, days, units = rows(wh, """
        select min(date_day), max(date_day), count(distinct date_day), count(distinct org_unit_id)
        from marts.fct_headcount_daily""")[0]
    spine_start = scalar(wh, "select spine_start from intermediate.int_calendar_bounds")
    assert first == max(spine_start, date(2020, 1, 1))
    assert str(first) < expected["first_business_date"]
    assert str(last) == expected["last_business_date"]
    assert days == (last - first).days + 1
    # E00020 and E00021 work on the hotline since 2023-01-01: two people there before any ticket
    assert scalar(wh, "select headcount from marts.fct_headcount_daily where org_unit_id = 'TM-HL-1' "
                      "and date_day = date '2023-06-30'") == 2
    assert units >= 10


def test_dim_employee(wh, expected):
    for employee_id, attrs in expected["employees"].items():
        for column, value in attrs.items():
            got = scalar(wh, f"select cast({column} as varchar) from marts.dim_employee where employee_id = ?",  # noqa: S608 - column from the fixture's literal dict
                         [employee_id])
            assert got == value, (employee_id, column)


# ---------------------------------------------------------------------------------------------- dimensions
def test_dim_date_holidays_and_workdays(wh):
    cols = "is_holiday, holiday_name, is_workday, is_weekend, is_adjusted_workday"
    assert rows(wh, f"select {cols} from marts.dim_date where date_day = date '2024-02-12'") == [  # noqa: S608
        (True, "Spring Festival", False, False, False)]
    assert rows(wh, f"select {cols} from marts.dim_date where date_day = date '2024-02-04'") == [  # noqa: S608
        (False, "Spring Festival (adjusted working day)", True, True, True)]
    assert rows(wh, f"select {cols} from marts.dim_date where date_day = date '2024-02-03'") == [  # noqa: S608
        (False, None, False, True, False)]
    assert rows(wh, f"select {cols} from marts.dim_date where date_day = date '2024-02-05'") == [  # noqa: S608
        (False, None, True, False, False)]


def test_dim_date_calendar_columns(wh):
    row = rows(wh, """
        select day_of_week, week_start, iso_year, iso_week, month_start, quarter_start, year_start,
               fiscal_year, fiscal_quarter, is_month_end
        from marts.dim_date where date_day = date '2024-12-30'""")[0]
    assert row == (1, D("2024-12-30"), 2025, 1, D("2024-12-01"), D("2024-10-01"), D("2024-01-01"), 2024, 4, False)
    assert scalar(wh, "select is_month_end from marts.dim_date where date_day = date '2024-02-29'") is True
    first, last = rows(wh, "select min(date_day), max(date_day) from marts.dim_date")[0]
    # whole years covering the data and the holiday seed
    assert (first.month, first.day, last.month, last.day) == (1, 1, 12, 31)
    assert first <= D("2022-12-31") and last >= D("2024-09-10")


def test_dim_product_and_customer_are_current(wh, expected):
    for product_id, attrs in expected["products"].items():
        for column, value in attrs.items():
            assert scalar(wh, f"select {column} from marts.dim_product where product_id = ?",  # noqa: S608
                          [product_id]) == value
    for customer_id, attrs in expected["customers"].items():
        for column, value in attrs.items():
            assert scalar(wh, f"select {column} from marts.dim_customer where customer_id = ?",  # noqa: S608
                          [customer_id]) == value


# ---------------------------------------------------------------------------------------------- quality
def test_dq_load_log(wh, expected):
    assert scalar(wh, "select count(*) from marts.dq_load_log") == expected["load_log_rows"]
    assert scalar(wh, "select sum(rows_quarantined) from marts.dq_load_log") == expected["quarantined_rows"]
    assert rows(wh, """select status, rows_loaded from marts.dq_load_log
                       where source = 'erp' and "table" = 'returns' and partition_date = date '2024-09-10'""") == [
        ("empty", 0)]
    loaded = scalar(wh, "select sum(rows_loaded) from marts.dq_load_log")
    assert loaded == sum(expected["raw_rows"].values())
