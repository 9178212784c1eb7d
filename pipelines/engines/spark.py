"""After a dbt build on Spark: its public tables into the DuckDB file the rest of the pipeline reads.

A Spark build leaves its tables as Parquet folders under the Spark warehouse directory
(``<schema>.db/<table>/part-*.parquet``, or ``<schema>.db/<table>/<column>=<value>/part-*.parquet`` for
the partitioned facts). The quality gate, the serving publish (DuckDB copy,
Parquet export, PostgreSQL), the reports and the alerts all read the private DuckDB warehouse; so
the schemas they read (``marts``, ``reference``: what publish exports) are copied into it, in one
transaction — a failed copy leaves the previous night's tables as they were. Staging and
intermediate tables stay in Spark.

Spark's timestamps are instants (Parquet ``isAdjustedToUTC``), which DuckDB reads as TIMESTAMP WITH
TIME ZONE; the warehouse keeps plain UTC timestamps (macros/compat/timezones.sql), so they are
converted back. Every other type is kept as Spark wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: What the pipeline reads from the private warehouse (publish exports every schema but the private
#: ones of pipelines/publish/_common.py: these two).
MIRRORED_SCHEMAS = ("marts", "reference")


class SparkMirrorError(RuntimeError):
    """A Spark table cannot be read (a folder without Parquet files, a file DuckDB cannot read)."""


@dataclass(frozen=True)
class MirrorResult:
    tables: dict[str, int]  # "schema.table" -> rows
    seconds: float

    def summary(self) -> str:
        return (f"{len(self.tables)} Spark tables ({sum(self.tables.values()):,} rows) copied into the DuckDB "
                f"warehouse in {self.seconds:.1f} s")


def spark_tables(spark_warehouse_dir: Path, schema: str) -> list[tuple[str, Path]]:
    """(table, folder) of one Spark schema, by name."""
    folder = Path(spark_warehouse_dir) / f"{schema}.db"
    if not folder.is_dir():
        return []
    return [(p.name, p) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: Inside a partitioned table's folder: an empty Parquet file with the table's columns, written after
#: each build (macros/compat/incremental.sql) — a partitioned table without rows has no other file.
SCHEMA_DIR = "_schema"


def table_scan(folder: Path) -> str:
    """DuckDB's read of one Spark table folder: its Parquet files, or its Hive partitions
    (``<column>=<value>/``, partition columns last as Spark keeps them, typed as the schema file says),
    or — a partitioned table without rows — its schema file."""
    folder = Path(folder)
    if any(folder.glob("*.parquet")):
        return f"read_parquet({_literal(str(folder / '*.parquet'))})"
    schema_files = _literal(str(folder / SCHEMA_DIR / "*.parquet"))
    has_schema = any((folder / SCHEMA_DIR).glob("*.parquet"))
    for depth in range(1, 5):
        pattern = "/".join(["*=*"] * depth)
        first = next(folder.glob(f"{pattern}/*.parquet"), None)
        if first is not None:
            options = ", hive_partitioning = true"
            if has_schema:  # the folder names alone would make '0042' a number
                columns = [p.name.split("=", 1)[0] for p in first.relative_to(folder).parents if p.name]
                options += f", hive_types = {_partition_types(schema_files, columns)}"
            return f"read_parquet({_literal(str(folder / pattern / '*.parquet'))}{options})"
    if has_schema:
        return f"read_parquet({schema_files})"
    if not folder.is_dir():
        raise SparkMirrorError(f"{folder}: no such Spark table (did the Spark build make it?)")
    raise SparkMirrorError(f"{folder}: a Spark table without a Parquet file (its columns cannot be read); "
                           "rebuild it with dbt on Spark")


def _partition_types(schema_files: str, columns: list[str]) -> str:
    """``{'column': 'TYPE', …}`` of the partition columns, as the table's schema file types them."""
    with duckdb.connect() as con:
        types = {name: type_name for name, type_name, *_ in
                 con.execute(f"describe select * from read_parquet({schema_files})").fetchall()}  # noqa: S608
    return "{" + ", ".join(f"{_literal(c)}: {_literal(types[c])}" for c in columns if c in types) + "}"


def _select_list(con: duckdb.DuckDBPyConnection, scan: str) -> str:
    """The table's columns, Spark's instants as plain UTC timestamps."""
    described = con.execute(f"describe select * from {scan}").fetchall()  # noqa: S608
    columns = []
    for name, type_name, *_ in described:
        if type_name.upper() == "TIMESTAMP WITH TIME ZONE":
            columns.append(f"timezone('UTC', {_quote(name)}) as {_quote(name)}")
        else:
            columns.append(_quote(name))
    return ", ".join(columns)


def mirror_into_duckdb(spark_warehouse_dir: Path, warehouse_path: Path,
                       schemas: Iterable[str] = MIRRORED_SCHEMAS, tables: Iterable[str] = (),
                       progress: Callable[[str], None] | None = None) -> MirrorResult:
    """Replace the DuckDB warehouse's tables of ``schemas`` (and the single ``tables``, ``schema.table``:
    e.g. the intermediate tables the analytics read) by the Spark build's; other tables are kept."""
    started = time.monotonic()
    spark_warehouse_dir = Path(spark_warehouse_dir)
    schemas = list(schemas)
    found = {schema: spark_tables(spark_warehouse_dir, schema) for schema in schemas}
    for name in tables:
        schema, table = name.split(".", 1)
        if schema not in schemas:
            found.setdefault(schema, []).append((table, spark_warehouse_dir / f"{schema}.db" / table))
    if not any(found.values()):
        raise SparkMirrorError(f"{spark_warehouse_dir}: no table of schema {', '.join(schemas)} — did the Spark "
                               "build run (KPI_ENGINE=spark)?")
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(warehouse_path))
    try:
        con.execute("begin")
        for schema, tables in found.items():
            con.execute(f"create schema if not exists {_quote(schema)}")
            for table, folder in tables:
                scan = table_scan(folder)
                try:
                    con.execute(f"create or replace table {_quote(schema)}.{_quote(table)} as "  # noqa: S608
                                f"select {_select_list(con, scan)} from {scan}")
                except duckdb.Error as exc:
                    raise SparkMirrorError(f"{folder}: {' '.join(str(exc).split())}") from exc
                counts[f"{schema}.{table}"] = con.execute(
                    f"select count(*) from {_quote(schema)}.{_quote(table)}").fetchone()[0]  # noqa: S608
                if progress is not None:
                    progress(f"{schema}.{table}: {counts[f'{schema}.{table}']:,} rows")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.close()
    return MirrorResult(counts, time.monotonic() - started)
