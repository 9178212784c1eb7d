"""A client that opens the serving copy READ-WRITE (a SQL tool left at its default) cannot break it.

DuckDB names a database's write-ahead log after the file it opened. With one file name for every
night (``kpi.duckdb`` replaced in place), such a client recreated ``kpi.duckdb.wal`` beside the next
night's file after that night was swapped in, and every later open failed with "WAL does not match
database file" (issue 16, item 4). The first test reproduces that with plain DuckDB; the second shows
that a publish (one file per night, ``kpi.duckdb`` a link switched atomically) is immune: the stray
WAL lands beside the night the client opened, the current night opens, Parquet exports, and a
roll-back to the night the client changed is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import PublishError, export_parquet, publish_duckdb, rollback
from tests.publish._synthetic import build_warehouse

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def stray_writer(database: Path, folder: Path) -> Iterator[subprocess.Popen]:
    """A real process holding ``database`` open read-write (tests/publish/_workers.py: stray)."""
    folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tests.publish._workers", "stray", str(database), str(folder)],
                            cwd=REPO_ROOT)
    try:
        _wait_for(folder / "ready", proc)
        yield proc
    finally:
        (folder / "stop").touch()
        proc.wait(timeout=60)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while not path.exists():
        assert proc.poll() is None, f"the stray writer ended early (exit {proc.returncode})"
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def _open_many(path: Path, times: int = 20) -> tuple[list[str], list[str]]:
    """(build_run_id seen by each successful read-only open, error messages)."""
    seen, errors = [], []
    for _ in range(times):
        try:
            con = duckdb.connect(str(path), read_only=True)
            try:
                seen.append(con.execute("SELECT DISTINCT build_run_id FROM marts.fct_big").fetchone()[0])
            finally:
                con.close()
        except duckdb.Error as exc:
            errors.append(str(exc))
    return seen, errors


def test_plain_duckdb_a_stray_writer_breaks_a_file_replaced_in_place(tmp_path: Path) -> None:
    """The mechanism, with nothing of ours: replace a DuckDB file in place while another process has
    it open read-write; once that process checkpoints and writes, the new file cannot be opened."""
    live = tmp_path / "kpi.duckdb"
    build_warehouse(live, "night-1")
    with stray_writer(live, tmp_path / "stray") as proc:
        replacement = tmp_path / "new.duckdb"
        build_warehouse(replacement, "night-2")
        Path(f"{live}.wal").unlink(missing_ok=True)
        os.replace(replacement, live)  # the one-file layout's swap
        (tmp_path / "stray" / "go").touch()
        _wait_for(tmp_path / "stray" / "done", proc)
        assert Path(f"{live}.wal").exists()  # recreated beside the NEW file
        seen, errors = _open_many(live)
    assert seen == [] and len(errors) == 20
    assert "WAL does not match database file" in errors[0]


def test_a_stray_read_write_client_cannot_break_the_published_copy(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    live = serving_dir / "kpi.duckdb"
    with stray_writer(live, serving_dir.parent / "stray") as proc:
        build_warehouse(warehouse, "run-2")
        result = publish_duckdb(warehouse, serving_dir, run_id="run-2")
        (serving_dir.parent / "stray" / "go").touch()
        _wait_for(serving_dir.parent / "stray" / "done", proc)
        # the stray WAL belongs to the night the client opened, not to the link nor to the new night
        assert (serving_dir / "nights" / "kpi-run-1.duckdb.wal").exists()
        assert not (serving_dir / "kpi.duckdb.wal").exists()
        assert not (serving_dir / "nights" / "kpi-run-2.duckdb.wal").exists()
        seen, errors = _open_many(live)
        assert errors == [] and seen == ["run-2"] * 20
        # the steps after the publish (Parquet, reports) read the new night while the client is still there
        exported = export_parquet(live, serving_dir / "parquet")
        assert exported["fct_big"]["rows"] == 1000
        part = str(serving_dir / "parquet" / "fct_big" / "part-0.parquet")
        assert duckdb.execute("SELECT DISTINCT build_run_id FROM read_parquet(?)", [part]).fetchall() == [("run-2",)]
        # the night the client wrote into is no longer a faithful copy: roll-back refuses it, by name
        with pytest.raises(PublishError, match=r"night run-1 .* write-ahead log"):
            rollback(serving_dir)
    assert result.kept == ["run-1", "run-2"]
    assert _open_many(live, 3) == (["run-2"] * 3, [])
