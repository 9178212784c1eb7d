"""The project's Dagster event log (pipelines/orchestration/event_log.py): a range run's per-partition
materializations are written in one transaction per database, and the history is the same as with
Dagster's own SQLite event log — every partition materialized once, every event there."""


import collections
import os
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event

from pipelines.orchestration.event_log import BatchedSqliteEventLogStorage

DAYS = 40
ASSETS = 3
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="Asia/Shanghai")
RANGE_TAGS = {"dagster/asset_partition_range_start": "2024-01-01",
              "dagster/asset_partition_range_end": f"2024-02-{DAYS - 31:02d}"}


def _extract_like(i: int) -> dg.AssetsDefinition:
    """Shaped like an extract asset: daily partitions, one run for a range, a check."""

    @dg.asset(key=["raw", f"t{i}"], partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(),
              check_specs=[dg.AssetCheckSpec("reconciliation", asset=["raw", f"t{i}"])])
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)},
                                    check_results=[dg.AssetCheckResult(check_name="reconciliation", passed=True)])

    return _asset


JOB = dg.Definitions(
    assets=[_extract_like(i) for i in range(ASSETS)],
    jobs=[dg.define_asset_job("load", executor_def=dg.in_process_executor)],
).get_job_def("load")


def _project_instance(data_dir: Path, mp: pytest.MonkeyPatch) -> dg.DagsterInstance:
    from pipelines.settings import Settings

    for name in [n for n in os.environ if n.startswith(("KPI_", "DAGSTER_"))]:
        mp.delenv(name)
    # the storage turns Dagster's batching on in its process: undo that after the test
    mp.setenv("DAGSTER_EVENT_BATCH_SIZE", "")
    mp.delenv("DAGSTER_EVENT_BATCH_SIZE")
    Settings(data_dir=data_dir).export_dagster_home()
    return dg.DagsterInstance.get()


def _default_instance(home: Path, mp: pytest.MonkeyPatch) -> dg.DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    mp.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.get()


def _history(instance: dg.DagsterInstance, run_id: str) -> tuple[collections.Counter, dict[str, list[str]]]:
    types = collections.Counter(e.dagster_event.event_type_value for e in instance.all_logs(run_id)
                                if e.dagster_event is not None)
    partitions = {}
    for i in range(ASSETS):
        records = instance.fetch_materializations(dg.AssetKey(["raw", f"t{i}"]), limit=10_000).records
        partitions[f"t{i}"] = sorted(r.partition_key for r in records)
    return types, partitions


def _commits(storage: BatchedSqliteEventLogStorage) -> collections.Counter:
    """Commits per database file from now on (the storage's engines are created on first use)."""
    counts: collections.Counter = collections.Counter()
    original = storage._engine

    def engine(shard: str):
        created = original(shard)
        if not getattr(created, "_counted", False):
            event.listen(created, "commit", lambda _conn, shard=shard: counts.update([shard]))
            created._counted = True
        return created

    storage._engine = engine
    return counts


def test_a_range_run_is_stored_in_few_transactions_with_the_same_history(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        default = _default_instance(tmp_path / "default_home", mp)
        expected = _history(default, JOB.execute_in_process(instance=default, tags=RANGE_TAGS).run_id)
    with pytest.MonkeyPatch.context() as mp:
        instance = _project_instance(tmp_path / "data", mp)
        storage = instance.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        assert (tmp_path / "data" / "dagster_home" / "history" / "runs").is_dir()  # Dagster's default folder
        commits = _commits(storage)
        result = JOB.execute_in_process(instance=instance, tags=RANGE_TAGS)
        got = _history(instance, result.run_id)

    assert result.success
    days = [f"2024-01-{d:02d}" for d in range(1, 32)] + [f"2024-02-{d:02d}" for d in range(1, DAYS - 30)]
    assert got == expected
    assert got[1] == {f"t{i}": days for i in range(ASSETS)}
    assert got[0]["ASSET_MATERIALIZATION"] == ASSETS * DAYS
    assert got[0]["ASSET_MATERIALIZATION_PLANNED"] == ASSETS * DAYS
    # one event at a time would commit each materialization and planned event to the index and the run
    # database: ≥ 2 × 240 commits each; batched, a handful per step
    assert 0 < commits["index"] < 40, commits
    assert 0 < commits[result.run_id] < 80, commits


def test_a_batch_that_fails_half_way_is_stored_once_by_dagsters_fallback(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        instance = _project_instance(tmp_path / "data", mp)
        storage = instance.event_log_storage
        original = storage._store_asset_event
        calls = {"n": 0}

        def fail_once_in_a_batch(conn, event_entry, event_id):
            # the 5th materialization of the first step's batch (the first four are stored by then)
            if event_entry.dagster_event.event_type_value == "ASSET_MATERIALIZATION":
                calls["n"] += 1
                if calls["n"] == 5 and getattr(storage._batch, "conns", None) is not None:
                    raise RuntimeError("disk went away")
            return original(conn, event_entry, event_id)

        mp.setattr(storage, "_store_asset_event", fail_once_in_a_batch)
        result = JOB.execute_in_process(instance=instance, tags=RANGE_TAGS)
        types, partitions = _history(instance, result.run_id)

    assert result.success and calls["n"] > ASSETS * DAYS  # the failed batch's events were stored again
    # the failed batch was rolled back and stored again one by one: each partition exactly once
    assert types["ASSET_MATERIALIZATION"] == ASSETS * DAYS
    assert types["ASSET_MATERIALIZATION_PLANNED"] == ASSETS * DAYS
    assert all(len(keys) == DAYS and len(set(keys)) == DAYS for keys in partitions.values()), partitions
