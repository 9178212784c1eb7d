"""Writers: source databases (SQLite file, PostgreSQL, any SQLAlchemy URL) and landing files.

Every writer is atomic (a file is written under a temporary name and renamed into place; a database
is loaded in one transaction) and deterministic (same input, same bytes).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from .common import atomic_write_bytes, tmp_path_for

Chunk = dict[str, list]
ChunkSource = Callable[[], Iterator[Chunk]]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

_SQLITE_TYPES = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "date": "TEXT", "timestamp": "TEXT"}
_SA_TYPES = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "real": sa.Float(precision=53),
    "date": sa.Date,
    "timestamp": sa.DateTime,
}


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return name


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, text|int|real|date|timestamp)
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


@dataclass
class LoadedTable:
    spec: TableSpec
    chunks: ChunkSource
    #: the rows' earlier versions (same columns; ``updated_at`` = when that version was written),
    #: recorded for the faithful history (``pipelines.demo.as_of``); None: no row ever changed
    earlier: ChunkSource | None = None


class DatabaseTarget:
    """Where a source database goes: a SQLite file (fast path) or an SQLAlchemy URL."""

    def __init__(self, *, sqlite_path: Path | None = None, url: str | None = None, label: str):
        if (sqlite_path is None) == (url is None):
            raise ValueError("give exactly one of sqlite_path or url")
        self.label = label
        self.url = url
        self.sqlite_path = sqlite_path
        if url is not None:
            parsed = sa.engine.make_url(url)
            if parsed.get_backend_name() == "sqlite":
                if not parsed.database or parsed.database == ":memory:":
                    raise ValueError(f"{label}: a SQLite URL must name a file")
                self.sqlite_path, self.url = Path(parsed.database), None

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_path is not None

    @property
    def loose_types(self) -> bool:
        """SQLite keeps a text value in an INTEGER column (lets us write a wrong-type defect)."""
        return self.is_sqlite

    def describe(self, data_dir: Path) -> str:
        if self.sqlite_path is not None:
            try:
                return self.sqlite_path.resolve().relative_to(data_dir.resolve()).as_posix()
            except ValueError:  # outside the data directory
                return self.sqlite_path.resolve().as_posix()
        return self.label  # never the URL: it may hold a password

    def write(self, tables: list[LoadedTable]) -> dict[str, int]:
        if self.sqlite_path is not None:
            return _write_sqlite(self.sqlite_path, tables)
        assert self.url is not None
        return _write_sqlalchemy(self.url, tables)


def write_versions_sqlite(path: Path, tables: list[LoadedTable]) -> dict[str, int]:
    """The earlier versions of every table's rows into one SQLite file (a key may repeat)."""
    versions = [LoadedTable(t.spec, t.earlier or (lambda: iter(()))) for t in tables]
    return _write_sqlite(path, versions, unique_key=False)


def _write_sqlite(path: Path, tables: list[LoadedTable], unique_key: bool = True) -> dict[str, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    if tmp.exists():
        tmp.unlink()
    counts: dict[str, int] = {}
    con = sqlite3.connect(tmp)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY",
                       "locking_mode=EXCLUSIVE"):
            con.execute("PRAGMA " + pragma)
        for t in tables:
            name = _ident(t.spec.name)
            cols = ", ".join(f"{_ident(c)} {_SQLITE_TYPES[ty]}" for c, ty in t.spec.columns)
            con.execute(f"CREATE TABLE {name} ({cols})")
            insert = f"INSERT INTO {name} VALUES ({', '.join('?' for _ in t.spec.columns)})"  # noqa: S608 - identifiers validated
            n = 0
            for chunk in t.chunks():
                rows = list(zip(*(chunk[c] for c in t.spec.column_names), strict=True))
                con.executemany(insert, rows)
                n += len(rows)
            counts[t.spec.name] = n
        for t in tables:
            name = _ident(t.spec.name)
            key = ", ".join(_ident(c) for c in t.spec.key)
            unique = "UNIQUE " if unique_key else ""
            con.execute(f"CREATE {unique}INDEX ux_{name}_key ON {name} ({key})")
            con.execute(f"CREATE INDEX ix_{name}_updated_at ON {name} (updated_at)")
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)
    return counts


def _sa_table(meta: sa.MetaData, spec: TableSpec) -> sa.Table:
    cols = [sa.Column(c, _SA_TYPES[ty]) for c, ty in spec.columns]
    table = sa.Table(spec.name, meta, *cols)
    sa.Index(f"ux_{spec.name}_key", *[table.c[k] for k in spec.key], unique=True)
    sa.Index(f"ix_{spec.name}_updated_at", table.c.updated_at)
    return table


def _write_sqlalchemy(url: str, tables: list[LoadedTable]) -> dict[str, int]:
    engine = sa.create_engine(url)
    counts: dict[str, int] = {}
    try:
        meta = sa.MetaData()
        sa_tables = [_sa_table(meta, t.spec) for t in tables]
        is_pg = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        with engine.begin() as conn:
            meta.drop_all(conn, checkfirst=True)
            for st in sa_tables:  # tables first, indexes after the load (faster)
                conn.execute(sa.schema.CreateTable(st))
            for t, st in zip(tables, sa_tables, strict=True):
                n = 0
                for chunk in t.chunks():
                    if is_pg:
                        n += _copy_pg(conn, t.spec, chunk)
                    else:
                        rows = _typed_rows(t.spec, chunk)
                        if rows:
                            conn.execute(st.insert(), rows)
                        n += len(rows)
                counts[t.spec.name] = n
            for st in sa_tables:
                for ix in sorted(st.indexes, key=lambda i: i.name or ""):
                    ix.create(conn)
    finally:
        engine.dispose()
    return counts


def _copy_pg(conn: sa.Connection, spec: TableSpec, chunk: Chunk) -> int:
    from psycopg import sql

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    rows = list(zip(*(chunk[c] for c in spec.column_names), strict=True))
    w.writerows(rows)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(spec.name), sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names)
    )
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(buf.getvalue())
    return len(rows)


def _typed_rows(spec: TableSpec, chunk: Chunk) -> list[dict]:
    names = spec.column_names
    convert: dict[str, Callable] = {}
    for c, ty in spec.columns:
        if ty == "date":
            convert[c] = date.fromisoformat
        elif ty == "timestamp":
            convert[c] = datetime.fromisoformat
    out = []
    for values in zip(*(chunk[c] for c in names), strict=True):
        row = {}
        for c, v in zip(names, values, strict=True):
            f = convert.get(c)
            row[c] = f(v) if (f is not None and v is not None) else v
        out.append(row)
    return out


def single_chunk(chunk: Chunk) -> ChunkSource:
    return lambda: iter([chunk])


# --- landing files -------------------------------------------------------------------------------


def csv_bytes(header: list[str], rows: Iterable[Iterable], encoding: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def jsonl_bytes(records: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=1_000_000, write_statistics=True)
    return sink.getvalue()


def write_parquet(path: Path, table: pa.Table) -> None:
    atomic_write_bytes(path, parquet_bytes(table))
