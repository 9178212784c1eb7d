"""Child-process entry point of the operations tests: the real pipeline, bound to a private dbt project.

    python -m tests.ops._runner <dbt project copy> prepare
    python -m tests.ops._runner <dbt project copy> cli <kpi arguments…>          # exits with kpi's code
    python -m tests.ops._runner <dbt project copy> nightly <result.json> --start D --end D --as-of D
    python -m tests.ops._runner <dbt project copy> nightly <result.json> --partition D [--partition D …] [--as-of D]
    python -m tests.ops._runner <dbt project copy> nightly <result.json> --writers-only [--dbt-model K …]
    python -m tests.ops._runner - read-loop <serving file> <stop file> <result.json>
    python -m tests.ops._runner - lock-write <database> <result.json> <hold seconds> [--no-lock]
    python -m tests.ops._runner - hold-open <database> <ready file> <hold seconds> <result.json>

Every pipeline command runs in a fresh interpreter whose environment (``KPI_DATA_DIR``, …) the test
sets, so each one sees its own data folder, Dagster instance and settings. The dbt project is a copy
taken at the start of the session (``copy_project`` in conftest.py): other engineers edit the repo's
models while the tests run, and a model added after the manifest was loaded would break a run
half-way (dagster-dbt cannot map its events). The copy is bound as any deployment binds its project:
the setting ``KPI_DBT_PROJECT_DIR``; the code that runs is the repository's.

``nightly`` is ``pipelines.orchestration.runner.run_nightly`` (what ``kpi run`` / ``kpi backfill`` call): one
range run, or one run per ``--partition`` day (as-of = ``--as-of``, else that day) one after the other in this
process. With ``--writers-only`` it executes the same job restricted
to the assets that write the private warehouse or publish from it (dbt build — optionally a subset of
its models —, serving copy, alerts): the two-writers test. The result file lists, per run, the
outcome plus, from the run's event log, step start/end times and the writer-lock waits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.orchestration.runner import RunOutcome

#: Marts a reader checks; all are tables the pipeline always publishes.
READ_SQL = """
SELECT
    (SELECT list(DISTINCT run_id) FROM marts._publish_info)                       AS run_ids,
    (SELECT count(*) FROM marts.kpi_actuals)                                      AS actuals_rows,
    (SELECT row_count FROM marts._publish_info WHERE table_name = 'kpi_actuals')  AS actuals_recorded,
    (SELECT count(*) FROM marts.kpi_attainment)                                   AS attainment_rows,
    (SELECT row_count FROM marts._publish_info WHERE table_name = 'kpi_attainment') AS attainment_recorded,
    (SELECT count(*) FROM marts.fct_orders)                                       AS orders_rows,
    (SELECT row_count FROM marts._publish_info WHERE table_name = 'fct_orders')   AS orders_recorded,
    (SELECT coalesce(sum(hash(kpi_id, org_unit_id, grain, period_start, actual_value)), 0)::VARCHAR
       FROM marts.kpi_actuals)                                                    AS actuals_checksum,
    (SELECT coalesce(sum(hash(order_id)), 0)::VARCHAR FROM marts.fct_orders)      AS orders_checksum,
    (SELECT max(as_of_date) FROM marts._publish_info)                             AS as_of_date
"""


def bind_project(project: Path) -> None:
    """Point the pipeline at ``project`` (a dbt project copy) before the settings are first read."""
    import os

    os.environ["KPI_DBT_PROJECT_DIR"] = str(project)


def _iso(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _event_log(instance, run_id: str) -> dict:
    """Step start/end (epoch seconds) and the writer-lock waits of one run, from its event log."""
    steps: dict[str, dict[str, float]] = {}
    waits: list[str] = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            if "waiting for another writer" in (entry.user_message or ""):
                waits.append(f"{entry.step_key}: {entry.user_message}")
            continue
        if event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            kind = "start" if event.event_type_value == "STEP_START" else "end"
            steps.setdefault(event.step_key or "?", {})[kind] = entry.timestamp
    return {"steps": steps, "lock_waits": waits}


def _writers_only(as_of: date | None, dbt_models: list[str]) -> RunOutcome:
    """The nightly job restricted to the warehouse writers: dbt build (optionally only ``dbt_models``,
    e.g. ``marts/dim_date``), serving copy, alerts."""
    import dagster as dg

    from pipelines.orchestration.assets.serving import ALERTS_KEY, SERVING_KEY
    from pipelines.orchestration.runner import definitions, run_nightly
    from pipelines.settings import get_settings

    dbt_build = definitions(get_settings()).resolve_assets_def(dg.AssetKey(["marts", "kpi_actuals"]))
    dbt_keys = [dg.AssetKey(m.split("/")) for m in dbt_models] if dbt_models else list(dbt_build.keys)
    return run_nightly(as_of=as_of, asset_selection=[*dbt_keys, SERVING_KEY, ALERTS_KEY])


def _record(outcome: RunOutcome) -> dict:
    from pipelines.orchestration.runner import instance

    return {
        "run_id": outcome.run_id,
        "success": outcome.success,
        "exit_code": outcome.exit_code,
        "seconds": outcome.seconds,
        "summary": outcome.summary(),
        "failed_steps": outcome.failed_steps,
        "failed_blocking_checks": outcome.failed_blocking_checks,
        "abandoned_runs": outcome.abandoned_runs,
        **_event_log(instance(), outcome.run_id),
    }


def cmd_nightly(argv: list[str]) -> int:
    """One range run (--start/--end), one run per --partition (in order, in this one process), or
    one --writers-only run; the result file lists the outcome of every run."""
    parser = argparse.ArgumentParser(prog="nightly")
    parser.add_argument("result")
    parser.add_argument("--partition", action="append", default=[])
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--as-of", help="as-of date of the run(s) (single days without it: the day itself)")
    parser.add_argument("--writers-only", action="store_true")
    parser.add_argument("--dbt-model", action="append", default=[], help="with --writers-only: dbt subset")
    args = parser.parse_args(argv)

    from pipelines.orchestration.runner import run_nightly

    records: list[dict] = []
    if args.writers_only:
        outcomes = [_writers_only(_iso(args.as_of), args.dbt_model)]
    elif args.partition:
        outcomes = []
        for day in map(date.fromisoformat, args.partition):
            outcomes.append(run_nightly(partition=day, as_of=_iso(args.as_of) or day))
            print(outcomes[-1].summary(), flush=True)
    else:
        outcomes = [run_nightly(start=_iso(args.start), end=_iso(args.end), as_of=_iso(args.as_of))]
    for outcome in outcomes:
        print(outcome.summary(), flush=True)
        records.append(_record(outcome))
    Path(args.result).write_text(json.dumps(records, indent=2), encoding="utf-8")
    return 0


def cmd_read_loop(serving_file: str, stop_file: str, result: str) -> int:
    """Open the serving copy read-only, read, close — again and again until ``stop_file`` exists."""
    import duckdb

    reads: list[dict] = []
    errors: list[str] = []
    stop = Path(stop_file)
    while not stop.exists():
        time.sleep(0.2)
        try:
            con = duckdb.connect(serving_file, read_only=True)
            try:
                row = con.execute(READ_SQL).fetchone()
                names = [d[0] for d in con.description]
            finally:
                con.close()
        except Exception as exc:  # every failure counts (a missing file too): the test asserts none
            errors.append(repr(exc))
            continue
        read = dict(zip(names, row, strict=True))
        read["run_ids"] = sorted(read["run_ids"])
        read["as_of_date"] = str(read["as_of_date"])
        read["at"] = time.time()
        reads.append(read)
    Path(result).write_text(json.dumps({"reads": reads, "errors": errors}), encoding="utf-8")
    return 0


def cmd_lock_write(database: str, result: str, hold_s: str, *flags: str) -> int:
    """Write ``database`` with DuckDB for ``hold_s`` seconds — under ``warehouse_lock`` unless
    ``--no-lock`` — and record when the lock was asked for, taken and released, and any error."""
    import os

    import duckdb

    from pipelines.locks import warehouse_lock

    record: dict = {"pid": os.getpid(), "asked": time.time(), "waits": [], "error": None}

    def write() -> None:
        record["entered"] = time.time()
        con = duckdb.connect(database)
        try:
            con.execute("create table if not exists writes (pid integer, written_at double, what varchar)")
            con.execute("insert into writes values (?, ?, 'start')", [os.getpid(), time.time()])
            time.sleep(float(hold_s))
            con.execute("insert into writes values (?, ?, 'end')", [os.getpid(), time.time()])
        finally:
            con.close()
        record["left"] = time.time()

    try:
        if "--no-lock" in flags:
            write()
        else:
            with warehouse_lock(Path(database), timeout_s=120, on_wait=record["waits"].append):
                write()
    except Exception as exc:
        record["error"] = repr(exc)
    Path(result).write_text(json.dumps(record), encoding="utf-8")
    return 0


def cmd_hold_open(database: str, ready: str, hold_s: str, result: str) -> int:
    """Keep ``database`` open read-write for ``hold_s`` seconds WITHOUT the writer lock — what an
    orphaned dbt of a killed run does; ``ready`` is created once the file is open."""
    import duckdb

    con = duckdb.connect(database)
    con.execute("create table if not exists orphan as select 1 as x")
    Path(ready).touch()
    time.sleep(float(hold_s))
    closed = time.time()
    con.close()
    Path(result).write_text(json.dumps({"closed": closed}), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    project, command, *rest = argv
    if command == "read-loop":
        return cmd_read_loop(*rest)
    if command == "lock-write":
        return cmd_lock_write(*rest)
    if command == "hold-open":
        return cmd_hold_open(*rest)
    bind_project(Path(project))
    if command == "prepare":
        from pipelines.orchestration.dbt_project import prepare_dbt_project
        from pipelines.settings import get_settings

        settings = get_settings()
        prepare_dbt_project(settings.dbt_project_dir, settings.catalog_dir, progress=lambda m: print(m, flush=True))
        return 0
    if command == "cli":
        from pipelines.cli import main as kpi

        return kpi(rest)
    if command == "nightly":
        return cmd_nightly(rest)
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
