"""The Dagster code location: what `dagster dev -w workspace.yaml` shows, the schedule and the sensor.

Builds the code location in this process (``build_definitions``, what ``pipelines.definitions`` calls)
with the manifest in ``dbt_project/target`` (prepared once by ``kpi prepare``; prepared here if
missing) and settings of its own (a temporary data folder) — no module is reloaded or patched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from tests.ops.asset_graph import SNAPSHOT_PATH, asset_graph_snapshot, render
from tests.ops.conftest import REPO

SERVING_KEYS = ["serving/kpi_duckdb", "serving/parquet", "serving/postgres"]
REPORT_KEYS = ["reports/nightly_reports"]
ALERT_KEYS = ["alerts/owner_alerts"]
#: layer (asset group) of each asset, by the first part of its key
GROUP_OF_PREFIX = {"source": "sources", "staging": "staging", "intermediate": "intermediate", "marts": "marts",
                   "snapshots": "snapshots", "reference": "reference", "serving": "publish",
                   "reports": "reports", "alerts": "alerts"}


def _settings(data_dir: Path, **values: object):
    """Settings of a test: its own data folder (and ``values``), nothing from the environment's KPI_*."""
    from pipelines.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("KPI_")]:
            mp.delenv(name)
        return Settings(data_dir=data_dir, **values)


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    from pipelines.orchestration.dbt_project import prepare_dbt_project
    from pipelines.orchestration.definitions import build_definitions

    settings = _settings(tmp_path_factory.mktemp("defs_data"))
    if not (settings.dbt_project_dir / "target" / "manifest.json").exists():
        prepare_dbt_project(settings.dbt_project_dir, settings.catalog_dir, progress=lambda _: None)
    return build_definitions(settings)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture()
def data_defs(defs: dg.Definitions, data_dir: Path) -> dg.Definitions:
    """The code location of a test's own data folder (the sensor reads its landing folder and lake)."""
    from pipelines.orchestration.definitions import build_definitions

    return build_definitions(_settings(data_dir))


def _manifest_models(schema: str) -> list[str]:
    from pipelines.orchestration.dbt_project import manifest_path
    from pipelines.settings import DBT_PROJECT_DIR

    manifest = json.loads(manifest_path(DBT_PROJECT_DIR).read_text(encoding="utf-8"))
    return sorted(f"{schema}/{n['name']}" for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and n["schema"] == schema)


def _keys(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


# ------------------------------------------------------------------------------------------------
# the asset graph
# ------------------------------------------------------------------------------------------------
def test_the_graph_runs_from_every_source_table_through_every_model_to_reports_and_alerts(defs) -> None:
    from pipelines.extract import SOURCE_TABLES

    graph = defs.resolve_asset_graph()
    keys = _keys(defs)
    raw = [f"raw_{t.source}/{t.table}" for t in SOURCE_TABLES]
    assert len(raw) == 18 and set(raw) <= keys
    # extract assets materialize them (not just dbt's source stubs), one partition per local day
    for key in raw:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.is_materializable, key
    staging = _manifest_models("staging")
    assert len(staging) >= len(SOURCE_TABLES)
    for schema in ("staging", "intermediate", "marts"):
        assert set(_manifest_models(schema)) <= keys, schema
    assert {"marts/kpi_actuals", "marts/kpi_attainment", "marts/kpi_scorecard", "marts/kpi_anomalies",
            "marts/kpi_forecast", "marts/dim_org_unit"} <= keys
    assert set(SERVING_KEYS + REPORT_KEYS + ALERT_KEYS) <= keys
    # one piece: the report is downstream of every raw table
    upstream_of_report = dg.AssetSelection.assets(dg.AssetKey(["reports", "nightly_reports"])).upstream() \
        .resolve(graph)
    assert {dg.AssetKey.from_user_string(k) for k in raw} <= upstream_of_report


def test_assets_are_grouped_by_layer_and_have_descriptions_and_owners(defs) -> None:
    specs = defs.resolve_all_asset_specs()
    wrong_group = {s.key.to_user_string(): s.group_name for s in specs
                   if s.group_name != ("raw" if s.key.path[0].startswith(("raw_", "lake_"))
                                       else GROUP_OF_PREFIX.get(s.key.path[0]))}
    assert wrong_group == {}
    assert {s.group_name for s in specs} >= {"sources", "raw", "staging", "intermediate", "marts", "snapshots",
                                             "publish", "reports", "alerts"}
    assert [s.key.to_user_string() for s in specs if not (s.description or "").strip()] == []
    assert [s.key.to_user_string() for s in specs if not s.owners] == []


def test_every_step_that_opens_the_warehouse_shares_one_pool_and_the_job_runs_in_one_process(defs) -> None:
    from pipelines.locks import WAREHOUSE_POOL

    writers = ["marts/kpi_actuals", "serving/kpi_duckdb", "alerts/owner_alerts"]  # dbt (one op), publish, alerts
    assert {k: defs.resolve_assets_def(dg.AssetKey.from_user_string(k)).op.pool for k in writers} == \
        dict.fromkeys(writers, WAREHOUSE_POOL)
    assert defs.resolve_job_def("nightly").executor_def.name == "in_process"


def test_extraction_retries_with_backoff_and_dbt_does_not(defs) -> None:
    """Transient source failures are retried; a failed dbt test is not transient."""
    policy = defs.resolve_assets_def(dg.AssetKey(["raw_erp", "orders"])).op.retry_policy
    assert policy is not None and policy.max_retries >= 1 and policy.backoff is not None
    assert defs.resolve_assets_def(dg.AssetKey(["marts", "kpi_actuals"])).op.retry_policy is None


def test_the_asset_graph_matches_the_committed_snapshot(defs) -> None:
    """Regenerate after an intended change: `.venv/bin/python -m tests.ops.asset_graph` (see its docstring)."""
    current = asset_graph_snapshot(defs)
    assert SNAPSHOT_PATH.exists(), "no snapshot yet: run `.venv/bin/python -m tests.ops.asset_graph`"
    committed = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    changes = {
        part: {"added": sorted(set(current[part]) - set(committed.get(part, []))),
               "removed": sorted(set(committed.get(part, [])) - set(current[part])),
               "changed": sorted(k for k in set(current[part]) & set(committed.get(part, []))
                                 if isinstance(current[part], dict) and current[part][k] != committed[part][k])}
        for part in current
    }
    changes = {part: c for part, c in changes.items() if any(c.values())}
    assert not changes, (
        "the asset graph changed; if intended, regenerate the snapshot with "
        "`.venv/bin/python -m tests.ops.asset_graph` and commit it:\n" + json.dumps(changes, indent=1))
    assert render(current) == SNAPSHOT_PATH.read_text(encoding="utf-8")


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """What `dagster dev -w workspace.yaml` loads, validated by Dagster's own CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
    env.update({"KPI_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path)})
    dagster = str(Path(sys.executable).with_name("dagster"))
    for target in (["-m", "pipelines.definitions"], ["-w", str(REPO / "workspace.yaml")]):
        proc = subprocess.run([dagster, "definitions", "validate", *target], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "passed validation" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------------
# the nightly schedule
# ------------------------------------------------------------------------------------------------
def test_the_nightly_schedule_runs_the_nightly_job(defs) -> None:
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.job_name == "nightly"


@pytest.mark.parametrize("scheduled", [
    datetime(2025, 11, 20, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2025, 11, 19, 18, 0, tzinfo=UTC),  # the same instant, given in UTC
])
def test_a_schedule_tick_requests_yesterdays_partition(defs, scheduled: datetime) -> None:
    schedule = defs.resolve_schedule_def("nightly_schedule")
    context = dg.build_schedule_context(scheduled_execution_time=scheduled, repository_def=defs.get_repository_def())
    data = schedule.evaluate_tick(context)  # validates the request against the job's partitions
    [request] = data.run_requests
    assert request.partition_key == "2025-11-19"
    assert request.run_key == "nightly-2025-11-19"
    assert "2025-11-19" in defs.resolve_job_def("nightly").partitions_def.get_partition_keys(
        current_time=scheduled)


def test_the_schedule_follows_the_settings(data_dir: Path) -> None:
    from pipelines.orchestration.definitions import build_definitions

    defs = build_definitions(_settings(data_dir, schedule_cron="30 3 * * *", timezone="Europe/Berlin"))
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 3 * * *", "Europe/Berlin")
    tick = datetime(2025, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # the morning after the DST switch
    request = schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2025-03-30"


# ------------------------------------------------------------------------------------------------
# the late-file sensor
# ------------------------------------------------------------------------------------------------
def _tick(sensor: dg.SensorDefinition, defs: dg.Definitions, cursor: str | None):
    with dg.DagsterInstance.ephemeral() as instance:
        return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, instance=instance, definitions=defs,
                                                           resources=defs.resources))


def _landing_file(data_dir: Path, relative: str, text: str = "x\n", mtime: float | None = None) -> Path:
    path = data_dir / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _extracted(data_dir: Path, source: str, table: str, day: str) -> None:
    """The day's partition of the table is in the lake: that day was run."""
    path = data_dir / "lake" / "raw" / source / table / f"date={day}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_the_late_file_sensor_reruns_the_days_of_new_or_changed_landing_files(data_defs, data_dir: Path) -> None:
    defs = data_defs
    sensor = defs.resolve_sensor_def("late_files_sensor")
    assert sensor.job_name == "nightly"
    graph = defs.resolve_asset_graph()
    tickets = _landing_file(data_dir, "servicedesk/tickets_20240705.csv", mtime=1_720_000_000)
    _landing_file(data_dir, "finance/plan_FY2024_v1.xlsx")  # not a daily file: not watched

    first = _tick(sensor, defs, None)  # remembers what is there; the nightly run picks those up
    assert first.run_requests == [] and first.skip_message == "watching 1 landing files"
    assert json.loads(first.cursor) == {str(tickets): 1_720_000_000}

    quiet = _tick(sensor, defs, first.cursor)
    assert quiet.run_requests == [] and quiet.skip_message == "no new or changed landing files"

    # a file for a day that has not been run yet is not late: that day's scheduled run reads it
    _landing_file(data_dir, "servicedesk/tickets_20240707.csv", mtime=1_720_050_000)
    early = _tick(sensor, defs, quiet.cursor)
    assert early.run_requests == [] and "for days not run yet" in early.skip_message

    # a file arrives late for 2024-07-06, a day already run
    _extracted(data_dir, "servicedesk", "tickets", "2024-07-06")
    _landing_file(data_dir, "servicedesk/tickets_20240706.csv", mtime=1_720_100_000)
    late = _tick(sensor, defs, early.cursor)
    [request] = late.run_requests
    assert request.partition_key == "2024-07-06"
    assert request.tags["kpi/trigger"] == "late_files"
    raw_key = dg.AssetKey(["raw_servicedesk", "tickets"])
    selection = set(request.asset_selection)
    downstream = dg.AssetSelection.assets(raw_key).downstream().resolve(graph)
    assert downstream <= selection  # the table and everything downstream of it …
    extract_keys = {k for k in selection if k.path[0].startswith("raw_")}
    assert extract_keys == {raw_key}  # … re-extracting only that table
    assert not {k for k in selection if k.path[0] == "source"}
    assert {graph.get(k).group_name for k in selection} <= {"raw", "staging", "intermediate", "marts", "snapshots",
                                                            "reference", "publish", "reports", "alerts"}
    assert "2024-07-06" in defs.resolve_job_def("nightly").partitions_def.get_partition_keys()

    # the same day's file changes again, and another table's file for an earlier day arrives late:
    # ONE run over both days and both tables (the warehouse is built once, not once per file)
    _extracted(data_dir, "engineering", "bugs", "2024-07-05")
    os.utime(data_dir / "landing" / "servicedesk" / "tickets_20240706.csv", (1_720_200_000, 1_720_200_000))
    _landing_file(data_dir, "engineering/bugs_20240705.jsonl", "{}\n", mtime=1_720_200_000)
    again = _tick(sensor, defs, late.cursor)
    [both] = again.run_requests
    assert both.partition_key is None
    assert (both.tags["dagster/asset_partition_range_start"], both.tags["dagster/asset_partition_range_end"]) == (
        "2024-07-05", "2024-07-06")
    assert {k for k in both.asset_selection if k.path[0].startswith("raw_")} == {
        dg.AssetKey(["raw_engineering", "bugs"]), raw_key}
    assert both.run_key != request.run_key  # a new change is a new run, not a duplicate
    assert _tick(sensor, defs, again.cursor).run_requests == []
