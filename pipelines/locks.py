"""One writer for the warehouse, across processes.

DuckDB allows one read-write process per file. Dagster's own pool (``pool="warehouse"``) keeps
runs on one instance from overlapping, but the CLI, a second instance or a developer's ``dbt run``
are outside its reach, so every step that writes the private warehouse also takes an exclusive OS
file lock beside it. A second writer waits (with a message) instead of crashing on DuckDB's lock.

The OS lock dies with its holder, but not always with the holder's children: when a run is killed
with SIGKILL (OOM killer, ``kill -9``) during its dbt step, the dbt subprocess lives on as an orphan
and keeps the DuckDB file open until its build ends. So after taking the lock we also wait until no
other process holds DuckDB's own lock on the file (that open also replays a killed writer's WAL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

WAREHOUSE_POOL = "warehouse"


@contextmanager
def warehouse_lock(
    warehouse_path: Path,
    *,
    timeout_s: float = 6 * 3600,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse_path`` for the duration of the block."""
    lock_path = Path(f"{warehouse_path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # an OS lock (flock) on the lock file; the holder's pid is written into it for whoever looks
    lock = FileLock(lock_path, poll_interval=0.2, fallback_to_soft=False, preserve_lock_file=True,
                    on_acquired=_write_pid)
    deadline = time.monotonic() + timeout_s
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(f"waiting for another writer of {warehouse_path} to finish")
        try:
            lock.acquire(timeout=max(deadline - time.monotonic(), 0))
        except Timeout:
            raise TimeoutError(
                f"{warehouse_path} is still locked by another writer after {timeout_s:.0f} s "
                f"(lock file {lock_path})"
            ) from None
    try:
        _wait_until_duckdb_released(warehouse_path, deadline, timeout_s, on_wait)
        yield
    finally:
        lock.release()


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())


def _wait_until_duckdb_released(
    warehouse_path: Path, deadline: float, timeout_s: float, on_wait: Callable[[str], None] | None
) -> None:
    """Wait while a process outside our lock (an orphaned dbt of a killed run) has the file open."""
    announced = False
    while Path(warehouse_path).exists():
        try:
            duckdb.connect(str(warehouse_path)).close()
            return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"{warehouse_path} is still open in another process after "
                                   f"{timeout_s:.0f} s: {exc}") from None
            if not announced and on_wait is not None:
                on_wait(f"waiting for a process outside the writer lock to close {warehouse_path}: {exc}")
                announced = True
            time.sleep(1.0)
