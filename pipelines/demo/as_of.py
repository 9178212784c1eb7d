"""The sources as they stood at the end of a local day D, from a generation with history.

    write_sources_as_of(history_dir, out_dir, date(2025, 11, 12))
    python -m pipelines.demo --history-dir HIST --data-dir OUT --as-of 2025-11-12

``history_dir`` is a folder written by ``generate(..., history=True)`` (see :mod:`pipelines.demo.history`).
Into ``out_dir`` go ``sources/erp.sqlite`` and ``sources/hr.sqlite`` with every row in its state at
the end of D (rows first written later are absent; rows changed later hold their earlier version and
its ``updated_at``), and ``landing/`` with exactly the files delivered by D, in their content as of D.
The databases are copies of the final ones with the later rows removed and the later changes undone
(cheap when D is recent); a landing file is rewritten only when its content differs, so an unchanged
file keeps its modification time (what the late-files sensor watches). Same history and day, same
bytes; as of the last day of the window the sources are the final ones, byte for byte.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .common import Clock, DemoConfigError, atomic_write_bytes, fmt_ts, tmp_path_for
from .generator import LANDING_PATTERNS
from .history import HISTORY_DIR, read_history_manifest
from .writers import parquet_bytes

DATABASES = ("erp", "hr")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class AsOfResult:
    day: date
    row_counts: dict[str, int]                          # "<db>.<table>" -> rows as of the day
    landing_files: int                                  # files delivered by the day
    written: list[str] = field(default_factory=list)    # landing files new or changed in out_dir
    removed: list[str] = field(default_factory=list)    # landing files not delivered yet, removed


def write_sources_as_of(history_dir: Path, out_dir: Path, day: date) -> AsOfResult:
    """Write the demo sources as they stood at the end of local day ``day`` into ``out_dir``."""
    history_dir, out_dir = Path(history_dir), Path(out_dir)
    manifest = read_history_manifest(history_dir)
    params = manifest["params"]
    start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    if not start <= day <= end:
        raise DemoConfigError(f"as-of day {day} is outside the generated window {start}..{end}")
    if out_dir.resolve() == history_dir.resolve():
        raise DemoConfigError(f"{out_dir}: the output folder must not be the history folder (its final state)")
    clock = Clock(params["timezone"])
    cut = str(fmt_ts(np.array([clock.local_midnight_utc(day + timedelta(days=1))]))[0])
    row_counts: dict[str, int] = {}
    for db in DATABASES:
        counts = _database_as_of(history_dir / "sources" / f"{db}.sqlite",
                                 history_dir / HISTORY_DIR / f"{db}.sqlite",
                                 out_dir / "sources" / f"{db}.sqlite", cut)
        row_counts.update({f"{db}.{table}": n for table, n in counts.items()})
    result = AsOfResult(day, row_counts, 0)
    _landing_as_of(history_dir, out_dir, manifest["landing"], day, result, cut)
    record = {"as_of": day.isoformat(), "params": params, "row_counts": row_counts,
              "landing_files": result.landing_files}
    atomic_write_bytes(out_dir / "ground_truth" / "as_of.json",
                       (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return result


# --- databases -------------------------------------------------------------------------------------


def _ident(name: str, where: Path) -> str:
    if not _IDENT.match(name):
        raise DemoConfigError(f"{where}: unexpected identifier {name!r}")
    return name


def _database_as_of(final: Path, earlier: Path, out: Path, cut: str) -> dict[str, int]:
    """Copy the final database, then drop the rows written after ``cut`` and undo later changes."""
    for path in (final, earlier):
        if not path.is_file():
            raise DemoConfigError(f"{path} not found: the history folder is incomplete")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(out)
    shutil.copyfile(final, tmp)
    counts: dict[str, int] = {}
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("ATTACH DATABASE ? AS h", (str(earlier),))
            tables = [_ident(r[0], final) for r in con.execute(
                "select name from main.sqlite_master where type = 'table' order by name")]
            versioned = {r[0] for r in con.execute("select name from h.sqlite_master where type = 'table'")}
            for t in tables:
                later = con.execute(f"select count(*) from main.{t} where updated_at >= ?", (cut,)).fetchone()[0]  # noqa: S608 - identifier validated
                if later:
                    _undo_later(con, t, cut, has_versions=t in versioned, where=final)
                counts[t] = con.execute(f"select count(*) from main.{t}").fetchone()[0]  # noqa: S608 - identifier validated
            con.commit()
        finally:
            con.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


def _undo_later(con: sqlite3.Connection, t: str, cut: str, *, has_versions: bool, where: Path) -> None:
    if not has_versions:
        con.execute(f"delete from main.{t} where updated_at >= ?", (cut,))  # noqa: S608 - identifier validated
        return
    key = [_ident(r[2], where) for r in con.execute(f"pragma main.index_info('ux_{t}_key')")]
    cols = [_ident(r[1], where) for r in con.execute(f"pragma main.table_info('{t}')")]
    if not key:
        raise DemoConfigError(f"{where}: table {t} has no key index ux_{t}_key")
    same_key = " and ".join(f"e.{k} = main.{t}.{k}" for k in key)
    # a row first written after the cut did not exist yet
    con.execute(f"delete from main.{t} where updated_at >= ? and not exists ("  # noqa: S608 - identifiers validated
                f"select 1 from h.{t} as e where {same_key} and e.updated_at < ?)", (cut, cut))
    # a row changed after the cut holds its latest version written before it
    con.execute(f"update main.{t} set ({', '.join(cols)}) = ("  # noqa: S608 - identifiers validated
                f"select {', '.join('e.' + c for c in cols)} from h.{t} as e where {same_key} and e.updated_at < ? "
                f"order by e.updated_at desc, e.rowid desc limit 1) where updated_at >= ?", (cut, cut))


# --- landing files -----------------------------------------------------------------------------------


def _landing_as_of(history_dir: Path, out_dir: Path, landing: dict[str, dict[str, str]], day: date,
                   result: AsOfResult, cut: str) -> None:
    delivered = {rel: entry for rel, entry in landing.items() if date.fromisoformat(entry["arrives"]) <= day}
    result.landing_files = len(delivered)
    for rel in sorted(delivered):
        data = (history_dir / rel).read_bytes()
        column = delivered[rel].get("status_column")
        if column:
            data = _status_as_of(data, column, day, history_dir / rel)
        time_column = delivered[rel].get("row_time_column")
        if time_column:
            data = _rows_written_by(data, time_column, cut, history_dir / rel)
        target = out_dir / rel
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        atomic_write_bytes(target, data)
        result.written.append(rel)
    landing_dir = out_dir / "landing"
    for sub, pattern in sorted(LANDING_PATTERNS.items()):
        folder = landing_dir / sub
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            rel = f"landing/{sub}/{path.name}"
            if path.is_file() and pattern.match(path.name) and rel not in delivered:
                path.unlink()
                result.removed.append(rel)


def _rows_written_by(data: bytes, column: str, cut: str, where: Path) -> bytes:
    """A CSV that grows over time, as of ``cut`` (UTC ``YYYY-MM-DD HH:MM:SS``): the rows written before it."""
    lines = data.decode("utf-8").splitlines(keepends=True)
    if not lines:
        return data
    header = next(csv.reader(lines[:1]))
    if column not in header:
        raise DemoConfigError(f"{where}: column {column!r} not found")
    i = header.index(column)
    limit = cut.replace(" ", "T") + "Z"
    kept = [line for line, row in zip(lines[1:], csv.reader(lines[1:]), strict=True) if row[i] < limit]
    return "".join([lines[0], *kept]).encode("utf-8")


def _status_as_of(data: bytes, column: str, day: date, where: Path) -> bytes:
    """A Parquet export as of ``day``: a later status (e.g. a delivery date after the day) is not known yet."""
    table = pq.read_table(pa.BufferReader(data))
    if column not in table.column_names:
        raise DemoConfigError(f"{where}: column {column!r} not found")
    values = table[column]
    later = pc.fill_null(pc.greater(values, pa.scalar(day, type=values.type)), False)
    if not pc.any(later).as_py():
        return data
    i = table.column_names.index(column)
    table = table.set_column(i, table.schema.field(i), pc.if_else(later, pa.nulls(len(values), values.type), values))
    return parquet_bytes(table)
