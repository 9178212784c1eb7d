"""The nightly job, its schedule, and the sensor for late-arriving landing files.

- ``nightly``: everything from the raw lake to the alerts, for one daily partition (or a range in
  one run for backfills), in one process — one DuckDB writer.
- ``nightly_schedule``: at the cron and time zone it is built with (the settings' ``KPI_SCHEDULE_CRON``
  and ``KPI_TIMEZONE``, default 02:00 Asia/Shanghai), runs yesterday's partition.
- ``late_files_sensor``: landing files that appear (or change) after their day was run re-run those
  days for those tables and everything downstream of the raw lake — all of one tick in one run (one
  day, or a range), so a night with several late files builds the warehouse once, not once per file.
  A file for a day not run yet is left to that day's scheduled run.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.extract.lake import raw_partition_path
from pipelines.extract.registry import SOURCE_TABLES
from pipelines.orchestration.resources import LakeResource
from pipelines.orchestration.run_dates import RANGE_END_TAG, RANGE_START_TAG

NIGHTLY_JOB = "nightly"
LATE_FILES_SENSOR = "late_files_sensor"


def nightly_job() -> dg.UnresolvedAssetJobDefinition:
    """Every asset but the source systems; daily partitions (inferred from the extract assets)."""
    return dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
        executor_def=dg.in_process_executor,
        description="Extract the day's partitions, build and test the warehouse, publish, report, alert.",
        tags={"team": "data-engineering"},
    )


def nightly_schedule(job: dg.UnresolvedAssetJobDefinition, cron: str, timezone: str) -> dg.ScheduleDefinition:
    """Yesterday's partition at ``cron`` in ``timezone`` (the settings' KPI_SCHEDULE_CRON, KPI_TIMEZONE)."""

    @dg.schedule(
        name="nightly_schedule",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        description=f"Runs yesterday's partition at '{cron}' ({timezone}).",
    )
    def _nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # Yesterday in the company's timezone, whatever timezone the tick time is expressed in.
        tick = context.scheduled_execution_time
        if tick.tzinfo is not None:
            tick = tick.astimezone(ZoneInfo(timezone))
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


def _already_run(lake_dir: Path, asset: str, day: str) -> bool:
    """The day's partition of the table was extracted before (so a file for it now is late)."""
    source, table = asset.removeprefix("raw_").split("/")
    return raw_partition_path(lake_dir, source, table, date.fromisoformat(day)).exists()


def late_files_sensor(job: dg.UnresolvedAssetJobDefinition,
                      downstream_keys: list[dg.AssetKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name=LATE_FILES_SENSOR,
        job=job,
        minimum_interval_seconds=300,
        description="Re-runs the days whose landing files arrive or change after the day was run (one run a tick).",
    )
    def _late_files(context: dg.SensorEvaluationContext, lake: LakeResource):
        landing_dir = Path(lake.landing_dir)
        cursor = json.loads(context.cursor) if context.cursor else {}
        current = _landing_files(landing_dir) if landing_dir.exists() else {}
        if not cursor:
            # First evaluation: remember what is there; the nightly run picks those up.
            context.update_cursor(json.dumps({p: m for p, (_, _, m) in current.items()}))
            return dg.SkipReason(f"watching {len(current)} landing files")
        late: dict[str, set[str]] = {}
        not_run = 0
        for path, (asset, day, mtime) in current.items():
            if cursor.get(path) == mtime:
                continue
            if _already_run(Path(lake.lake_dir), asset, day):
                late.setdefault(day, set()).add(asset)
            else:
                not_run += 1
        context.update_cursor(json.dumps({p: m for p, (_, _, m) in current.items()}))
        if not late:
            if not_run:
                return dg.SkipReason(f"{not_run} new landing file(s) for days not run yet: their scheduled runs "
                                     "pick them up")
            return dg.SkipReason("no new or changed landing files")
        days = sorted(late)
        assets = sorted(set().union(*late.values()))
        keys = [dg.AssetKey(a.split("/")) for a in assets]
        stamp = max(current[p][2] for p in current if current[p][1] in late)
        tags = {"kpi/trigger": "late_files", "kpi/late_days": ",".join(days)}
        if len(days) == 1:
            return dg.RunRequest(run_key=f"late-{days[0]}-{stamp:.0f}", partition_key=days[0],
                                 asset_selection=keys + downstream_keys, tags=tags)
        # several days: one run over their range (unchanged files in between are read as unchanged)
        tags.update({RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]})
        return dg.RunRequest(run_key=f"late-{days[0]}-{days[-1]}-{stamp:.0f}",
                             asset_selection=keys + downstream_keys, tags=tags)

    return _late_files
