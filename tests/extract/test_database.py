"""Database extraction: watermark windows, typing, SQLite and PostgreSQL through one code path."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.extract import (
    ExtractConfig,
    extract_partitions,
    get_source_table,
    raw_partition_path,
    read_load_log,
    read_partition,
)
from pipelines.extract.readers import utc_bounds
from tests.extract import sources as S
from tests.extract.conftest import WINDOW, extract_dimensions

ORDER_LINES = get_source_table("erp.order_lines")
ORDERS = get_source_table("erp.orders")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_utc_bounds_of_a_local_day():
    lo, hi = utc_bounds(date(2025, 3, 2), "Asia/Shanghai")
    assert (lo, hi) == (datetime(2025, 3, 1, 16, 0), datetime(2025, 3, 2, 16, 0))


def test_watermark_local_day_edge(company_with_dims):
    """16:30 UTC on 2025-03-01 is 00:30 on 2025-03-02 in Shanghai: the row lands in the next partition."""
    cfg = company_with_dims.config()
    extract_partitions(ORDERS, WINDOW, cfg)
    results = {r.partition_date: r for r in extract_partitions(ORDER_LINES, WINDOW, cfg)}
    assert results[date(2025, 3, 1)].rows_loaded == 3
    assert results[date(2025, 3, 2)].rows_loaded == 1
    late = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 2))
    assert late["order_line_id"].tolist() == ["O00000003-1"]
    assert late["updated_at"].iloc[0] == pd.Timestamp("2025-03-01 16:30:00", tz="UTC")
    assert str(late["updated_at"].dtype) == "datetime64[us, UTC]"
    assert late["_source"].iloc[0] == "order_lines@erp.sqlite"
    assert late["_row_number"].tolist() == [1]
    schema = pq.read_schema(raw_partition_path(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 2)))
    assert str(schema.field("quantity").type) == "int64"
    assert str(schema.field("discount_pct").type) == "double"
    assert str(schema.field("updated_at").type) == "timestamp[us, tz=UTC]"


def test_empty_days_get_a_zero_row_typed_partition(company_with_dims):
    cfg = company_with_dims.config()
    results = {r.partition_date: r for r in extract_partitions(ORDERS, WINDOW, cfg)}
    assert results[date(2025, 2, 26)].status == "empty"
    path = raw_partition_path(cfg.lake_dir, "erp", "orders", date(2025, 2, 26))
    table = pq.read_table(path)
    assert table.num_rows == 0
    assert str(table.schema.field("order_ts").type) == "timestamp[us, tz=UTC]"
    assert table.schema.names[-4:] == ["_loaded_at", "_source", "_batch_id", "_row_number"]


def test_rerun_is_idempotent_and_a_change_replaces_the_partition(company_with_dims):
    cfg = company_with_dims.config()
    extract_partitions(ORDERS, WINDOW, cfg)
    first = {r.partition_date: r for r in extract_partitions(ORDER_LINES, WINDOW, cfg)}
    path = raw_partition_path(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1))
    digest, mtime = _sha(path), path.stat().st_mtime_ns
    again = {r.partition_date: r for r in extract_partitions(ORDER_LINES, WINDOW, cfg)}
    assert again[date(2025, 3, 1)].status == "unchanged"
    assert again[date(2025, 3, 1)].content_sha256 == first[date(2025, 3, 1)].content_sha256
    assert _sha(path) == digest and path.stat().st_mtime_ns == mtime
    # a cancellation arrives as an update on the same day: the partition is replaced
    S.execute(company_with_dims.erp_url,
              "UPDATE order_lines SET is_cancelled = 1, updated_at = :ts WHERE order_line_id = :id",
              {"ts": "2025-03-01 09:00:00", "id": "O00000001-2"})
    changed = {r.partition_date: r for r in extract_partitions(ORDER_LINES, WINDOW, cfg)}
    assert changed[date(2025, 3, 1)].status == "loaded"
    assert _sha(path) != digest
    raw = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1))
    assert raw.set_index("order_line_id").loc["O00000001-2", "is_cancelled"] == 1
    log = read_load_log(cfg.lake_dir, "erp", "order_lines")
    assert log.set_index("partition_date").loc[date(2025, 3, 1), "status"] == "loaded"


def test_reconciliation_with_defective_rows(company_with_dims):
    """Every row read is loaded or quarantined, per partition, with the rule that caught it."""
    cfg = company_with_dims.config()
    extract_partitions(ORDERS, WINDOW, cfg)
    base = S.order_lines()[0]
    bad = [
        {**base, "order_line_id": "X-type", "quantity": "N/A"},
        {**base, "order_line_id": "X-neg", "quantity": -3},
        {**base, "order_line_id": "X-disc", "discount_pct": 0.9},
        {**base, "order_line_id": "X-orphan", "product_id": "P9999"},
        {**base, "order_line_id": None},
        {**base, "order_line_id": "X-future", "created_at": "2030-01-01 00:00:00"},
        {**base, "order_line_id": "X-flag", "is_cancelled": 7},
    ]
    S.insert_rows(company_with_dims.erp_url, "order_lines", bad)
    results = {r.partition_date: r for r in extract_partitions(ORDER_LINES, WINDOW, cfg)}
    day = results[date(2025, 3, 1)]
    assert (day.rows_read, day.rows_loaded, day.rows_quarantined) == (10, 3, 7)
    for r in results.values():
        assert r.rows_read == r.rows_loaded + r.rows_quarantined
    q = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1), quarantine=True)
    by_value = {row["_field"]: row for row in q.to_dict("records")}
    assert by_value["quantity"]["_rule"] in ("type", "expect_column_values_to_be_between(quantity)")
    rules = sorted(q["_rule"])
    assert rules == sorted([
        "type",
        "expect_column_values_to_be_between(quantity)",
        "expect_column_values_to_be_between(discount_pct)",
        "reference(product_id)",
        "expect_column_values_to_not_be_null(order_line_id)",
        "not_future(created_at)",
        "expect_column_values_to_be_in_set(is_cancelled)",
    ])
    typed = q.set_index("_rule")
    assert typed.loc["type", "_value"] == "N/A"
    assert "quantity must be an integer" in typed.loc["type", "_reason"]
    assert "P9999" in typed.loc["reference(product_id)", "_reason"]
    assert "erp.products.product_id" in typed.loc["reference(product_id)", "_reason"]
    assert "not in the future" in typed.loc["not_future(created_at)", "_reason"]
    assert typed.loc["type", "_reason"].startswith("order_lines@erp.sqlite row ")
    assert set(q.columns) == {"_raw", "_rule", "_field", "_value", "_reason", "_row_number", "_source",
                              "_batch_id", "_loaded_at"}
    assert '"quantity": "N/A"' in typed.loc["type", "_raw"]


def test_orphan_rows_are_extracted_again_once_their_parent_reaches_the_lake(company_with_dims):
    """Order O00000001 is updated (shipped) on 2025-03-05, so the lake holds it in that day's partition
    only. Day 2025-03-01 extracted on its own quarantines its lines as orphans; once the order's
    partition is extracted, the next extraction of order lines (any day) loads them — as a back-fill
    extracting the order's partition first would have — while a key that exists nowhere stays put."""
    cfg = company_with_dims.config()
    S.execute(company_with_dims.erp_url, "UPDATE orders SET status = 'shipped', updated_at = :ts "
              "WHERE order_id = 'O00000001'", {"ts": "2025-03-05 03:00:00"})
    base = S.order_lines()[0]
    S.insert_rows(company_with_dims.erp_url, "order_lines",
                  [{**base, "order_line_id": "X-orphan", "order_id": "O99999999"}])
    day, later = date(2025, 3, 1), date(2025, 3, 5)
    extract_partitions(ORDERS, [day], cfg)
    [first] = extract_partitions(ORDER_LINES, [day], cfg)
    q = read_partition(cfg.lake_dir, "erp", "order_lines", day, quarantine=True)
    assert sorted(q["_value"]) == ["O00000001", "O00000001", "O99999999"]
    assert first.rows_quarantined == 3

    extract_partitions(ORDERS, [later], cfg)
    messages: list[str] = []
    results = extract_partitions(ORDER_LINES, [later], replace(cfg, progress=messages.append))

    assert [r.partition_date for r in results] == [day, later]
    loaded = set(read_partition(cfg.lake_dir, "erp", "order_lines", day)["order_line_id"])
    assert {"O00000001-1", "O00000001-2"} <= loaded
    q = read_partition(cfg.lake_dir, "erp", "order_lines", day, quarantine=True)
    assert list(q["_value"]) == ["O99999999"] and list(q["_rule"]) == ["reference(order_id)"]
    assert any("extracted again: 2025-03-01" in m for m in messages), messages
    log = read_load_log(cfg.lake_dir, "erp", "order_lines").set_index("partition_date")
    assert log.loc[day, "rows_quarantined"] == 1 and log.loc[day, "rows_loaded"] == len(loaded)
    # the remaining orphan's parent never arrives: the day is not read again
    again = extract_partitions(ORDER_LINES, [later], cfg)
    assert [r.partition_date for r in again] == [later]


def test_missing_database_column_rejects_and_other_tables_go_on(company_with_dims):
    cfg = company_with_dims.config()
    S.execute(company_with_dims.erp_url, "ALTER TABLE orders DROP COLUMN channel")
    results = extract_partitions(ORDERS, WINDOW, cfg)
    assert {r.status for r in results} == {"rejected"}
    assert "missing columns channel" in results[0].message
    ok = extract_partitions(get_source_table("erp.products"), WINDOW, cfg)
    assert {r.status for r in ok} <= {"unchanged", "empty"}


def test_password_never_leaves_the_config(tmp_path):
    url = "postgresql+psycopg://kpi:s3cr3t-pw@127.0.0.1:1/erp"
    cfg = ExtractConfig(lake_dir=tmp_path / "lake", landing_dir=tmp_path, erp_url=url, hr_url=url,
                        run_date=date(2025, 3, 10))
    assert "s3cr3t" not in repr(cfg)
    results = extract_partitions(ORDERS, [date(2025, 3, 1)], cfg)
    assert results[0].status == "rejected"
    assert "s3cr3t" not in results[0].message and "postgresql" not in results[0].message
    log = read_load_log(cfg.lake_dir)
    assert not log.apply(lambda col: col.astype(str).str.contains("s3cr3t")).any().any()
    assert results[0].source_ref == "orders@erp"


def _comparable(lake: Path, table: str, day: date) -> pd.DataFrame:
    frame = read_partition(lake, "erp", table, day)
    return frame.drop(columns=["_loaded_at", "_batch_id", "_source"]).reset_index(drop=True)


@pytest.mark.postgres
def test_postgres_extracts_the_same_rows_as_sqlite(tmp_path, postgres_url, company_with_dims):
    """The same rows in PostgreSQL (typed timestamp/date columns) give the same raw partitions."""
    pg = S.tiny_company(tmp_path / "pg", erp_url=postgres_url, hr_url=postgres_url)
    extract_dimensions(pg)
    for company in (company_with_dims, pg):
        cfg = company.config()
        extract_partitions(ORDERS, WINDOW, cfg)
        results = extract_partitions(ORDER_LINES, WINDOW, cfg)
        assert [r.rows_loaded for r in results] == [0, 0, 0, 3, 1, 0]
    for day in (date(2025, 3, 1), date(2025, 3, 2)):
        for table in ("orders", "order_lines"):
            pd.testing.assert_frame_equal(_comparable(company_with_dims.lake, table, day),
                                          _comparable(pg.lake, table, day))
    late = read_partition(pg.lake, "erp", "order_lines", date(2025, 3, 2))
    assert late["_source"].iloc[0] == "order_lines@postgres"
    assert late["updated_at"].iloc[0].to_pydatetime() == datetime(2025, 3, 1, 16, 30, tzinfo=UTC)


def _lines_of(cfg: ExtractConfig, days: list[date]) -> dict[str, str]:
    """order_line_id → where it is: 'raw <day>' or 'quarantine <day>' (or 'unplaced')."""
    where: dict[str, str] = {}
    for day in days:
        for kind, quarantine in (("raw", False), ("quarantine", True)):
            frame = read_partition(cfg.lake_dir, "erp", "order_lines", day, quarantine=quarantine)
            if kind == "raw":
                ids = frame["order_line_id"].tolist() if len(frame) else []
            else:
                ids = [pd.io.json.ujson_loads(r)["order_line_id"] for r in frame["_raw"]] if len(frame) else []
            where.update({i: f"{kind} {day}" for i in ids})
    unplaced = cfg.lake_dir / "quarantine" / "erp" / "order_lines" / "date=unplaced" / "part-0.parquet"
    if unplaced.exists():
        for raw in pq.read_table(unplaced).column("_raw").to_pylist():
            where[pd.io.json.ujson_loads(raw)["order_line_id"]] = "unplaced"
    return where


def test_no_row_is_lost_whatever_its_watermark_text(company_with_dims):
    """Irregular updated_at texts in SQLite (ISO 'T', an offset, slashes, the far future, none) are
    placed on their local day or quarantined as unplaced by the nightly runs of their days — never
    dropped with a passing reconciliation. Day 2025-03-01 local = UTC 2025-02-28 16:00 … 03-01 16:00."""
    cfg = company_with_dims.config()
    extract_partitions(ORDERS, WINDOW, cfg)
    base = S.order_lines()[0]
    odd = {
        "W-iso-t": "2025-03-01T12:00:00",          # 20:00 local on 03-01
        "W-offset": "2025-03-01 12:00:00+08:00",   # 12:00 local on 03-01
        "W-slash": "2025/03/01 03:00:00",          # 11:00 local on 03-01
        "W-future": "2031-03-01 03:00:00",         # a clock error
        "W-garbage": "yesterday",
        "W-none": None,
    }
    S.insert_rows(company_with_dims.erp_url, "order_lines",
                  [{**base, "order_line_id": k, "line_no": i + 5, "updated_at": v}
                   for i, (k, v) in enumerate(odd.items())])
    # the nightly runs of 03-01 and 03-02, one day each
    for day in (date(2025, 3, 1), date(2025, 3, 2)):
        results = extract_partitions(ORDER_LINES, [day], replace(cfg, run_date=day))
        assert all(r.rows_read == r.rows_loaded + r.rows_quarantined for r in results)
    where = _lines_of(cfg, [date(2025, 3, 1), date(2025, 3, 2)])
    assert where["W-iso-t"] == where["W-offset"] == where["W-slash"] == "raw 2025-03-01"
    assert where["W-future"] == where["W-garbage"] == where["W-none"] == "unplaced"
    raw = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1)).set_index("order_line_id")
    assert raw.loc["W-iso-t", "updated_at"] == pd.Timestamp("2025-03-01 12:00", tz="UTC")
    assert raw.loc["W-offset", "updated_at"] == pd.Timestamp("2025-03-01 04:00", tz="UTC")
    unplaced = pq.read_table(cfg.lake_dir / "quarantine/erp/order_lines/date=unplaced/part-0.parquet").to_pandas()
    reasons = dict(zip(unplaced["_value"].fillna("null"), unplaced["_reason"], strict=True))
    assert "in the future" in reasons["2031-03-01 03:00:00"]
    assert "cannot be read as a timestamp" in reasons["yesterday"]
    assert "has no updated_at" in reasons["null"]
    log = read_load_log(cfg.lake_dir, "erp", "order_lines")
    unplaced_log = log[log["partition_date"].isna()]
    assert unplaced_log["rows_quarantined"].tolist() == [3]
    # once the source corrects the rows, the store empties and the rows load on their new day
    S.execute(company_with_dims.erp_url, "UPDATE order_lines SET updated_at = '2025-03-02 03:00:00' "
              "WHERE order_line_id IN ('W-future', 'W-garbage', 'W-none')")
    extract_partitions(ORDER_LINES, [date(2025, 3, 2)], replace(cfg, run_date=date(2025, 3, 2)))
    where = _lines_of(cfg, [date(2025, 3, 1), date(2025, 3, 2)])
    assert where["W-future"] == where["W-garbage"] == where["W-none"] == "raw 2025-03-02"


def test_keys_are_trimmed_and_normalised(company_with_dims):
    """'O00000009-1 ' and the full-width 'Ｏ00000009-1' are the id 'O00000009-1': one row, the other
    quarantined as its duplicate, not a second order line."""
    cfg = company_with_dims.config()
    extract_partitions(ORDERS, WINDOW, cfg)
    base = S.order_lines()[0]
    S.insert_rows(company_with_dims.erp_url, "order_lines", [
        {**base, "order_line_id": "O00000009-1 ", "line_no": 7},
        {**base, "order_line_id": "Ｏ00000009-1", "line_no": 8},
        {**base, "order_line_id": "   ", "line_no": 9},
    ])
    extract_partitions(ORDER_LINES, WINDOW, cfg)
    raw = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1))
    assert raw["order_line_id"].tolist().count("O00000009-1") == 1
    assert not any(i.endswith(" ") for i in raw["order_line_id"])
    q = read_partition(cfg.lake_dir, "erp", "order_lines", date(2025, 3, 1), quarantine=True)
    assert sorted(q["_rule"]) == ["duplicate_key", "expect_column_values_to_not_be_null(order_line_id)"]
