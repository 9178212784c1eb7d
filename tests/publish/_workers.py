"""Code run in child processes by the publish tests (importable by multiprocessing's spawn)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

#: One statement that reads every table; a consistent snapshot yields exactly one run id.
CHECK_SQL = """
SELECT list(DISTINCT run_id ORDER BY run_id) AS run_ids, sum(checksum) AS checksum FROM (
    SELECT build_run_id AS run_id, count(*) AS checksum FROM marts.dim_employee GROUP BY ALL
    UNION ALL SELECT build_run_id, count(*) FROM marts.dim_org_unit GROUP BY ALL
    UNION ALL SELECT build_run_id, sum(actual_value)::BIGINT FROM marts.kpi_attainment GROUP BY ALL
    UNION ALL SELECT build_run_id, count(*) FROM marts.kpi_checkins GROUP BY ALL
    UNION ALL SELECT build_run_id, count(*) FROM marts.kpi_definitions GROUP BY ALL
    UNION ALL SELECT build_run_id, sum(event_id)::BIGINT FROM marts.fct_big GROUP BY ALL
    UNION ALL SELECT run_id, max(row_count) FROM marts._publish_info GROUP BY ALL
)
"""


def read_serving_copy_in_a_loop(serving_file: str, stop, results) -> None:
    """Open the serving copy read-only again and again until ``stop`` is set; report what was seen."""
    reads = errors = mixed = 0
    seen: set[str] = set()
    messages: list[str] = []
    while not stop.is_set():
        try:
            con = duckdb.connect(serving_file, read_only=True)
            try:
                run_ids, _checksum = con.execute(CHECK_SQL).fetchall()[0]
            finally:
                con.close()
        except Exception as exc:  # every failure counts; the test asserts there are none
            errors += 1
            if len(messages) < 5:
                messages.append(repr(exc))
            continue
        reads += 1
        if len(run_ids) != 1:
            mixed += 1
            if len(messages) < 5:
                messages.append(f"mixed runs in one read: {run_ids}")
        seen.update(run_ids)
        time.sleep(0.002)
    results.put({"reads": reads, "errors": errors, "mixed": mixed, "seen": sorted(seen), "messages": messages})


def stray_writer_main(argv: list[str]) -> None:
    """``python -m tests.publish._workers stray <database> <dir>``: what a SQL client opened READ-WRITE on
    the serving copy does. Opens it, writes (a WAL appears), creates ``<dir>/ready``; once ``<dir>/go``
    exists, CHECKPOINTs (the WAL is gone) and writes again (a new WAL is created — DuckDB names it
    after the file it opened), creates ``<dir>/done`` and keeps the database open until ``<dir>/stop``."""
    database, folder = argv[0], Path(argv[1])
    con = duckdb.connect(database)
    con.execute("CREATE TABLE IF NOT EXISTS main.scratch (i INTEGER)")
    con.execute("INSERT INTO main.scratch VALUES (1)")
    (folder / "ready").touch()
    while not (folder / "go").exists():
        time.sleep(0.02)
    con.execute("CHECKPOINT")
    con.execute("INSERT INTO main.scratch VALUES (2)")
    (folder / "done").touch()
    deadline = time.time() + 120
    while not (folder / "stop").exists() and time.time() < deadline:
        time.sleep(0.02)
    con.close()


def publish_main(argv: list[str]) -> None:
    """``python -m tests.publish._workers <warehouse> <serving_dir> <run_id>``: one publish."""
    from pipelines.publish import publish_duckdb

    warehouse, serving_dir, run_id = argv
    print("starting", flush=True)
    publish_duckdb(Path(warehouse), Path(serving_dir), run_id=run_id, keep=3)
    print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["stray"]:
        stray_writer_main(sys.argv[2:])
    else:
        publish_main(sys.argv[1:])
