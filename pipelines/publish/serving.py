"""The DuckDB serving copy: one file per night, and ``serving_dir/kpi.duckdb`` pointing at the current one.

Layout::

    serving/kpi.duckdb -> nights/kpi-<run_id>.duckdb     symbolic link, switched atomically
    serving/nights/kpi-<run_id>.duckdb                   one file per published night (read-only mode 0444)
    serving/publishes.json                               the kept nights, the current one

How a publish stays safe for readers (BI tools open ``kpi.duckdb`` read-only):

1. Under an exclusive lock on ``serving_dir/.publish.lock`` (one publisher at a time; a killed
   publisher's lock is released by the kernel), stale temp files of killed publishes are removed.
2. The private warehouse is opened READ-ONLY; a new file ``nights/.tmp-kpi-<run_id>-<pid>.duckdb``
   is ATTACHed (in the storage format of ``storage_version``, so that older DuckDB clients — the
   DuckDB CLI, BI tools' drivers — can read it); every table of the public schemas (default:
   ``marts``) is copied with ``CREATE TABLE … AS SELECT`` (person-level columns masked, the dbt
   docs as table and column comments), views are materialized as tables (a view in the serving file
   must not reference the private file), and ``marts._publish_info`` records run id, time, as-of
   date and row counts. ``CHECKPOINT``, ``DETACH``: the file is complete, no WAL.
3. The file gets its night's name ``nights/kpi-<run_id>.duckdb`` and mode 0444; then the link
   ``kpi.duckdb`` is replaced by a new link to it (``os.replace`` of a link: atomic). A reader that
   has the old night open keeps reading it — a consistent snapshot; the next connection opens the
   new night; nobody waits for anybody; nobody can open a half-built file.
4. ``publishes.json`` (written atomically) lists the kept nights; older ones are deleted.

Why a link and a file per night rather than one file replaced in place: DuckDB names a database's
write-ahead log after the file it opened, following links (``nights/kpi-<run>.duckdb.wal``). A
client that opens the serving copy read-write by mistake writes its WAL beside *its* night; with one
file name for every night, that WAL landed beside the next night's file and every later open failed
("WAL does not match database file"). Now a stray writer can only touch the night it opened, which
is no longer the current one after the next publish, and :func:`rollback` refuses a night that was
changed after it was published (its sha256 is recorded).

A publish killed at any point leaves ``kpi.duckdb`` as it was, and the next publish removes the
leftovers without manual steps.

For readers: open ``kpi.duckdb`` READ-ONLY (``duckdb.connect(path, read_only=True)``; DBeaver/JDBC:
``duckdb.read_only=true``). A connection sees the night it opened; reconnect to see a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.publish._common import (
    PRIVATE_SCHEMAS,
    PublishError,
    PublishResult,
    UnknownNight,
    check_identifier,
    check_run_id,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    quote_ident,
    sql_literal,
    switch_link,
    write_json_atomic,
)
from pipelines.publish.masking import columns_to_mask, pseudonym_expression

log = logging.getLogger(__name__)

SERVING_FILE = "kpi.duckdb"
NIGHTS_DIR = "nights"
MANIFEST_FILE = "publishes.json"
LOCK_FILE = ".publish.lock"
PUBLISH_INFO_TABLE = "_publish_info"
#: Storage format of the serving files: readable by DuckDB 1.4 and later (the DuckDB CLI on PyPI,
#: BI tools' JDBC/ODBC drivers), not only by the DuckDB 2.0 that writes them.
DEFAULT_STORAGE_VERSION = "v1.4.0"
_TARGET = "kpi_publish_target"  # catalog alias of the file being built
PUBLISH_INFO_DOCS = {
    "": "What was published: one row per table of the night, with the run that built it.",
    "run_id": "Dagster run id of the nightly run that built and published this copy.",
    "published_at": "When this copy was published (UTC).",
    "as_of_date": "The warehouse's as-of date: the last business day the night's data covers.",
    "table_schema": "Schema of the published table.",
    "table_name": "Name of the published table.",
    "table_kind": "'table', or 'view (materialized)' for a warehouse view published as a table.",
    "row_count": "Rows of the table in this copy.",
    "masked_columns": "Person-level columns of the table replaced by pseudonyms in this copy.",
}


def night_name(run_id: str) -> str:
    return f"{NIGHTS_DIR}/kpi-{run_id}.duckdb"


def archive_name(run_id: str) -> str:  # kept for callers of the one-file layout
    return night_name(run_id)


def _checked_schemas(run_id: str, keep: int, schemas: Sequence[str]) -> list[str]:
    """The schemas to publish, checked (and the run id and ``keep`` with them)."""
    check_run_id(run_id)
    if keep < 1:
        raise ValueError(f"keep={keep}: at least the current copy must be kept")
    checked = [check_identifier(s, "schema") for s in schemas]
    if not checked:
        raise ValueError("schemas is empty: nothing to publish")
    private = sorted(set(checked) & PRIVATE_SCHEMAS)
    if private:
        raise ValueError(f"schemas {private} are private build layers and are never published")
    return checked


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
    table_docs: Mapping[str, str] | None = None,
    column_docs: Mapping[str, Mapping[str, str]] | None = None,
    storage_version: str | None = DEFAULT_STORAGE_VERSION,
) -> PublishResult:
    """Copy the public marts of ``warehouse_path`` into a new night file and point ``serving_dir/kpi.duckdb`` at it.

    ``pii_columns``: extra ``(table, column)`` pairs to mask (e.g. from dbt's manifest tags/meta),
    on top of ``dim_employee``'s names and email; ignored when ``mask_person_names`` is False.
    ``keep``: how many nights stay available for :func:`rollback` (the current one included).
    ``table_docs`` / ``column_docs``: descriptions (dbt docs) by table name of the first schema,
    written as table and column comments.
    """
    started = time.perf_counter()
    schemas = _checked_schemas(run_id, keep, schemas)
    warehouse_path = Path(warehouse_path)
    if not warehouse_path.is_file():
        raise PublishError(f"warehouse file {warehouse_path} does not exist: build it before publishing")
    serving_dir = Path(serving_dir)
    (serving_dir / NIGHTS_DIR).mkdir(parents=True, exist_ok=True)
    published_at = (now or datetime.now(UTC)).astimezone(UTC)

    with exclusive_lock(serving_dir / LOCK_FILE):
        removed = _remove_stale_temp_files(serving_dir)
        tmp = serving_dir / NIGHTS_DIR / f".tmp-kpi-{run_id}-{os.getpid()}.duckdb"
        night = serving_dir / night_name(run_id)
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
                table_docs=table_docs or {},
                column_docs=column_docs or {},
                storage_version=storage_version,
            )
            _verify_copy(tmp, schemas[0], run_id)
            os.chmod(tmp, 0o444)  # a night is never changed once published
            fsync_file(tmp)
            digest = file_sha256(tmp)
            os.replace(tmp, night)
            with contextlib.suppress(OSError):
                Path(f"{night}.wal").unlink()  # a WAL of an earlier file of this name is not this file's
            fsync_dir(night.parent)
            _drop_stray_wal(serving_dir / SERVING_FILE, notes)
            switch_link(serving_dir / SERVING_FILE, night_name(run_id))  # the swap
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
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
                "file": night_name(run_id),
                "sha256": digest,
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
        len(tables), sum(tables.values()), warehouse_path, night, duration, run_id,
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


def resolve_night(serving_dir: Path, ref: str | None) -> str:
    """The run id of the kept night that ``ref`` names: a full run id or a unique prefix of one
    (``kpi status`` shows 8 characters). ``None``: the current night."""
    manifest = _read_manifest(Path(serving_dir))
    ids = [e["run_id"] for e in manifest.get("history", [])]
    if ref is None:
        current = current_run_id(serving_dir)
        if current is None:
            raise PublishError(f"{Path(serving_dir) / SERVING_FILE}: nothing is published yet")
        return current
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    kept = ", ".join(f"{i[:8]}" for i in ids) or "none"
    if matches:
        raise UnknownNight(f"night {ref!r} is ambiguous: it starts {len(matches)} kept nights ({kept}); give more characters")
    raise UnknownNight(f"night {ref!r} is not a kept night (kept: {kept})")


def rollback(serving_dir: Path, to: str | None = None) -> str:
    """Point ``kpi.duckdb`` at a kept night again; return its run id.

    ``to``: a run id or a unique prefix of one; default: the night published before the current one.
    The switch is atomic like a publish. A night whose file changed since it was published (someone
    opened it read-write) is refused.
    """
    serving_dir = Path(serving_dir)
    with exclusive_lock(serving_dir / LOCK_FILE):
        _remove_stale_temp_files(serving_dir)
        manifest = _read_manifest(serving_dir)
        history: list[dict[str, Any]] = manifest.get("history", [])
        if not history:
            raise PublishError(f"{serving_dir / MANIFEST_FILE}: no published copies to roll back to")
        ids = [e["run_id"] for e in history]
        current = current_run_id(serving_dir) or manifest.get("current")
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
        else:
            to = resolve_night(serving_dir, to)
        entry = history[ids.index(to)]
        source = serving_dir / entry["file"]
        if not source.is_file():
            raise PublishError(f"roll-back copy {source} is missing")
        _check_unchanged(source, entry)
        _verify_copy(source, None, to)
        _drop_stray_wal(serving_dir / SERVING_FILE, [])
        switch_link(serving_dir / SERVING_FILE, entry["file"])
        manifest["current"] = to
        manifest["rolled_back_at"] = datetime.now(UTC).isoformat()
        write_json_atomic(serving_dir / MANIFEST_FILE, manifest)
    log.info("rolled %s back to run %s", serving_dir / SERVING_FILE, to)
    return to


def published_copies(serving_dir: Path) -> dict[str, Any]:
    """The manifest: ``{"current": run_id, "history": [{run_id, file, published_at, tables…}, …]}``."""
    return _read_manifest(Path(serving_dir))


def current_night(serving_dir: Path) -> Path | None:
    """The file ``kpi.duckdb`` points at now (what a reader opening it gets), or None."""
    live = Path(serving_dir) / SERVING_FILE
    if not live.exists():
        return None
    return live.resolve()


def current_run_id(serving_dir: Path) -> str | None:
    """The run id of the night ``kpi.duckdb`` points at (from the link, else from the file itself)."""
    serving_dir = Path(serving_dir)
    live = serving_dir / SERVING_FILE
    if live.is_symlink():
        target = os.readlink(live)
        for entry in _read_manifest(serving_dir).get("history", []):
            if entry.get("file") == target:
                return entry["run_id"]
    return _live_run_id(live)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_unchanged(path: Path, entry: Mapping[str, Any]) -> None:
    wal = Path(f"{path}.wal")
    if wal.exists():
        raise PublishError(f"night {entry['run_id']} ({path}) has a write-ahead log {wal.name}: it was opened "
                           "read-write after it was published; it is not rolled back to")
    expected = entry.get("sha256")
    if expected and file_sha256(path) != expected:
        raise PublishError(f"night {entry['run_id']} ({path}) changed after it was published (sha256 differs): "
                           "it is not rolled back to")


# --- building the copy ----------------------------------------------------------------------------


def _select_list(
    columns: list[tuple[str, str]], wanted: set[str], types: dict[str, str], table: str, masked: list[str]
) -> list[str]:
    """The copy's SELECT list: every column, the PII ones (``wanted``) as pseudonyms (noted in ``masked``)."""
    select_list = []
    for column, data_type in columns:
        if column in wanted:
            expr = pseudonym_expression(column, data_type, types)
            select_list.append(f"{expr} AS {quote_ident(column)}")
            masked.append(f"{table}.{column}")
        else:
            select_list.append(quote_ident(column))
    return select_list


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
    table_docs: Mapping[str, str],
    column_docs: Mapping[str, Mapping[str, str]],
    storage_version: str | None,
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
        if storage_version:
            con.execute(f"ATTACH ? AS {_TARGET} (READ_ONLY false, STORAGE_VERSION ?)", [str(tmp), storage_version])
        else:
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
                select_list = _select_list(columns, wanted, types, f"{schema}.{name}", masked)
                qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
                # identifiers come from the warehouse catalog and are quoted; no value is pasted
                con.execute(
                    f"CREATE TABLE {_TARGET}.{qualified} AS "  # noqa: S608
                    f"SELECT {', '.join(select_list)} FROM {quote_ident(source)}.{qualified}"
                )
                rows = con.execute(f"SELECT count(*) FROM {_TARGET}.{qualified}").fetchall()[0][0]  # noqa: S608
                if schema == schemas[0]:
                    own_table, own_columns = _source_comments(con, source, schema, name)
                    _comment(con, f"{_TARGET}.{qualified}", table_docs.get(name) or own_table,
                             {**own_columns, **column_docs.get(name, {})}, [c for c, _ in columns])
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
        _comment(con, info, PUBLISH_INFO_DOCS[""], PUBLISH_INFO_DOCS, list(PUBLISH_INFO_DOCS)[1:])
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


def _source_comments(con: duckdb.DuckDBPyConnection, database: str, schema: str,
                     table: str) -> tuple[str | None, dict[str, str]]:
    """Comments the warehouse table already has (dbt's persist_docs): the docs given win over them."""
    row = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                      "AND table_name = ?", [database, schema, table]).fetchone()
    columns = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE database_name = ? "
                               "AND schema_name = ? AND table_name = ? AND comment IS NOT NULL",
                               [database, schema, table]).fetchall())
    return (row[0] if row else None), columns


def _comment(con: duckdb.DuckDBPyConnection, qualified: str, table_doc: str | None,
             column_docs: Mapping[str, str], columns: list[str]) -> None:
    """Table and column comments (DuckDB's COMMENT ON takes no parameters: quoted literals)."""
    if table_doc:
        con.execute(f"COMMENT ON TABLE {qualified} IS {sql_literal(table_doc)}")
    for column in columns:
        doc = column_docs.get(column)
        if doc:
            con.execute(f"COMMENT ON COLUMN {qualified}.{quote_ident(column)} IS {sql_literal(doc)}")


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
    """A WAL named after ``kpi.duckdb`` itself was left by a read-write opener of the one-file layout
    (before ``kpi.duckdb`` became a link); it belongs to no night: remove it."""
    wal = live.with_name(live.name + ".wal")
    if wal.exists():
        wal.unlink()
        message = f"removed {wal.name}: the serving copy had been opened read-write (readers must use read_only)"
        log.warning(message)
        notes.append(message)


def _remove_stale_temp_files(serving_dir: Path) -> list[str]:
    """Called under the publish lock: every temp file belongs to a publish that died."""
    removed = []
    for leftover in sorted([*serving_dir.glob(".tmp-*"), *serving_dir.glob(f"{NIGHTS_DIR}/.tmp-*")]):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed.append(leftover.name)
    if removed:
        log.warning("removed %d stale temp files from %s: %s", len(removed), serving_dir, ", ".join(removed))
    return removed


def _prune(serving_dir: Path, kept_files: set[str]) -> list[str]:
    """Delete the nights (and one-file-layout archives) no longer kept; never the one the link names."""
    live = serving_dir / SERVING_FILE
    kept = set(kept_files)
    if live.is_symlink():
        kept.add(os.readlink(live))
    removed = []
    candidates = [*serving_dir.glob(f"{NIGHTS_DIR}/kpi-*.duckdb"), *serving_dir.glob("kpi-*.duckdb")]
    for copy in sorted(candidates):
        name = copy.relative_to(serving_dir).as_posix()
        if name not in kept:
            with contextlib.suppress(OSError):
                copy.unlink()
                removed.append(name)
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
