"""Helpers shared by the publish targets: results, identifier quoting, locks, atomic files, URL masking."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Run ids end up in file and schema names: keep them to a portable alphabet.
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SIMPLE_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: Schemas that hold private build layers: never copied to a serving target.
PRIVATE_SCHEMAS = frozenset({"raw", "staging", "intermediate", "main", "lake_meta", "snapshots"})


class PublishError(RuntimeError):
    """A publish step failed; the message names the file, table or schema involved (never a secret)."""


class UnknownNight(PublishError):
    """The night asked for is not a kept night (or names several)."""


@dataclass(frozen=True)
class PublishResult:
    """What one publish wrote. Safe to log or attach as Dagster metadata: it holds no secret."""

    target: str  # "duckdb" | "postgres"
    run_id: str
    location: str  # the serving file, or the masked PostgreSQL URL + schema
    tables: dict[str, int]  # table -> rows
    duration_seconds: float
    masked_columns: list[str] = field(default_factory=list)  # "table.column"
    kept: list[str] = field(default_factory=list)  # run ids available for roll-back
    removed: list[str] = field(default_factory=list)  # pruned copies / stale temp files and schemas
    notes: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_rows"] = self.total_rows
        return data


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ValueError(
            f"run_id {run_id!r} is not valid: use 1-100 characters of letters, digits, '_', '.', '-' "
            "(it becomes part of a file name)"
        )
    return run_id


def check_identifier(name: str, what: str) -> str:
    """A schema / role name given by the caller: a plain SQL identifier, nothing to escape."""
    if not isinstance(name, str) or not _SIMPLE_IDENT.match(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier (letters, digits, '_'; max 63)")
    return name


def quote_ident(name: str) -> str:
    """Quote an identifier read from a catalog (DuckDB and PostgreSQL share the rule)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A string literal for the few statements that take no parameters (``COMMENT ON`` in DuckDB):
    standard SQL quoting (quotes doubled; backslashes are not escapes in DuckDB); NULs dropped."""
    return "'" + str(text).replace("\x00", "").replace("'", "''") + "'"


def switch_link(link: Path, target: str) -> None:
    """Make ``link`` a symbolic link to ``target`` (relative to the link's folder) in one atomic step.

    A new link is made under a temp name and renamed over ``link``: a reader resolving ``link`` sees
    the old target or the new one, never no link. ``link`` may be a plain file (the one-file layout)
    or a link; a real folder is exchanged with the new link (Linux renameat2) and then removed.
    """
    tmp = link.with_name(f".tmp-link-{link.name}-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    try:
        if link.is_dir() and not link.is_symlink():
            if not exchange_paths(tmp, link):
                old = link.with_name(f".tmp-old-{link.name}-{os.getpid()}")
                os.rename(link, old)
                os.rename(tmp, link)
                tmp = old
            shutil.rmtree(tmp, ignore_errors=True)  # `tmp` now holds the old folder
        else:
            os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_symlink():
                tmp.unlink()
        raise
    fsync_dir(link.parent)


def mask_url(url: str | None) -> str:
    """A URL or libpq conninfo with its password (and any webhook token path/query) hidden.

    ``postgresql+psycopg://kpi:s3cret@db:5432/kpi`` -> ``postgresql+psycopg://kpi:***@db:5432/kpi``.
    """
    if not url:
        return ""
    text = str(url)
    if "://" not in text:  # key=value conninfo
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = re.sub(r"(password=)[^&]*", r"\1***", parts.query, flags=re.IGNORECASE)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(message: str, secrets: list[str | None]) -> str:
    """Remove every occurrence of the given secret strings from a message."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """One publisher per directory. A killed holder releases the lock (the kernel closes its fd)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every filesystem
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


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
