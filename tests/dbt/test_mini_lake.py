"""The mini raw lake itself: layout, Parquet types and load log as docs/sources.md describes them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.mini_lake import COLUMNS, EXPECTED, arrow_schema, build_mini_lake

SOURCES_MD_TABLES = {
    "erp": {"products", "customers", "orders", "order_lines", "returns", "inventory_snapshots"},
    "hr": {"org_units", "employees", "employee_assignments", "training_records"},
    "servicedesk": {"tickets"},
    "survey": {"nps_responses"},
    "mes": {"production_runs"},
    "engineering": {"bugs", "releases"},
    "finance": {"plan_info", "targets", "weights"},
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake_dir = tmp_path_factory.mktemp("mini_lake")
    return lake_dir, build_mini_lake(lake_dir)


def test_every_source_table_has_partitions(lake):
    lake_dir, written = lake
    for source, tables in SOURCES_MD_TABLES.items():
        found = {p.name for p in (lake_dir / "raw" / source).iterdir()}
        assert found == tables, source
        for table in tables:
            parts = sorted((lake_dir / "raw" / source / table).glob("date=*/part-0.parquet"))
            assert parts, f"{source}.{table}"


def test_parquet_types_follow_the_raw_column_types(lake):
    lake_dir, written = lake
    for table in COLUMNS:
        source, name = table.split(".")
        for day in written["partitions"][table]:
            schema = pq.read_schema(lake_dir / "raw" / source / name / f"date={day}" / "part-0.parquet")
            assert schema.equals(arrow_schema(table)), (table, day)
    ts = arrow_schema("erp.orders").field("order_ts").type
    assert ts == pa.timestamp("us", tz="UTC")
    assert arrow_schema("erp.order_lines").field("is_cancelled").type == pa.int64()


def test_metadata_columns(lake):
    lake_dir, _ = lake
    t = pq.read_table(lake_dir / "raw" / "servicedesk" / "tickets" / "date=2024-07-02" / "part-0.parquet")
    assert t.column("_row_number").to_pylist() == [1]  # row 2 of the file went to quarantine
    assert t.column("_source").to_pylist() == ["servicedesk/tickets_20240702.csv"]
    q = pq.read_table(lake_dir / "quarantine" / "servicedesk" / "tickets" / "date=2024-07-02" / "part-0.parquet")
    assert q.column("_row_number").to_pylist() == [2]


def test_load_log_reconciles(lake):
    lake_dir, written = lake
    logs = [pq.read_table(p).to_pylist()[0] for p in (lake_dir / "_meta" / "load_log").rglob("log.parquet")]
    assert len(logs) == written["load_log_rows"] == sum(len(p) for p in written["partitions"].values())
    for row in logs:
        assert row["rows_read"] == row["rows_loaded"] + row["rows_quarantined"]
    assert sum(r["rows_loaded"] for r in logs) == sum(written["raw_rows"].values())
    assert [r["status"] for r in logs if r["rows_loaded"] == 0] == ["empty"]


def test_rebuilding_is_byte_identical(tmp_path):
    first = build_mini_lake(tmp_path / "a")
    second = build_mini_lake(tmp_path / "b")
    assert first["partitions"] == second["partitions"]
    for path in (tmp_path / "a").rglob("*.parquet"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_expected_is_returned_as_a_copy(tmp_path):
    got = build_mini_lake(tmp_path)
    got["orders"].clear()
    assert EXPECTED["orders"]


def test_columns_match_the_source_contracts():
    contracts = pytest.importorskip("quality.contracts.tables")
    for table, columns in COLUMNS.items():
        source, name = table.split(".")
        contract = contracts.get_contract(source, name)
        assert [(c.name, c.type) for c in contract.columns] == list(columns), table
