"""The DuckDB serving copy: ``serving_dir/kpi.duckdb``, swapped in atomically, with roll-back copies.

How a publish stays safe for readers (BI tools open ``kpi.duckdb`` read-only):

1. Under an exclusive lock on ``serving_dir/.publish.lock`` (one publisher at a time; a killed
   publisher's lock is released by the kernel), stale temp files of killed publishes are removed.
2. The private warehouse is opened READ-ONLY; a new file ``.tmp-kpi-<run_id>-<pid>.duckdb`` is
   ATTACHed; every table of the public schemas (default: ``marts``) is copied with
   ``CREATE TABLE … AS SELECT`` (person-level columns masked), views are materialized as tables (a
   view in the serving file must not reference the private file), and ``marts._publish_info`` records
   run id, time, as-of date and row counts. ``CHECKPOINT``, ``DETACH``: the file is complete, no WAL.
3. A copy is archived as ``kpi-<run_id>.duckdb`` (for roll-back), then the new file replaces
   ``kpi.duckdb`` with ``os.replace`` (atomic rename on the same filesystem). A reader that has the
   old file open keeps reading the old inode — a consistent snapshot; the next connection opens the
   new file; no one waits for anyone; no one can open a half-built file, because it never had the
   public name.
4. ``publishes.json`` (written atomically) lists the kept copies; older ones are deleted.

A publish killed at any point leaves ``kpi.duckdb`` as it was (it is only ever replaced by a
complete file), and the next publish removes the leftovers without manual steps.

For readers: open ``kpi.duckdb`` READ-ONLY (``duckdb.connect(path, read_only=True)``; DBeaver/JDBC:
``duckdb.read_only=true``) — a read-write open would block nothing here but leaves a WAL that the
next publish has to throw away. A connection sees the night it opened; reconnect to see a new one.
DuckDB shares one open database per file path inside a process, so a process sees the new file only
once all its connections to the old one are closed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.publish._common import (
    PRIVATE_SCHEMAS,
    PublishError,
    PublishResult,
    check_identifier,
    check_run_id,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    quote_ident,
    write_json_atomic,
)
from pipelines.publish.masking import columns_to_mask, pseudonym_expression

log = logging.getLogger(__name__)

SERVING_FILE = "kpi.duckdb"
MANIFEST_FILE = "publishes.json"
LOCK_FILE = ".publish.lock"
PUBLISH_INFO_TABLE = "_publish_info"
_TARGET = "kpi_publish_target"  # catalog alias of the file being built


def archive_name(run_id: str) -> str:
    return f"kpi-{run_id}.duckdb"


def publish_duckdb(
    warehouse_path: Path,
    serving_dir: Path,
    *,
    schemas: Sequence[str] = ("marts",),
    keep: int = 3,
    mask_person_names: bool = True,
    pii_columns: Iterable[tuple[str, str]] = (),
    pseudonym_salt: str | None = None,
    as_of_date: date | None = None,
    run_id: str,
    now: datetime | None = None,
) -> PublishResult:
    """Copy the public marts of ``warehouse_path`` into ``serving_dir/kpi.duckdb`` (atomic swap).

    ``pii_columns``: extra ``(table, column)`` pairs to mask (e.g. from dbt's manifest tags/meta),
    on top of ``dim_employee``'s names and email; ignored when ``mask_person_names`` is False.
    ``keep``: how many published copies stay available for :func:`rollback` (the current one included).
    """
    started = time.perf_counter()
    check_run_id(run_id)
    if keep < 1:
        raise ValueError(f"keep={keep}: at least the current copy must be kept")
    schemas = [check_identifier(s, "schema") for s in schemas]
    if not schemas:
        raise ValueError("schemas is empty: nothing to publish")
    private = sorted(set(schemas) & PRIVATE_SCHEMAS)
    if private:
        raise ValueError(f"schemas {private} are private build layers and are never published")
    warehouse_path = Path(warehouse_path)
    if not warehouse_path.is_file():
        raise PublishError(f"warehouse file {warehouse_path} does not exist: build it before publishing")
    serving_dir = Path(serving_dir)
    serving_dir.mkdir(parents=True, exist_ok=True)
    published_at = (now or datetime.now(UTC)).astimezone(UTC)

    with exclusive_lock(serving_dir / LOCK_FILE):
        removed = _remove_stale_temp_files(serving_dir)
        tmp = serving_dir / f".tmp-kpi-{run_id}-{os.getpid()}.duckdb"
        try:
            tables, masked, notes = _build_copy(
                warehouse_path,
                tmp,
                schemas=schemas,
                mask=mask_person_names,
                pii_columns=pii_columns,
                salt=pseudonym_salt,
                run_id=run_id,
                published_at=published_at,
                as_of_date=as_of_date,
            )
            _verify_copy(tmp, schemas[0], run_id)
            fsync_file(tmp)

            archive = serving_dir / archive_name(run_id)
            archive_tmp = serving_dir / f".tmp-archive-{run_id}-{os.getpid()}.duckdb"
            shutil.copyfile(tmp, archive_tmp)
            fsync_file(archive_tmp)
            os.replace(archive_tmp, archive)

            live = serving_dir / SERVING_FILE
            _drop_stray_wal(live, notes)
            os.replace(tmp, live)  # the swap: readers see the old file or the new one, never a mix
            fsync_dir(serving_dir)
        except BaseException:
            for leftover in serving_dir.glob(f".tmp-*-{run_id}-{os.getpid()}.duckdb*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise

        try:
            manifest = _read_manifest(serving_dir)
        except PublishError as exc:  # self-healing: the new manifest starts over
            notes.append(f"{exc}; starting a new manifest")
            log.warning("%s; starting a new manifest", exc)
            manifest = {}
        history = [e for e in manifest.get("history", []) if e.get("run_id") != run_id]
        history.append(
            {
                "run_id": run_id,
                "file": archive.name,
                "published_at": published_at.isoformat(),
                "as_of_date": as_of_date.isoformat() if as_of_date else None,
                "tables": tables,
                "masked_columns": masked,
            }
        )
        history = history[-keep:]
        manifest = {"current": run_id, "history": history}
        write_json_atomic(serving_dir / MANIFEST_FILE, manifest)
        removed += _prune(serving_dir, {e["file"] for e in history})

    duration = time.perf_counter() - started
    log.info(
        "published %d tables (%d rows) from %s to %s in %.2fs (run %s)",
        len(tables), sum(tables.values()), warehouse_path, serving_dir / SERVING_FILE, duration, run_id,
    )
    return PublishResult(
        target="duckdb",
        run_id=run_id,
        location=str(serving_dir / SERVING_FILE),
        tables=tables,
        duration_seconds=round(duration, 3),
        masked_columns=masked,
        kept=[e["run_id"] for e in history],
        removed=removed,
        notes=notes,
    )


def rollback(serving_dir: Path, to: str | None = None) -> str:
    """Make a kept copy the live ``kpi.duckdb`` again; return its run id.

    Default: the copy published before the current one. The swap is atomic like a publish.
    """
    serving_dir = Path(serving_dir)
    with exclusive_lock(serving_dir / LOCK_FILE):
        _remove_stale_temp_files(serving_dir)
        manifest = _read_manifest(serving_dir)
        history: list[dict[str, Any]] = manifest.get("history", [])
        if not history:
            raise PublishError(f"{serving_dir / MANIFEST_FILE}: no published copies to roll back to")
        ids = [e["run_id"] for e in history]
        # the live file is the truth (a publish killed between its swap and the manifest update)
        current = _live_run_id(serving_dir / SERVING_FILE) or manifest.get("current")
        if to is None:
            if current not in ids:
                raise PublishError(f"{serving_dir / MANIFEST_FILE}: current run {current!r} is not in the history")
            position = ids.index(current)
            if position == 0:
                raise PublishError(
                    f"{serving_dir / MANIFEST_FILE}: run {current!r} is the oldest kept copy; "
                    f"nothing earlier to roll back to (kept: {', '.join(ids)})"
                )
            to = ids[position - 1]
        if to not in ids:
            raise PublishError(
                f"{serving_dir / MANIFEST_FILE}: run {to!r} is not a kept copy (kept: {', '.join(ids)})"
            )
        source = serving_dir / archive_name(to)
        if not source.is_file():
            raise PublishError(f"roll-back copy {source} is missing")
        tmp = serving_dir / f".tmp-rollback-{to}-{os.getpid()}.duckdb"
        try:
            shutil.copyfile(source, tmp)
            _verify_copy(tmp, None, to)
            fsync_file(tmp)
            live = serving_dir / SERVING_FILE
            _drop_stray_wal(live, [])
            os.replace(tmp, live)
            fsync_dir(serving_dir)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        manifest["current"] = to
        manifest["rolled_back_at"] = datetime.now(UTC).isoformat()
        write_json_atomic(serving_dir / MANIFEST_FILE, manifest)
    log.info("rolled %s back to run %s", serving_dir / SERVING_FILE, to)
    return to


def published_copies(serving_dir: Path) -> dict[str, Any]:
    """The manifest: ``{"current": run_id, "history": [{run_id, file, published_at, tables…}, …]}``."""
    return _read_manifest(Path(serving_dir))


# --- building the copy ----------------------------------------------------------------------------


def _build_copy(
    warehouse_path: Path,
    tmp: Path,
    *,
    schemas: list[str],
    mask: bool,
    pii_columns: Iterable[tuple[str, str]],
    salt: str | None,
    run_id: str,
    published_at: datetime,
    as_of_date: date | None,
) -> tuple[dict[str, int], list[str], list[str]]:
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error as exc:
        raise PublishError(
            f"cannot open the warehouse {warehouse_path} read-only (is a writer still running?): {exc}"
        ) from exc
    tables: dict[str, int] = {}
    masked: list[str] = []
    notes: list[str] = []
    pii_list = list(pii_columns)
    try:
        source = con.execute("SELECT current_database()").fetchall()[0][0]
        con.execute(f"ATTACH ? AS {_TARGET} (READ_ONLY false)", [str(tmp)])
        con.execute("SET VARIABLE kpi_salt = ?", [salt or ""])
        info_rows: list[tuple[Any, ...]] = []
        for schema in schemas:
            objects = con.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name",
                [source, schema],
            ).fetchall()
            objects = [(n, k) for n, k in objects if n != PUBLISH_INFO_TABLE]
            if not objects:
                raise PublishError(f"{warehouse_path}: schema {schema!r} has no tables; nothing to publish")
            to_mask = columns_to_mask(pii_list, schema) if mask else {}
            con.execute(f"CREATE SCHEMA {_TARGET}.{quote_ident(schema)}")
            for name, kind in objects:
                columns = con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() "
                    "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
                    [source, schema, name],
                ).fetchall()
                types = dict(columns)
                wanted = to_mask.get(name, set())
                for missing in sorted(wanted - set(types)):
                    notes.append(f"PII column {schema}.{name}.{missing} not found; nothing to mask")
                select_list = []
                for column, data_type in columns:
                    if column in wanted:
                        expr = pseudonym_expression(column, data_type, types)
                        select_list.append(f"{expr} AS {quote_ident(column)}")
                        masked.append(f"{schema}.{name}.{column}")
                    else:
                        select_list.append(quote_ident(column))
                qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
                # identifiers come from the warehouse catalog and are quoted; no value is pasted
                con.execute(
                    f"CREATE TABLE {_TARGET}.{qualified} AS "  # noqa: S608
                    f"SELECT {', '.join(select_list)} FROM {quote_ident(source)}.{qualified}"
                )
                rows = con.execute(f"SELECT count(*) FROM {_TARGET}.{qualified}").fetchall()[0][0]  # noqa: S608
                key = name if schema == schemas[0] else f"{schema}.{name}"
                tables[key] = int(rows)
                table_kind = "table" if kind == "BASE TABLE" else "view (materialized)"
                if kind != "BASE TABLE":
                    notes.append(f"view {schema}.{name} published as a table (it must not reference the private file)")
                info_rows.append((schema, name, table_kind, int(rows), sorted(wanted & set(types))))
        info = f"{_TARGET}.{quote_ident(schemas[0])}.{quote_ident(PUBLISH_INFO_TABLE)}"
        con.execute(
            f"CREATE TABLE {info} (run_id VARCHAR NOT NULL, published_at TIMESTAMPTZ NOT NULL, "
            "as_of_date DATE, table_schema VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "
            "table_kind VARCHAR NOT NULL, row_count BIGINT NOT NULL, masked_columns VARCHAR[])"
        )
        con.executemany(
            f"INSERT INTO {info} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            [(run_id, published_at, as_of_date, *row) for row in info_rows],
        )
        con.execute(f"CHECKPOINT {_TARGET}")
        con.execute(f"DETACH {_TARGET}")
    except duckdb.Error as exc:
        raise PublishError(f"copying {warehouse_path} to {tmp.name} failed: {exc}") from exc
    finally:
        con.close()
    return tables, masked, notes


def _verify_copy(path: Path, schema: str | None, run_id: str) -> None:
    """Open the finished file on its own (no warehouse attached) and check its publish record."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise PublishError(f"serving copy {path} cannot be opened: {exc}") from exc
    try:
        where = [schema] if schema else [
            r[0] for r in con.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = ?",
                [PUBLISH_INFO_TABLE],
            ).fetchall()
        ]
        if not where:
            raise PublishError(f"serving copy {path} has no {PUBLISH_INFO_TABLE} table")
        info = f"{quote_ident(where[0])}.{quote_ident(PUBLISH_INFO_TABLE)}"
        found = {r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM {info}").fetchall()}  # noqa: S608
        if found != {run_id}:
            raise PublishError(f"serving copy {path}: {PUBLISH_INFO_TABLE} says run {sorted(found)}, expected {run_id!r}")
    except duckdb.Error as exc:
        raise PublishError(f"serving copy {path} is not readable: {exc}") from exc
    finally:
        con.close()


def _live_run_id(live: Path) -> str | None:
    if not live.is_file():
        return None
    try:
        con = duckdb.connect(str(live), read_only=True)
    except duckdb.Error:
        return None
    try:
        found = con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = ?", [PUBLISH_INFO_TABLE]
        ).fetchall()
        if not found:
            return None
        info = f"{quote_ident(found[0][0])}.{quote_ident(PUBLISH_INFO_TABLE)}"
        rows = con.execute(f"SELECT DISTINCT run_id FROM {info}").fetchall()  # noqa: S608
        return rows[0][0] if len(rows) == 1 else None
    except duckdb.Error:
        return None
    finally:
        con.close()


# --- files ------------------------------------------------------------------------------------------


def _drop_stray_wal(live: Path, notes: list[str]) -> None:
    """A WAL next to kpi.duckdb can only come from someone opening it read-write; it belongs to the
    old file and would be replayed against the new one: remove it before the swap."""
    wal = live.with_name(live.name + ".wal")
    if wal.exists():
        wal.unlink()
        message = f"removed {wal.name}: the serving copy had been opened read-write (readers must use read_only)"
        log.warning(message)
        notes.append(message)


def _remove_stale_temp_files(serving_dir: Path) -> list[str]:
    """Called under the publish lock: every temp file belongs to a publish that died."""
    removed = []
    for leftover in sorted(serving_dir.glob(".tmp-*")):
        with contextlib.suppress(OSError):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed.append(leftover.name)
    if removed:
        log.warning("removed %d stale temp files from %s: %s", len(removed), serving_dir, ", ".join(removed))
    return removed


def _prune(serving_dir: Path, kept_files: set[str]) -> list[str]:
    removed = []
    for copy in sorted(serving_dir.glob("kpi-*.duckdb")):
        if copy.name not in kept_files:
            with contextlib.suppress(OSError):
                copy.unlink()
                removed.append(copy.name)
            with contextlib.suppress(OSError):
                copy.with_name(copy.name + ".wal").unlink()
    return removed


def _read_manifest(serving_dir: Path) -> dict[str, Any]:
    path = serving_dir / MANIFEST_FILE
    if not path.exists():
        return {"current": None, "history": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"publish manifest {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("history", []), list):
        raise PublishError(f"publish manifest {path}: expected an object with a 'history' list")
    return data
