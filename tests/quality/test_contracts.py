"""Source contracts: coverage of docs/sources.md, the GX suite, type coercion, references, volume."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.extract import SOURCE_TABLES, extract_partitions, get_source_table
from quality.contracts import (
    CONTRACTS,
    ReferenceKeys,
    build_specs,
    describe_contracts,
    get_contract,
    validate_batch,
    volume_warning,
)
from quality.contracts.suites import FutureBound

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
RUN = date(2025, 3, 10)


def _batch(contract_name: str, rows: list[dict]) -> pd.DataFrame:
    contract = get_contract(contract_name)
    frame = pd.DataFrame([[r.get(c) for c in contract.column_names] for r in rows],
                         columns=list(contract.column_names), dtype="object")
    frame["_partition"] = 0
    frame["_row_number"] = range(1, len(rows) + 1)
    frame["_source"] = "test.csv"
    return frame


def _validate(name: str, rows: list[dict], **kwargs: object):
    return validate_batch(get_contract(name), _batch(name, rows), timezone="Asia/Shanghai", run_date=RUN,
                          **kwargs)


def test_every_documented_table_has_a_contract_and_a_registry_entry():
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `(\w+)` \| ", text, flags=re.M))
    contracts = {c.table for c in CONTRACTS}
    assert documented <= contracts
    assert {t.name for t in SOURCE_TABLES} == {c.name for c in CONTRACTS}
    assert len(SOURCE_TABLES) == 18
    for table in SOURCE_TABLES:
        assert table.key == table.contract.key
        assert table.partitioned == (table.source != "finance")
        assert (table.database is not None) == (table.kind == "database")


def test_registry_orders_dimensions_before_their_referrers():
    seen: set[str] = set()
    for table in SOURCE_TABLES:
        assert set(table.references) <= seen, (table.name, table.references)
        seen.add(table.name)
    assert get_source_table("erp.order_lines").references == ("erp.orders", "erp.products")
    assert get_source_table("servicedesk.tickets").landing_glob == "servicedesk/tickets_*.csv"


def test_documented_columns_match_the_contract():
    """The column list of each table in docs/sources.md is the contract's (source columns)."""
    text = DOCS.read_text()
    for table in ("products", "orders", "order_lines", "org_units", "employees", "training_records"):
        row = re.search(rf"^\| `{table}` \| .*$", text, flags=re.M).group(0)
        documented = re.findall(r"`(\w+)`", row.split("|")[3])
        contract = [c.name for c in CONTRACTS if c.table == table][0]
        names = get_contract([c.name for c in CONTRACTS if c.table == table][0]).column_names
        assert [d for d in documented if d in names] == list(names), contract
    header = re.search(r"`ticket_id, opened_at.*?updated_at`", text, flags=re.S).group(0)
    assert [h.strip() for h in header.strip("`").replace("\n", " ").split(",")] == \
        list(get_contract("servicedesk.tickets").source_column_names)


def test_describe_contracts_lists_every_rule():
    described = {d["name"]: d for d in describe_contracts()}
    assert set(described) == {c.name for c in CONTRACTS}
    lines = described["erp.order_lines"]
    rules = {e["rule"] for e in lines["expectations"]}
    assert {"expect_column_values_to_be_between(discount_pct)", "reference(product_id)", "duplicate_key",
            "expect_column_values_to_not_be_null(order_line_id)", "volume"} <= rules
    between = next(e for e in lines["expectations"]
                   if e["rule"] == "expect_column_values_to_be_between(discount_pct)")
    assert between["kwargs"] == {"min_value": 0, "max_value": 0.6}
    assert between["description"] == "discount_pct must be ≥ 0 and ≤ 0.6"
    assert next(e for e in lines["expectations"] if e["rule"] == "volume")["action"] == "warn"
    assert described["hr.employees"]["columns"][1]["pii"] is True


def test_future_bound_is_the_end_of_the_local_day_after_the_partition_day():
    bound = FutureBound(1, "Asia/Shanghai")
    tickets = get_contract("servicedesk.tickets")
    days = pd.Series(pd.to_datetime(["2025-03-10", "2025-07-20"]))
    limits = bound.limits(tickets.column("opened_at"), days)
    # local midnight starting 2025-03-12 = 16:00 UTC on 2025-03-11
    assert pd.to_datetime(limits, unit="us").tolist() == [pd.Timestamp("2025-03-11 16:00"),
                                                          pd.Timestamp("2025-07-21 16:00")]
    runs = get_contract("mes.production_runs")
    delivered = bound.limits(runs.column("delivered_date"), days)
    assert pd.to_datetime(delivered, unit="us").tolist()[0] == pd.Timestamp("2026-03-12")
    specs = {s.rule: s for s in build_specs(tickets, bound)}
    assert specs["not_future(opened_at)"].kwargs["column_B"] == "opened_at"


def test_future_rule_judges_each_row_by_its_own_partition_day():
    """The same ticket opened 2025-08-19 is in the future in the file of 2025-07-20 and not in the
    file of 2025-08-19, whichever day the check runs."""
    rows = [_ticket("T1", opened_at="2025-08-19 10:00:00", updated_at="2025-08-19 10:00:00"),
            _ticket("T2", opened_at="2025-08-19 10:00:00", updated_at="2025-08-19 10:00:00")]
    batch = _batch("servicedesk.tickets", rows)
    batch["_partition_day"] = pd.to_datetime(["2025-07-20", "2025-08-19"])
    batch["_partition"] = [0, 1]
    for run_date in (date(2025, 7, 20), date(2025, 11, 19)):
        out = validate_batch(get_contract("servicedesk.tickets"), batch, timezone="Asia/Shanghai",
                             run_date=run_date)
        assert out.failures["row"].tolist() == [0]
        assert out.failures["rule"].tolist() == ["not_future(opened_at)"]


def _ticket(i: str, **over: object) -> dict:
    row = {"ticket_id": i, "opened_at": "2025-03-01 10:00:00", "priority": "P1", "channel": "phone",
           "team_id": "TM-SVC-1", "is_complaint": "0", "updated_at": "2025-03-01 10:00:00"}
    row.update(over)
    return row


def test_validate_batch_reports_first_rule_and_keeps_first_duplicate():
    out = _validate("servicedesk.tickets", [
        _ticket("T1"),
        _ticket("T2", csat="N/A", priority="P7"),
        _ticket("T1", priority="P2"),
        _ticket(None),
        _ticket("T5", opened_at="2025-03-11 23:59:59"),  # the last allowed local second
        _ticket("T6", opened_at="2025-03-12 00:00:00"),
    ])
    f = out.failures.set_index("row")
    assert sorted(f.index) == [1, 2, 3, 5]
    assert f.loc[1, "rule"] == "type" and f.loc[1, "value"] == "N/A"
    assert "also broke: expect_column_values_to_be_in_set(priority)" in f.loc[1, "reason"]
    assert f.loc[2, "rule"] == "duplicate_key"
    assert f.loc[2, "reason"] == ("duplicate key ticket_id='T1' in test.csv: first seen at row 1, "
                                  "which is kept")
    assert f.loc[3, "rule"] == "expect_column_values_to_not_be_null(ticket_id)"
    assert f.loc[5, "rule"] == "not_future(opened_at)"
    assert "not be later than 1 day(s) after its partition day (local time)" in f.loc[5, "reason"]
    assert out.typed.loc[0, "opened_at"] == pd.Timestamp("2025-03-01 02:00", tz="UTC")
    # no lake yet: reference checks are skipped with a warning, never a silent pass
    assert any("team_id → hr.org_units.org_unit_id skipped" in w for w in out.warnings)


def test_type_coercion_is_vectorised_and_strict():
    out = _validate("erp.order_lines", [
        {"order_line_id": "L1", "order_id": "O1", "line_no": "1", "product_id": "P1", "quantity": "2.0",
         "unit_price": "10.5", "discount_pct": "0", "is_cancelled": 0, "updated_at": "2025-03-01 01:02:03"},
        {"order_line_id": "L2", "order_id": "O1", "line_no": 2, "product_id": "P1", "quantity": 2.5,
         "unit_price": "inf", "discount_pct": 0.1, "is_cancelled": "1", "updated_at": "2025-03-01"},
    ])
    f = out.failures.set_index("row")
    assert list(f.index) == [1]
    assert f.loc[1, "field"] == "quantity" and "quantity must be an integer; got '2.5'" in f.loc[1, "reason"]
    assert "type" in f.loc[1, "reason"]  # unit_price 'inf' is a second type failure on the same row
    assert out.typed["quantity"].dtype == "Int64" and out.typed.loc[0, "quantity"] == 2
    assert out.typed.loc[0, "unit_price"] == 10.5


def test_same_batch_reference_for_self_referencing_dimension():
    base = {"name": "x", "unit_type": "team", "valid_from": "2024-01-01", "updated_at": "2025-03-01 00:00:00"}
    out = _validate("hr.org_units", [
        {**base, "org_unit_id": "ACME", "unit_type": "company"},
        {**base, "org_unit_id": "TM-1", "parent_org_unit_id": "ACME"},
        {**base, "org_unit_id": "TM-2", "parent_org_unit_id": "GHOST"},
        {**base, "org_unit_id": "TM-3", "parent_org_unit_id": "ACME", "valid_to": "2023-01-01"},
    ])
    f = out.failures.set_index("row")
    assert f.loc[2, "rule"] == "reference(parent_org_unit_id)"
    assert f.loc[2, "reason"] == "parent_org_unit_id 'GHOST' not found in hr.org_units.org_unit_id (orphan reference)"
    assert f.loc[3, "rule"] == "expect_column_pair_values_a_to_be_greater_than_b(valid_to,valid_from)"
    assert len(f) == 2


def test_references_read_from_the_lake(company_with_dims):
    """The contracts never spell the lake's layout: the extractor hands in where a table's files are."""
    from functools import partial

    from pipelines.extract.lake import raw_table_files

    keys = ReferenceKeys(partial(raw_table_files, company_with_dims.lake))
    out = _validate("servicedesk.tickets", [_ticket("T1"), _ticket("T2", team_id="TM-NOPE")], references=keys)
    assert out.failures["rule"].tolist() == ["reference(team_id)"]
    assert out.warnings == []


def test_volume_warning_thresholds():
    contract = get_contract("servicedesk.tickets")
    assert volume_warning(contract, 100, [100] * 3) is None  # too little history
    assert volume_warning(contract, 100, [100] * 10) is None
    assert volume_warning(contract, 10, [100] * 10).startswith("volume: 10 rows vs a median of 100")
    assert volume_warning(contract, 400, [100] * 10) is not None
    assert volume_warning(contract, 1, [5] * 10) is None  # too small to judge
    assert volume_warning(get_contract("erp.products"), 1, [100] * 10) is None  # no volume rule


@pytest.mark.parametrize("name", [c.name for c in CONTRACTS])
def test_empty_batch_validates_for_every_contract(name):
    contract = get_contract(name)
    out = validate_batch(contract, _batch(name, []), timezone="UTC", run_date=RUN)
    assert out.failures.empty and list(out.typed.columns) == list(contract.column_names)


def test_extraction_uses_the_contract_types(company_with_dims):
    """A derived column (plan_version) and every source column reach raw with the contract's type."""
    from pipelines.extract.lake import raw_schema

    schema = raw_schema(get_contract("finance.targets"))
    assert schema.names[:2] == ["plan_version", "kpi_id"]
    results = extract_partitions(get_source_table("hr.org_units"), [date(2025, 2, 27)],
                                 company_with_dims.config())
    assert results[0].status == "unchanged"
