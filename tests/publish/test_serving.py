from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import PublishError, publish_duckdb, published_copies, rollback
from tests.publish._synthetic import MART_TABLES, build_warehouse
from tests.publish._workers import CHECK_SQL, read_serving_copy_in_a_loop

REPO_ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _all_text(path: Path) -> str:
    """Every value of every text column in the file, concatenated (to search for leaks)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for schema, table in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall():
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()  # noqa: S608
            out.append(repr(rows))
        return "\n".join(out)
    finally:
        con.close()


def test_serving_copy_holds_only_the_marts(warehouse: Path, serving_dir: Path) -> None:
    result = publish_duckdb(warehouse, serving_dir, run_id="run-1", as_of_date=date(2025, 11, 19))

    live = serving_dir / "kpi.duckdb"
    schemas = {r[0] for r in _read(live, "SELECT DISTINCT table_schema FROM information_schema.tables")}
    assert schemas == {"marts"}
    tables = {r[0] for r in _read(live, "SELECT table_name FROM information_schema.tables")}
    assert tables == {*MART_TABLES, "v_unit_summary", "_publish_info"}
    # the view became a table: it cannot point back into the private file
    kinds = dict(_read(live, "SELECT table_name, table_type FROM information_schema.tables"))
    assert kinds["v_unit_summary"] == "BASE TABLE"
    assert "secret-salary-1" not in _all_text(live)  # raw data never leaves the warehouse

    assert result.tables["fct_big"] == 1000
    assert result.tables["kpi_attainment"] == 36
    info = _read(live, "SELECT table_name, row_count, run_id, as_of_date FROM marts._publish_info ORDER BY 1")
    assert {r[0]: r[1] for r in info} == result.tables
    assert {(r[2], r[3]) for r in info} == {("run-1", date(2025, 11, 19))}
    # the night's file is complete on its own (no WAL beside it) and read-only; kpi.duckdb points at it
    assert sorted(p.relative_to(serving_dir).as_posix() for p in serving_dir.rglob("*")
                  if not p.name.startswith(".publish")) == [
        "kpi.duckdb", "nights", "nights/kpi-run-1.duckdb", "publishes.json",
    ]
    assert os.readlink(live) == "nights/kpi-run-1.duckdb"
    assert (serving_dir / "nights" / "kpi-run-1.duckdb").stat().st_mode & 0o777 == 0o444


def test_person_names_are_masked_by_default(warehouse: Path, serving_dir: Path) -> None:
    result = publish_duckdb(
        warehouse, serving_dir, run_id="run-1", pii_columns=[("marts.kpi_checkins", "author"), ("stg_x", "name")]
    )
    live = serving_dir / "kpi.duckdb"
    employees = _read(live, "SELECT employee_id, full_name, full_name_zh, email, job_title FROM marts.dim_employee ORDER BY 1")
    assert employees[2] == (
        "E00123", "Employee E00123", "员工 E00123", "employee-e00123@masked.invalid", "Team lead",
    )
    assert employees[3][2:4] == (None, None)  # NULL stays NULL
    text = _all_text(live)
    for name in ("Alice Wang", "王爱丽", "alice.wang@acme.example", "Carol Zhang", "O'Brien"):
        assert name not in text
    authors = [r[0] for r in _read(live, "SELECT author FROM marts.kpi_checkins ORDER BY org_unit_id DESC")]
    assert authors[0].startswith("masked-") and authors[1] is None
    assert "marts.kpi_checkins.author" in result.masked_columns
    assert "marts.dim_employee.full_name" in result.masked_columns

    # stable: the same value gets the same pseudonym in the next publish
    publish_duckdb(warehouse, serving_dir, run_id="run-2", pii_columns=[("kpi_checkins", "author")])
    assert _read(live, "SELECT author FROM marts.kpi_checkins ORDER BY org_unit_id DESC")[0][0] == authors[0]
    # a salt changes it (a dictionary of names cannot reverse it without the salt)
    publish_duckdb(
        warehouse, serving_dir, run_id="run-3", pii_columns=[("kpi_checkins", "author")], pseudonym_salt="s3"
    )
    assert _read(live, "SELECT author FROM marts.kpi_checkins ORDER BY org_unit_id DESC")[0][0] != authors[0]


def test_masking_is_disabled_by_the_flag(warehouse: Path, serving_dir: Path) -> None:
    result = publish_duckdb(
        warehouse, serving_dir, run_id="run-1", mask_person_names=False, pii_columns=[("kpi_checkins", "author")]
    )
    live = serving_dir / "kpi.duckdb"
    assert _read(live, "SELECT full_name, email FROM marts.dim_employee WHERE employee_id = 'E00001'") == [
        ("Alice Wang", "alice.wang@acme.example")
    ]
    assert ("Carol Zhang",) in _read(live, "SELECT author FROM marts.kpi_checkins")
    assert result.masked_columns == []


def test_keep_n_copies_and_roll_back(warehouse: Path, serving_dir: Path) -> None:
    for i in range(1, 6):
        build_warehouse(warehouse, f"run-{i}")
        result = publish_duckdb(warehouse, serving_dir, run_id=f"run-{i}", keep=2)
    assert result.kept == ["run-4", "run-5"]
    assert sorted(p.name for p in serving_dir.glob("nights/kpi-*.duckdb")) == ["kpi-run-4.duckdb", "kpi-run-5.duckdb"]
    manifest = json.loads((serving_dir / "publishes.json").read_text())
    assert manifest["current"] == "run-5" and [e["run_id"] for e in manifest["history"]] == ["run-4", "run-5"]

    live = serving_dir / "kpi.duckdb"
    assert rollback(serving_dir) == "run-4"
    assert _read(live, "SELECT DISTINCT build_run_id FROM marts.fct_big") == [("run-4",)]
    assert published_copies(serving_dir)["current"] == "run-4"
    with pytest.raises(PublishError, match="oldest kept copy"):
        rollback(serving_dir)
    assert rollback(serving_dir, to="run-5") == "run-5"
    assert _read(live, "SELECT DISTINCT build_run_id FROM marts.fct_big") == [("run-5",)]
    with pytest.raises(PublishError, match=r"night 'run-1' is not a kept night \(kept: run-4, run-5\)"):
        rollback(serving_dir, to="run-1")


def test_rollback_restores_the_previous_content(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="good")
    build_warehouse(warehouse, "bad", big_rows=7)
    publish_duckdb(warehouse, serving_dir, run_id="bad")
    live = serving_dir / "kpi.duckdb"
    assert _read(live, "SELECT count(*) FROM marts.fct_big") == [(7,)]
    assert rollback(serving_dir) == "good"
    assert _read(live, "SELECT count(*), min(build_run_id) FROM marts.fct_big") == [(1000, "run-1")]
    assert _read(live, "SELECT DISTINCT run_id FROM marts._publish_info") == [("good",)]


def test_a_reader_keeps_its_snapshot_and_the_next_connection_sees_the_new_run(
    warehouse: Path, serving_dir: Path
) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    live = serving_dir / "kpi.duckdb"
    holder = duckdb.connect(str(live), read_only=True)  # a BI tool holding the file open
    try:
        build_warehouse(warehouse, "run-2")
        publish_duckdb(warehouse, serving_dir, run_id="run-2")  # not blocked by the reader
        assert holder.execute("SELECT DISTINCT build_run_id FROM marts.fct_big").fetchall() == [("run-1",)]
        # another process connecting now gets the new file
        seen = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
             "print(c.execute('SELECT DISTINCT build_run_id FROM marts.fct_big').fetchall()[0][0])", str(live)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert seen == "run-2"
    finally:
        holder.close()
    # DuckDB shares one open database per file within a process: once every connection of this
    # process is closed, the next one opens the new file (BI tools: reconnect to see a new night)
    assert _read(live, "SELECT DISTINCT build_run_id FROM marts.fct_big") == [("run-2",)]


def test_bad_input_is_refused_with_a_clear_message(warehouse: Path, serving_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="private build layers"):
        publish_duckdb(warehouse, serving_dir, run_id="r", schemas=("marts", "staging"))
    with pytest.raises(ValueError, match="run_id 'a/b'"):
        publish_duckdb(warehouse, serving_dir, run_id="a/b")
    with pytest.raises(PublishError, match="does not exist"):
        publish_duckdb(tmp_path / "missing.duckdb", serving_dir, run_id="r")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(PublishError, match="schema 'marts' has no tables"):
        publish_duckdb(empty, serving_dir, run_id="r")
    assert not (serving_dir / "kpi.duckdb").exists()
    assert not list(serving_dir.glob("**/.tmp-*"))


def test_a_wal_left_by_a_read_write_opener_is_not_replayed_on_the_new_copy(
    warehouse: Path, serving_dir: Path
) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    (serving_dir / "kpi.duckdb.wal").write_bytes(b"garbage from someone who opened it read-write")
    build_warehouse(warehouse, "run-2")
    result = publish_duckdb(warehouse, serving_dir, run_id="run-2")
    assert any("kpi.duckdb.wal" in note for note in result.notes)
    assert _read(serving_dir / "kpi.duckdb", "SELECT DISTINCT build_run_id FROM marts.fct_big") == [("run-2",)]


@pytest.mark.slow
def test_a_reader_process_never_sees_an_error_or_a_mix_of_two_runs(warehouse: Path, serving_dir: Path) -> None:
    build_warehouse(warehouse, "run-0")
    publish_duckdb(warehouse, serving_dir, run_id="run-0")
    ctx = multiprocessing.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=read_serving_copy_in_a_loop, args=(str(serving_dir / "kpi.duckdb"), stop, results))
    reader.start()
    try:
        time.sleep(1.0)  # let the child import duckdb and start reading
        for i in range(1, 21):
            build_warehouse(warehouse, f"run-{i}", big_rows=20_000 + i)
            publish_duckdb(warehouse, serving_dir, run_id=f"run-{i}", keep=3)
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        report = results.get(timeout=30)
        reader.join(timeout=30)
    assert report["errors"] == 0, report["messages"]
    assert report["mixed"] == 0, report["messages"]
    assert report["reads"] > 20
    assert len(report["seen"]) >= 5, report  # it really read across many publishes
    assert _read(serving_dir / "kpi.duckdb", CHECK_SQL)[0][0] == ["run-20"]


@pytest.mark.slow
def test_a_publish_killed_mid_write_leaves_the_serving_copy_intact(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="good")
    live = serving_dir / "kpi.duckdb"
    build_warehouse(warehouse, "killed", big_rows=30_000_000)

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.publish._workers", str(warehouse), str(serving_dir), "killed"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(serving_dir.glob("nights/.tmp-kpi-killed-*.duckdb*")):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.005)
    time.sleep(0.2)  # well inside CREATE TABLE … AS SELECT of the 30M-row fact
    assert proc.poll() is None, "the publish finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    leftovers = sorted(p.name for p in serving_dir.glob("nights/.tmp-*"))
    assert leftovers, "the kill should have left a half-written temp file"
    # the live copy is untouched and readable
    assert _read(live, "SELECT DISTINCT run_id FROM marts._publish_info") == [("good",)]
    assert _read(live, "SELECT count(*) FROM marts.fct_big") == [(1000,)]
    assert published_copies(serving_dir)["current"] == "good"

    # the next publish needs no manual step and removes the leftovers
    build_warehouse(warehouse, "next")
    result = publish_duckdb(warehouse, serving_dir, run_id="next")
    assert set(leftovers) <= set(result.removed)
    assert not list(serving_dir.glob("**/.tmp-*"))
    assert _read(live, "SELECT DISTINCT run_id FROM marts._publish_info") == [("next",)]
    assert result.kept == ["good", "next"]


def test_published_at_comes_from_now(warehouse: Path, serving_dir: Path) -> None:
    now = datetime(2025, 11, 20, 2, 30, tzinfo=UTC)
    publish_duckdb(warehouse, serving_dir, run_id="run-1", now=now)
    assert _read(serving_dir / "kpi.duckdb", "SELECT DISTINCT published_at FROM marts._publish_info")[0][0] == now


def test_a_corrupt_manifest_does_not_stop_the_next_publish(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    (serving_dir / "publishes.json").write_text("{half a file")
    result = publish_duckdb(warehouse, serving_dir, run_id="run-2")
    assert any("unreadable" in note for note in result.notes)
    assert published_copies(serving_dir)["current"] == "run-2"
    assert sorted(p.name for p in serving_dir.glob("nights/kpi-*.duckdb")) == ["kpi-run-2.duckdb"]
