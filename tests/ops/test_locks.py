"""One writer for the warehouse across processes (``pipelines.locks.warehouse_lock``), on real DuckDB files.

DuckDB allows one read-write process per file; a second one fails with "Could not set lock on file".
Every pipeline step that opens the private warehouse does so inside ``warehouse_lock``, so a second
writer waits instead. These tests run writer processes against one file (fast; the pipeline-level
version is test_runs.py::test_two_writers_at_once_both_succeed_one_after_the_other).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.ops.conftest import REPO


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.ops._runner", "-", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, result: Path) -> dict:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0 and result.exists(), out
    return json.loads(result.read_text(encoding="utf-8"))


def test_without_the_lock_a_second_writer_crashes_on_duckdbs_lock(tmp_path: Path) -> None:
    """The hazard the lock exists for (so the tests below would notice a missing lock)."""
    db = tmp_path / "warehouse.duckdb"
    procs = [_start("lock-write", str(db), str(tmp_path / f"{i}.json"), "3", "--no-lock") for i in (1, 2)]
    records = [_finish(p, tmp_path / f"{i}.json") for i, p in zip((1, 2), procs, strict=True)]
    errors = [r["error"] for r in records if r["error"]]
    assert len(errors) == 1 and "Could not set lock" in errors[0], records


def test_two_writers_under_the_lock_both_succeed_one_after_the_other(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    procs = [_start("lock-write", str(db), str(tmp_path / f"{i}.json"), "3") for i in (1, 2)]
    first, second = sorted((_finish(p, tmp_path / f"{i}.json") for i, p in zip((1, 2), procs, strict=True)),
                           key=lambda r: r["entered"])
    assert first["error"] is None and second["error"] is None, (first, second)
    assert first["left"] <= second["entered"]
    assert second["asked"] < first["left"]  # they really did compete …
    assert second["waits"] == [f"waiting for another writer of {db} to finish"]  # … and the second waited
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select pid, what from writes order by written_at").fetchall() == [
            (first["pid"], "start"), (first["pid"], "end"), (second["pid"], "start"), (second["pid"], "end")]


def test_the_lock_waits_for_a_process_outside_it_that_still_has_the_file_open(tmp_path: Path) -> None:
    """A run killed with SIGKILL releases the OS lock, but its dbt subprocess lives on with the file
    open: the next writer must wait for it rather than crash on DuckDB's lock."""
    db = tmp_path / "warehouse.duckdb"
    ready = tmp_path / "ready"
    orphan = _start("hold-open", str(db), str(ready), "4", str(tmp_path / "orphan.json"))
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and orphan.poll() is None, orphan.communicate()[0]
        time.sleep(0.05)
    writer = _start("lock-write", str(db), str(tmp_path / "writer.json"), "0.5")
    record = _finish(writer, tmp_path / "writer.json")
    closed = _finish(orphan, tmp_path / "orphan.json")["closed"]
    assert record["error"] is None, record
    assert record["entered"] >= closed
    assert len(record["waits"]) == 1 and "outside the writer lock" in record["waits"][0], record
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from orphan").fetchone()[0] == 1  # the orphan's write survived


def test_the_run_summary_reads_the_warehouse_only_under_the_lock(tmp_path: Path) -> None:
    """A run's summary reads its freshness warnings from the private warehouse after the run. A plain
    read-only open there would collide with another process's writer: it waits for the lock instead,
    and gives up with a message (not silence, not a DuckDB lock error) when the writer holds on."""
    from pipelines.orchestration.runner import data_warnings

    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.dq_check_results (asset varchar, check_name varchar, message varchar, "
                    "status varchar, dagster_run_id varchar)")
        con.execute("insert into marts.dq_check_results values "
                    "('raw/erp/orders', 'freshness', 'rule: 3 days late', 'failed', 'r1'), "
                    "('raw/erp/orders', 'freshness', 'rule: on time', 'passed', 'r1'), "
                    "('raw/hr/employees', 'data_horizon', 'ends 2025-01-01', 'failed', 'r0')")
    writer = _start("lock-write", str(db), str(tmp_path / "writer.json"), "4")
    deadline = time.monotonic() + 60
    lock_file = Path(f"{db}.lock")  # the holder writes its pid into it
    while not (lock_file.exists() and lock_file.read_text() == str(writer.pid)):
        assert time.monotonic() < deadline and writer.poll() is None, writer.communicate()[0]
        time.sleep(0.05)
    blocked = data_warnings(db, "r1", wait_s=0.5)
    assert len(blocked) == 1 and blocked[0].startswith("freshness and data-horizon results not read"), blocked
    waited = data_warnings(db, "r1", wait_s=60)  # the writer lets go after ~4 s
    assert _finish(writer, tmp_path / "writer.json")["error"] is None
    assert waited == ["raw/erp/orders: 3 days late"]

