"""The nightly job, its schedule, and the sensor for late-arriving landing files.

- ``nightly``: everything from the raw lake to the alerts, for one daily partition (or a range in
  one run for backfills), in one process — one DuckDB writer.
- ``nightly_schedule``: at ``KPI_SCHEDULE_CRON`` in ``KPI_TIMEZONE`` (default 02:00 Asia/Shanghai),
  runs yesterday's partition.
- ``late_files_sensor``: a landing file that appears (or changes) after its day was run re-runs that
  day for that table and everything downstream of the raw lake.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.execution import NIGHTLY_JOB
from pipelines.extract.registry import SOURCE_TABLES
from pipelines.settings import get_settings

LATE_FILES_SENSOR = "late_files_sensor"


def nightly_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
        partitions_def=partitions_def,
        executor_def=dg.in_process_executor,
        description="Extract the day's partitions, build and test the warehouse, publish, report, alert.",
        tags={"team": "data-engineering"},
    )


def nightly_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    settings = get_settings()

    @dg.schedule(
        name="nightly_schedule",
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.timezone,
        job=job,
        description=f"Runs yesterday's partition at '{settings.schedule_cron}' ({settings.timezone}).",
    )
    def _nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # Yesterday in the company's timezone, whatever timezone the tick time is expressed in.
        tick = context.scheduled_execution_time
        if tick.tzinfo is not None:
            tick = tick.astimezone(ZoneInfo(settings.timezone))
        day = tick.date() - timedelta(days=1)
        return dg.RunRequest(run_key=f"nightly-{day.isoformat()}", partition_key=day.isoformat())

    return _nightly


def _landing_files(landing_dir: Path) -> dict[str, tuple[str, str, float]]:
    """path → (asset key string, partition date, mtime) for every daily landing file."""
    found: dict[str, tuple[str, str, float]] = {}
    for table in SOURCE_TABLES:
        if not table.partitioned or table.landing_glob is None:
            continue
        for path in landing_dir.glob(table.landing_glob):
            day = table.landing_date(path)
            if day is None:
                continue
            found[str(path)] = (f"raw_{table.source}/{table.table}", day.isoformat(), path.stat().st_mtime)
    return found


def late_files_sensor(job: dg.UnresolvedAssetJobDefinition,
                      downstream_keys: list[dg.AssetKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name=LATE_FILES_SENSOR,
        job=job,
        minimum_interval_seconds=300,
        description="Re-runs a day when a landing file for it arrives or changes after the day was run.",
    )
    def _late_files(context: dg.SensorEvaluationContext):
        landing_dir = get_settings().landing_dir
        cursor = json.loads(context.cursor) if context.cursor else {}
        current = _landing_files(landing_dir) if landing_dir.exists() else {}
        if not cursor:
            # First evaluation: remember what is there; the nightly run picks those up.
            context.update_cursor(json.dumps({p: m for p, (_, _, m) in current.items()}))
            return dg.SkipReason(f"watching {len(current)} landing files")
        changed: dict[str, set[str]] = {}
        for path, (asset, day, mtime) in current.items():
            if cursor.get(path) != mtime:
                changed.setdefault(day, set()).add(asset)
        context.update_cursor(json.dumps({p: m for p, (_, _, m) in current.items()}))
        if not changed:
            return dg.SkipReason("no new or changed landing files")
        requests = []
        for day, assets in sorted(changed.items()):
            keys = [dg.AssetKey(a.split("/")) for a in sorted(assets)]
            stamp = max(current[p][2] for p in current if current[p][1] == day)
            requests.append(dg.RunRequest(
                run_key=f"late-{day}-{stamp:.0f}",
                partition_key=day,
                asset_selection=keys + downstream_keys,
                tags={"kpi/trigger": "late_files"},
            ))
        return requests

    return _late_files
