"""kpi compare's notion of "the same rows" (pipelines/engines/compare.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from pipelines.engines.compare import close, compare_warehouses, normalise


def test_numbers_agree_to_12_significant_digits_whatever_their_type():
    assert close(normalise(Decimal("1234.50")), normalise(1234.5))
    assert close(normalise(3), normalise(3.0))
    assert close(16575715.730000006, 16575715.729999997)  # summation order
    assert not close(16575715.73, 16575715.74)
    assert not close(0.85, 0.8500001)
    assert close(float("nan"), float("nan")) and not close(float("nan"), 1.0)
    assert close(normalise(["a", 1]), ("a", 1.0))
    assert normalise(datetime(2025, 1, 1, 8, tzinfo=UTC)) == datetime(2025, 1, 1, 8)


def _warehouse(path: Path, rows: list[tuple]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create table marts.t (k varchar, v double)")
        con.executemany("insert into marts.t values (?, ?)", rows)
    return path


def test_row_order_does_not_count_but_a_changed_or_missing_row_does(tmp_path: Path):
    a = _warehouse(tmp_path / "a.duckdb", [("x", 1.0), ("y", 2.0), ("y", 2.0)])
    same = _warehouse(tmp_path / "b.duckdb", [("y", 2.0), ("x", 1.0 + 1e-14), ("y", 2.0)])
    changed = _warehouse(tmp_path / "c.duckdb", [("y", 2.0), ("x", 1.001), ("y", 2.0)])
    missing = _warehouse(tmp_path / "d.duckdb", [("x", 1.0), ("y", 2.0)])
    assert [d.same for d in compare_warehouses(a, same)] == [True]
    (diff,) = compare_warehouses(a, changed)
    assert not diff.same and diff.only_a == [("x", 1.0)] and diff.only_b == [("x", 1.001)]
    (diff,) = compare_warehouses(a, missing)
    assert not diff.same and diff.only_a == [("y", 2.0)] and diff.only_b == []
