"""The marts as Parquet, for any engine: ``parquet/<mart>/part-0.parquet``; all marts of a night switch at once.

Layout::

    serving/parquet -> parquet-nights/<run_id>                symbolic link, switched atomically
    serving/parquet-nights/<run_id>/<mart>/part-0.parquet     one folder per published night
    serving/parquet-nights/<run_id>/_manifest.json            the marts, their rows, the run

A night's folder is written under a temp name, completed (every mart, the manifest, fsync) and
renamed; then the link ``parquet`` is replaced by a link to it in one atomic step. Every path under
``parquet/`` therefore belongs to one night at any instant, and a reader that resolves ``parquet``
once (``os.path.realpath``, or one query that names all its files) reads one night, never two mixed.
The folders of older nights stay until they are no longer kept (``keep_runs``), so a reader that is
still on one is not cut off; :func:`export_parquet` of a night that is still kept only switches the
link back (roll-back).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.publish._common import (
    PublishError,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    quote_ident,
    switch_link,
    write_json_atomic,
)
from pipelines.publish.serving import PUBLISH_INFO_TABLE

log = logging.getLogger(__name__)

MANIFEST_FILE = "_manifest.json"
PART_FILE = "part-0.parquet"
NIGHTS_SUFFIX = "-nights"


def nights_dir(parquet_dir: Path) -> Path:
    """Where the night folders of the link ``parquet_dir`` live."""
    parquet_dir = Path(parquet_dir)
    return parquet_dir.with_name(parquet_dir.name + NIGHTS_SUFFIX)


def export_parquet(
    serving_db: Path,
    parquet_dir: Path,
    *,
    schema: str = "marts",
    compression: str = "zstd",
    keep_runs: Collection[str] | None = None,
) -> dict[str, Any]:
    """Write every table of ``schema`` in ``serving_db`` to a night folder and point ``parquet_dir`` at it.

    Returns ``{mart: {"path": str, "rows": int}}`` (paths under ``parquet_dir``). Reads the serving
    copy (never the private warehouse) read-only, so it sees one published night. ``keep_runs``:
    night folders of other runs are deleted (None: none is deleted).
    """
    started = time.perf_counter()
    serving_db, parquet_dir = Path(serving_db), Path(parquet_dir)
    if not serving_db.is_file():
        raise PublishError(f"serving copy {serving_db} does not exist: publish before exporting Parquet")
    serving_db = serving_db.resolve()  # one night, even if the link moves while we read
    root = nights_dir(parquet_dir)
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / ".export.lock"):
        for leftover in root.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        con = duckdb.connect(str(serving_db), read_only=True)
        try:
            marts = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
                    [schema],
                ).fetchall()
            ]
            if not marts:
                raise PublishError(f"{serving_db}: schema {schema!r} has no tables to export")
            run_id = None
            if PUBLISH_INFO_TABLE in marts:
                row = con.execute(
                    f"SELECT max(run_id) FROM {quote_ident(schema)}.{quote_ident(PUBLISH_INFO_TABLE)}"  # noqa: S608
                ).fetchall()
                run_id = row[0][0] if row else None
            run_id = run_id or f"file-{serving_db.stem}"
            night = root / run_id
            existing = read_manifest(night)
            if existing.get("run_id") == run_id and set(existing.get("marts", {})) == set(marts):
                written = existing["marts"]  # this night was exported before (a roll-back, a re-publish)
            else:
                written = _write_night(con, schema, marts, root, night, run_id, compression)
        finally:
            con.close()
        switch_link(parquet_dir, f"{root.name}/{run_id}")
        if keep_runs is not None:
            for folder in root.iterdir():
                if folder.is_dir() and not folder.name.startswith(".") and folder.name not in {*keep_runs, run_id}:
                    shutil.rmtree(folder, ignore_errors=True)
    log.info("exported %d marts from %s to %s (night %s) in %.2fs", len(written), serving_db, parquet_dir,
             run_id, time.perf_counter() - started)
    return {mart: {"path": str(parquet_dir / mart / PART_FILE), "rows": info["rows"]}
            for mart, info in written.items()}


def _write_night(con: duckdb.DuckDBPyConnection, schema: str, marts: list[str], root: Path, night: Path,
                 run_id: str, compression: str) -> dict[str, Any]:
    tmp = root / f".tmp-{run_id}-{secrets.token_hex(4)}"
    tmp.mkdir()
    written: dict[str, Any] = {}
    try:
        for mart in marts:
            folder = tmp / mart
            folder.mkdir()
            part = folder / PART_FILE
            relation = con.table(f"{quote_ident(schema)}.{quote_ident(mart)}")
            relation.write_parquet(str(part), compression=compression)
            rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(part)]).fetchall()[0][0]
            fsync_file(part)
            fsync_dir(folder)
            written[mart] = {"rows": int(rows)}
        write_json_atomic(tmp / MANIFEST_FILE,
                          {"run_id": run_id, "exported_at": datetime.now(UTC).isoformat(), "marts": written})
        fsync_dir(tmp)
        if night.exists():
            shutil.rmtree(night)  # an incomplete folder of a killed export of this night
        tmp.rename(night)
        fsync_dir(root)
    except (duckdb.Error, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"exporting {schema} to {night} failed: {exc}") from exc
    return written


def read_manifest(folder: Path) -> dict[str, Any]:
    """A night folder's (or the ``parquet`` link's) ``_manifest.json``; {} when missing or unreadable."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
