"""The marts as Parquet, for any engine: ``parquet_dir/<mart>/part-0.parquet``.

Each mart folder is written under a temp name (``parquet_dir/.tmp-<mart>-<token>/``) and then swapped
in. On Linux the swap is ``renameat2(RENAME_EXCHANGE)``: the old and the new folder trade places in
one atomic step, so ``<mart>/`` always exists and always holds one complete file; elsewhere the old
folder is renamed away first (a gap of two renames). ``parquet_dir/_manifest.json`` lists the marts
and the run they came from; a mart that disappeared from the serving copy is removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import json
import logging
import os
import secrets
import shutil
import time
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
    write_json_atomic,
)
from pipelines.publish.serving import PUBLISH_INFO_TABLE

log = logging.getLogger(__name__)

MANIFEST_FILE = "_manifest.json"
PART_FILE = "part-0.parquet"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def export_parquet(
    serving_db: Path, parquet_dir: Path, *, schema: str = "marts", compression: str = "zstd"
) -> dict[str, Any]:
    """Write every table of ``schema`` in ``serving_db`` to ``parquet_dir/<mart>/part-0.parquet``.

    Returns ``{mart: {"path": str, "rows": int}}``. Reads the serving copy (never the private
    warehouse) read-only, so it sees one published run.
    """
    started = time.perf_counter()
    serving_db, parquet_dir = Path(serving_db), Path(parquet_dir)
    if not serving_db.is_file():
        raise PublishError(f"serving copy {serving_db} does not exist: publish before exporting Parquet")
    parquet_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}
    with exclusive_lock(parquet_dir / ".export.lock"):
        for leftover in parquet_dir.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        previous = _read_manifest(parquet_dir)
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
            for mart in marts:
                tmp = parquet_dir / f".tmp-{mart}-{secrets.token_hex(4)}"
                tmp.mkdir()
                part = tmp / PART_FILE
                try:
                    relation = con.table(f"{quote_ident(schema)}.{quote_ident(mart)}")
                    relation.write_parquet(str(part), compression=compression)
                    rows = con.execute(
                        "SELECT count(*) FROM read_parquet(?)", [str(part)]
                    ).fetchall()[0][0]
                    fsync_file(part)
                    fsync_dir(tmp)
                    _swap_dir(tmp, parquet_dir / mart)
                except (duckdb.Error, OSError) as exc:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise PublishError(f"exporting {schema}.{mart} to {parquet_dir / mart} failed: {exc}") from exc
                written[mart] = {"path": str(parquet_dir / mart / PART_FILE), "rows": int(rows)}
        finally:
            con.close()
        for gone in sorted(set(previous.get("marts", {})) - set(written)):
            shutil.rmtree(parquet_dir / gone, ignore_errors=True)
            log.info("removed Parquet folder %s: the mart is no longer published", parquet_dir / gone)
        write_json_atomic(
            parquet_dir / MANIFEST_FILE,
            {"run_id": run_id, "exported_at": datetime.now(UTC).isoformat(), "marts": written},
        )
        fsync_dir(parquet_dir)
    log.info("exported %d marts from %s to %s in %.2fs", len(written), serving_db, parquet_dir,
             time.perf_counter() - started)
    return written


def _read_manifest(parquet_dir: Path) -> dict[str, Any]:
    path = parquet_dir / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _swap_dir(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; the folder ``target`` is complete at every instant when possible."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
        return
    old = target.with_name(f".tmp-old-{target.name}-{secrets.token_hex(4)}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"renameat2 exchange of {a} and {b} failed: {os.strerror(err)}")


@functools.cache
def _renameat2() -> Any:
    """glibc's renameat2 (2.28+), or None when the platform has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func
