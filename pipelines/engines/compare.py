"""Do two warehouses hold the same tables? Row for row, numbers to 12 significant digits.

Each side is a DuckDB file or a Spark warehouse directory (``<schema>.db/<table>/``, pipelines/engines/spark.py).
Rows are compared as multisets: neither the order of rows nor the physical types (DECIMAL against
DOUBLE, INTEGER against BIGINT, a Spark instant against a plain UTC timestamp) count; column names
and values do.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.engines.spark import spark_tables, table_scan

SIGNIFICANT_DIGITS = 12


@dataclass
class TableDiff:
    table: str
    rows_a: int = 0
    rows_b: int = 0
    columns_only_a: list[str] = field(default_factory=list)
    columns_only_b: list[str] = field(default_factory=list)
    only_a: list[tuple] = field(default_factory=list)  # up to three examples
    only_b: list[tuple] = field(default_factory=list)
    missing: str | None = None  # "a" or "b": the side without the table

    @property
    def same(self) -> bool:
        return (self.missing is None and not self.columns_only_a and not self.columns_only_b
                and not self.only_a and not self.only_b)

    def describe(self) -> str:
        if self.missing:
            return f"{self.table}: not in warehouse {self.missing}"
        parts = [f"{self.table}: {self.rows_a} rows in a, {self.rows_b} in b"]
        if self.columns_only_a or self.columns_only_b:
            parts.append(f"columns only in a {self.columns_only_a}, only in b {self.columns_only_b}")
        if self.only_a:
            parts.append(f"only in a, e.g. {self.only_a[0]}")
        if self.only_b:
            parts.append(f"only in b, e.g. {self.only_b[0]}")
        return "; ".join(parts)


def normalise(value: Any) -> Any:
    """A value as compared: numbers as floats, lists as tuples, instants as naive UTC timestamps."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return tuple(normalise(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, normalise(v)) for k, v in value.items()))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def close(a: Any, b: Any) -> bool:
    """Equal; numbers to 12 significant digits (|a - b| <= 1e-12 · max(1, |a|, |b|))."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 10.0 ** -SIGNIFICANT_DIGITS * max(1.0, abs(a), abs(b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _sort_key(row: tuple) -> tuple:
    """Rows in an order both sides share: numbers to 9 significant digits (values that differ in the
    12th digit sort together), every value as text (None first)."""
    def coarse(v: Any) -> Any:
        if isinstance(v, float):
            return "NaN" if math.isnan(v) else f"{v:.9g}"
        if isinstance(v, tuple):
            return tuple(coarse(x) for x in v)
        return v
    return tuple((0, "") if v is None else (1, repr(coarse(v))) for v in row)


class Warehouse:
    """Tables of a DuckDB file or of a Spark warehouse directory, read through DuckDB."""

    def __init__(self, location: Path) -> None:
        self.location = Path(location)
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")
        if self.location.is_file():
            self.con.execute(f"attach '{str(self.location).replace(chr(39), chr(39) * 2)}' as wh (read_only)")

    def close(self) -> None:
        self.con.close()

    def tables(self, schema: str) -> list[str]:
        if self.location.is_file():
            return [r[0] for r in self.con.execute(
                "select table_name from duckdb_tables() where database_name = 'wh' and schema_name = ?",
                [schema]).fetchall()]
        return [name for name, _ in spark_tables(self.location, schema)]

    def relation(self, schema: str, table: str) -> str:
        if self.location.is_file():
            return f'wh."{schema}"."{table}"'
        return table_scan(self.location / f"{schema}.db" / table)

    def rows(self, schema: str, table: str) -> tuple[list[str], list[tuple]]:
        cursor = self.con.execute(f"select * from {self.relation(schema, table)}")  # noqa: S608
        return [d[0] for d in cursor.description], cursor.fetchall()


def compare_table(a: Warehouse, b: Warehouse, schema: str, table: str) -> TableDiff:
    columns_a, rows_a = a.rows(schema, table)
    columns_b, rows_b = b.rows(schema, table)
    diff = TableDiff(f"{schema}.{table}", len(rows_a), len(rows_b),
                     sorted(set(columns_a) - set(columns_b)), sorted(set(columns_b) - set(columns_a)))
    common = [c for c in columns_a if c in set(columns_b)]
    index_a = [columns_a.index(c) for c in common]
    index_b = [columns_b.index(c) for c in common]
    side_a = sorted((tuple(normalise(r[i]) for i in index_a) for r in rows_a), key=_sort_key)
    side_b = sorted((tuple(normalise(r[i]) for i in index_b) for r in rows_b), key=_sort_key)
    if len(side_a) != len(side_b):  # rows as a multiset (exactly), to show which ones
        diff.only_a = list((Counter(side_a) - Counter(side_b)).elements())[:3]
        diff.only_b = list((Counter(side_b) - Counter(side_a)).elements())[:3]
        return diff
    for row_a, row_b in zip(side_a, side_b, strict=True):
        if not close(row_a, row_b):
            diff.only_a.append(row_a)
            diff.only_b.append(row_b)
            if len(diff.only_a) >= 3:
                break
    return diff


def compare_warehouses(a: Path, b: Path, schemas: Iterable[str] = ("marts",),
                       skip: Iterable[str] = ()) -> list[TableDiff]:
    """Every table of ``schemas`` in either warehouse, compared (``skip``: ``schema.table`` names)."""
    skip = set(skip)
    wa, wb = Warehouse(a), Warehouse(b)
    try:
        diffs = []
        for schema in schemas:
            tables_a, tables_b = set(wa.tables(schema)), set(wb.tables(schema))
            for table in sorted(tables_a | tables_b):
                if f"{schema}.{table}" in skip:
                    continue
                if table not in tables_a or table not in tables_b:
                    diffs.append(TableDiff(f"{schema}.{table}", missing="a" if table not in tables_a else "b"))
                    continue
                diffs.append(compare_table(wa, wb, schema, table))
        return diffs
    finally:
        wa.close()
        wb.close()
