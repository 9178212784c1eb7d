"""The benchmark's child processes: each measurement runs in its own process, so it has its own peak.

    python -m pipelines.benchmark _nightly --result R.json (--partition D | --start A --end B) [--as-of C] [--assets JSON]
    python -m pipelines.benchmark _sensor --cursor CURSOR.json --result R.json
    python -m pipelines.benchmark _floor|_pandas --lake L --start A --as-of C --timezone TZ --output O.parquet --result R.json

Settings (the data directory, …) come from the environment the parent sets (``KPI_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from .phases import dbt_timing

#: First parts of the asset keys downstream of the warehouse (``--no-publish`` leaves them out).
PUBLISH_GROUPS = ("serving", "reports", "alerts")
CHILDREN = ("_nightly", "_sensor", "_floor", "_pandas")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.benchmark (internal)")
    sub = p.add_subparsers(dest="child", required=True)
    n = sub.add_parser("_nightly")
    n.add_argument("--result", required=True)
    n.add_argument("--partition")
    n.add_argument("--assets", help="JSON list of asset keys ('raw_mes/production_runs'): only these")
    n.add_argument("--no-publish", action="store_true",
                   help="leave out the assets downstream of the warehouse (serving copies, reports, alerts)")
    n.add_argument("--start")
    n.add_argument("--end")
    n.add_argument("--as-of")
    s = sub.add_parser("_sensor")
    s.add_argument("--cursor", required=True)
    s.add_argument("--result", required=True)
    for name in ("_floor", "_pandas"):
        c = sub.add_parser(name)
        for opt in ("--lake", "--start", "--as-of", "--timezone", "--output", "--result"):
            c.add_argument(opt, required=True)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.child == "_nightly":
        return nightly(args)
    if args.child == "_sensor":
        return late_files(args)
    if args.child == "_floor":
        from .floor import floor_actuals

        return actuals(args, floor_actuals)
    from .pandas_twin import pandas_actuals

    return actuals(args, pandas_actuals)


def nightly(args: argparse.Namespace) -> int:
    """One nightly run (range or one partition, optionally only some assets) in this process; step
    times from the event log."""
    t_process = time.time()
    import dagster as dg

    from pipelines.orchestration.jobs import NIGHTLY_JOB
    from pipelines.orchestration.runner import definitions, instance, run_nightly
    from pipelines.settings import get_settings

    definitions(get_settings())  # the code location's load cost, measured on its own
    t_defs = time.time()
    selection = [dg.AssetKey(a.split("/")) for a in json.loads(args.assets)] if args.assets else None
    if args.no_publish:
        job = definitions(get_settings()).resolve_job_def(NIGHTLY_JOB)
        selection = [k for k in (selection or job.asset_layer.executable_asset_keys)
                     if k.path[0] not in PUBLISH_GROUPS]
    if args.partition:
        outcome = run_nightly(partition=date.fromisoformat(args.partition), asset_selection=selection,
                              as_of=date.fromisoformat(args.as_of) if args.as_of else None)
    else:
        outcome = run_nightly(start=date.fromisoformat(args.start), end=date.fromisoformat(args.end),
                              as_of=date.fromisoformat(args.as_of) if args.as_of else None,
                              asset_selection=selection)
    t_done = time.time()
    events = run_events_of(instance(), outcome.run_id)
    dbt_results = None
    target = get_settings().dbt_project_dir / "target"
    for folder in sorted(target.glob(f"warehouse_dbt_assets-{outcome.run_id[:7]}-*")):
        path = folder / "run_results.json"
        if path.exists():
            dbt_results = dbt_timing(json.loads(path.read_text(encoding="utf-8")))
        shutil.rmtree(folder, ignore_errors=True)  # this run's private dbt target folder
    Path(args.result).write_text(json.dumps({
        "run_id": outcome.run_id, "success": outcome.success, "summary": outcome.summary(),
        "t_process": t_process, "t_defs": t_defs, "t_done": t_done, **events, "dbt": dbt_results,
    }, indent=1), encoding="utf-8")
    print(outcome.summary())
    return 0 if outcome.success else 1


def run_events_of(inst, run_id: str) -> dict:  # inst: a DagsterInstance
    """Step start/end times, run-level events, the extraction engine's seconds and the number of
    materialization events per extract step, from a run's event log."""
    steps: dict[str, dict[str, float]] = {}
    run_events: dict[str, float] = {}
    engine: dict[str, float] = {}
    events_per_step: dict[str, int] = {}
    for record in inst.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION" and event.step_key and event.step_key.startswith("raw_"):
            # the extract assets record the engine's own seconds; the rest of the step is Dagster's
            # (one materialization event per partition)
            seconds = event.event_specific_data.materialization.metadata.get("seconds")
            if seconds is not None:
                engine[event.step_key] = float(getattr(seconds, "value", seconds))
            events_per_step[event.step_key] = events_per_step.get(event.step_key, 0) + 1
        if event.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            entry = steps.setdefault(event.step_key, {})
            entry["start" if kind == "STEP_START" else "end"] = record.timestamp
            entry["status"] = kind  # type: ignore[assignment]
        elif not event.step_key:
            run_events.setdefault(kind, record.timestamp)
    return {"steps": steps, "run_events": run_events, "extract_engine_s": engine,
            "materializations": events_per_step}


def late_files(args: argparse.Namespace) -> int:
    """Evaluate the project's late-files sensor once (its cursor kept in a file between nights) and
    write the runs it requests: what the Dagster daemon would start for files that arrived or changed."""
    import dagster as dg

    from pipelines.orchestration.jobs import LATE_FILES_SENSOR
    from pipelines.orchestration.run_dates import RANGE_END_TAG, RANGE_START_TAG
    from pipelines.orchestration.runner import definitions
    from pipelines.settings import get_settings

    defs = definitions(get_settings())
    cursor_path = Path(args.cursor)
    cursor = cursor_path.read_text(encoding="utf-8") if cursor_path.exists() else None
    context = dg.build_sensor_context(cursor=cursor, definitions=defs, resources=defs.resources)
    outcome = defs.resolve_sensor_def(LATE_FILES_SENSOR)(context)
    requests = sensor_run_requests(outcome)
    if context.cursor is not None:
        cursor_path.write_text(context.cursor, encoding="utf-8")
    Path(args.result).write_text(json.dumps({
        "skipped": None if requests else str(getattr(outcome, "skip_message", outcome)),
        "requests": [{"partition": r.partition_key, "start": (r.tags or {}).get(RANGE_START_TAG),
                      "end": (r.tags or {}).get(RANGE_END_TAG),
                      "assets": [k.to_user_string() for k in r.asset_selection or []],
                      "run_key": r.run_key} for r in requests],
    }, indent=1), encoding="utf-8")
    return 0


def sensor_run_requests(outcome: object) -> list:
    """The run requests of a sensor evaluation: one RunRequest (what the late-files sensor returns), a
    list or generator of them, or a SensorResult; none for a SkipReason."""
    import dagster as dg

    if isinstance(outcome, dg.RunRequest):
        return [outcome]
    if isinstance(outcome, dg.SensorResult):
        return list(outcome.run_requests or [])
    if isinstance(outcome, list | tuple):
        return [r for r in outcome if isinstance(r, dg.RunRequest)]
    return []


def actuals(args: argparse.Namespace, compute: Callable[..., tuple[pd.DataFrame, float]]) -> int:
    """The floor's or the pandas twin's actuals: the frame to ``--output``, the seconds to ``--result``."""
    frame, seconds = compute(Path(args.lake), date.fromisoformat(args.start), date.fromisoformat(args.as_of),
                             args.timezone)
    frame.to_parquet(args.output)
    Path(args.result).write_text(json.dumps({"seconds": seconds, "rows": len(frame)}), encoding="utf-8")
    return 0
