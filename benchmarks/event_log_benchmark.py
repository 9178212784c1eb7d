"""Dagster's bookkeeping of a range run: seconds to run N daily-partitioned assets (shaped like the
extract assets: one run for the range, a check each) over D days, with Dagster's own SQLite event log
or the project's batched one (pipelines/orchestration/event_log.py). A benchmark, not a test.

    python benchmarks/event_log_benchmark.py --assets 4 --days 682
"""

import argparse
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

START = date(2024, 1, 1)
STORAGES = {
    "dagster": "",
    "batched": ("event_log_storage:\n  module: pipelines.orchestration.event_log\n"
                "  class: BatchedSqliteEventLogStorage\n  config:\n    base_dir: {home}/history/runs\n"),
}


def job(assets: int) -> dg.JobDefinition:
    partitions = dg.DailyPartitionsDefinition(start_date=START.isoformat(), timezone="Asia/Shanghai")

    def extract_like(i: int) -> dg.AssetsDefinition:
        @dg.asset(key=f"t{i}", partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(),
                  check_specs=[dg.AssetCheckSpec("reconciliation", asset=f"t{i}")])
        def _asset(context):
            return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)},
                                        check_results=[dg.AssetCheckResult(check_name="reconciliation", passed=True)])
        return _asset

    defs = dg.Definitions(assets=[extract_like(i) for i in range(assets)],
                          jobs=[dg.define_asset_job("load", executor_def=dg.in_process_executor)])
    return defs.get_job_def("load")


def measure(storage: str, assets: int, days: int) -> float:
    home = Path(tempfile.mkdtemp(prefix="event-log-bench-"))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + STORAGES[storage].format(home=home),
                                       encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    instance = dg.DagsterInstance.get()
    tags = {"dagster/asset_partition_range_start": START.isoformat(),
            "dagster/asset_partition_range_end": (START + timedelta(days=days - 1)).isoformat()}
    started = time.perf_counter()
    result = job(assets).execute_in_process(instance=instance, tags=tags)
    seconds = time.perf_counter() - started
    stored = len(instance.get_materialized_partitions(dg.AssetKey("t0")))
    if not result.success or stored != days:
        raise SystemExit(f"{storage}: run failed or {stored} of {days} partitions recorded")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=4)
    p.add_argument("--days", type=int, default=682)
    p.add_argument("--storage", choices=[*STORAGES, "both"], default="both")
    args = p.parse_args()
    for storage in STORAGES if args.storage == "both" else [args.storage]:
        seconds = measure(storage, args.assets, args.days)
        print(f"{storage:8s} {args.assets} assets × {args.days} days: {seconds:.1f} s "
              f"({seconds / (args.assets * args.days) * 1000:.1f} ms per asset-day)")


if __name__ == "__main__":
    main()
