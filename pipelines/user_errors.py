"""Errors a user or an operator can act on, said in one line: what went wrong and where.

``describe`` turns an exception into that line (or None for a bug, which keeps its traceback for
``-v``); ``exit_code`` says which documented exit code it maps to. Used by the ``kpi`` CLI (every
command) and by the assets (a step that fails on a full disk says so in its failure message).
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED, EXIT_CATALOG, EXIT_SOURCES_MISSING = 0, 1, 2, 3, 4, 5



class UsageError(Exception):
    """A command asked for something that cannot be (nothing published yet, …): exit 2, one line."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
#: How SQLite (the Dagster instance, the alert outbox) and DuckDB word the same conditions.
_DISK_FULL_TEXT = ("no space left on device", "database or disk is full", "disk i/o error", "disk full")
_NOT_WRITABLE_TEXT = ("read-only file system", "permission denied", "attempt to write a readonly database",
                      "readonly database")


def free_space(path: Path) -> str:
    """'1.2 GB free on /srv/kpi' (or '' when it cannot be told)."""
    for candidate in (Path(path), *Path(path).parents):
        if candidate.is_dir():
            try:
                free = shutil.disk_usage(candidate).free
            except OSError:
                return ""
            shown = f"{free / 1e9:.1f} GB" if free >= 1e9 else f"{free / 1e6:.1f} MB"
            return f"{shown} free on {candidate}"
    return ""


def describe(exc: BaseException, data_dir: Path | None = None) -> str | None:
    """One line for an error the user can act on, None for anything else (a bug)."""
    from pipelines.publish import PublishError
    from pipelines.settings import SettingsError
    from quality.catalog import CatalogError

    if isinstance(exc, CatalogError):
        return f"KPI catalog is invalid ({len(exc.issues)} problem(s)); the last valid catalog stays in use"
    if isinstance(exc, PublishError | UsageError):
        return str(exc)
    if type(exc).__name__ == "ValidationError" and "pydantic" in type(exc).__module__:
        errors = exc.errors()  # type: ignore[attr-defined]
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or "?"
        return f"configuration: KPI_{field.upper()}: {first.get('msg', exc)} (settings: pipelines/settings.py)"
    if isinstance(exc, SettingsError) or isinstance(exc, ValueError) and str(exc).startswith("KPI_"):
        return f"configuration: {exc}"
    text = str(exc)
    lowered = text.lower()
    where = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL or any(t in lowered for t in _DISK_FULL_TEXT):
        space = free_space(Path(where) if where else data_dir) if (where or data_dir) else ""
        if not where and _is_sqlite(exc):
            where = f"the Dagster instance or the alert outbox (SQLite files in {data_dir or 'the data folder'})"
        return (f"disk full: no space left on the device writing {where or _path_in(text) or 'the data folder'}"
                f"{' (' + space + ')' if space else ''}: free some space (e.g. lower KPI_SERVING_KEEP or "
                "KPI_REPORTS_KEEP) and run again")
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE or (
            isinstance(exc, sqlite3.OperationalError | PermissionError) and any(t in lowered for t in _NOT_WRITABLE_TEXT)):
        return (f"cannot write {where or _path_in(text) or data_dir or 'the data folder'}: "
                f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else text} — the data folder "
                "(KPI_DATA_DIR) must be writable by the user running kpi")
    if _is_duckdb_io(exc) and any(t in lowered for t in _NOT_WRITABLE_TEXT):
        return f"cannot write the DuckDB file: {text.splitlines()[0]} — the data folder must be writable"
    return None


def disk_full_hint(message: str, data_dir: Path | None) -> str:
    """' (disk full? 0.0 GB free on /srv/kpi)' when a step's failure message says the disk is full."""
    if not any(t in message.lower() for t in _DISK_FULL_TEXT):
        return ""
    space = free_space(data_dir) if data_dir else ""
    return f" (disk full? {space or 'check the free space of the data folder'})"


def exit_code(exc: BaseException) -> int:
    from pipelines.publish import PublishError
    from pipelines.publish._common import UnknownNight
    from pipelines.publish.scope import UnknownOrgUnit
    from quality.catalog import CatalogError

    if isinstance(exc, CatalogError):
        return EXIT_CATALOG
    if isinstance(exc, UsageError | UnknownNight | UnknownOrgUnit | ValueError):
        return EXIT_USAGE  # a ValueError that gets here is a configuration error (see describe)
    if isinstance(exc, PublishError):
        return EXIT_FAILED
    if isinstance(exc, PermissionError) or isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
        return EXIT_USAGE  # configuration: the data folder must be writable
    return EXIT_FAILED


def _is_duckdb_io(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("duckdb") and "IO" in type(exc).__name__


def _is_sqlite(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) or "sqlalchemy" in type(exc).__module__


def _path_in(text: str) -> str | None:
    """A quoted or absolute file path in a message (DuckDB names files that way); not a URL."""
    import re

    match = re.search(r'"(/[^"/][^"]*)"', text) or re.search(r"'(/[^'/][^']*)'", text) or \
        re.search(r"(?<![\w:/.])(/[\w.-]+(?:/[\w.-]+)+)", text)
    return match.group(1) if match else None
