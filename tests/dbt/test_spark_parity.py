"""The same warehouse on Apache Spark and on DuckDB: every public table equal (docs/spark.md).

The mini lake is built once with dbt on DuckDB (the whole project) and once the way the Spark engine
builds it (pipelines/orchestration/assets/dbt.py): the SQL models and their tests on local Spark
(``local[2]``, dbt-spark's session method), the public schemas copied into a DuckDB file
(pipelines/engines/spark.py), then the Python models (anomalies, forecasts) and their tests on that
file. Every table of ``marts`` and ``reference`` must hold the same rows on both sides, doubles to 12
significant digits — the Spark tables read as Spark wrote them, and the copy the pipeline reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.engines.compare import Warehouse, compare_table, compare_warehouses
from pipelines.engines.spark import MIRRORED_SCHEMAS, mirror_into_duckdb, table_scan
from pipelines.orchestration.assets.dbt import outside_of, python_models, tables_read_by
from pipelines.settings import dbt_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (17 on these machines)"),
]

#: The run log: each engine's own invocations, ids and timings (compared on their own below).
RUN_LOG = "marts.dq_check_results"


@dataclass(frozen=True)
class Builds:
    duckdb: Path  # the whole project on DuckDB
    spark_dir: Path  # Spark's warehouse directory (<schema>.db/<table>/*.parquet)
    spark_copy: Path  # the DuckDB file the Spark engine leaves for the rest of the pipeline
    built_on_copy: list[str]  # what the DuckDB invocation after the copy ran


def _dbt(project: Path, env: dict[str, str], target_path: Path, *args: str) -> dict:
    exe = Path(sys.executable).with_name("dbt")
    cmd = [str(exe if exe.exists() else "dbt"), *args, "--project-dir", str(project), "--profiles-dir", str(project),
           "--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    proc = subprocess.run(cmd, cwd=project, env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
                          capture_output=True, text=True, timeout=1500, check=False)
    results_file = target_path / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if proc.returncode != 0:
        failed = [f"{r['unique_id']}: {(r.get('message') or '')[:300]}" for r in results.get("results", [])
                  if r.get("status") not in ("success", "pass")]
        raise AssertionError(f"dbt {' '.join(args)} failed:\n" + "\n".join(failed[:15]) + "\n" + proc.stdout[-4000:])
    return results


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    from quality.catalog import compile_and_write
    from tests.fixtures.mini_lake import TIMEZONE, build_mini_lake
    from tests.kpi.conftest import copy_project

    root = tmp_path_factory.mktemp("spark_parity")
    lake = root / "lake"
    build_mini_lake(lake)
    project = copy_project(root / "dbt_project")
    compile_and_write(project / "catalog", project)
    common = {"timezone": TIMEZONE, "duckdb_memory_limit": "2GB", "duckdb_threads": 2, "lake_dir": lake}

    duck = root / "duckdb.duckdb"
    _dbt(project, dbt_env(engine="duckdb", warehouse_path=duck, **common), root / "t_duckdb", "build")

    spark_dir = root / "spark"
    spark_copy = root / "spark_copy.duckdb"
    spark_env = dbt_env(engine="spark", warehouse_path=spark_copy, spark_master="local[2]",
                        spark_warehouse_dir=spark_dir, spark_driver_memory="2g", **common)
    # the steps and selections of the Spark engine's dbt step (pipelines/orchestration/assets/dbt.py)
    _dbt(project, spark_env, root / "t_spark", "parse")
    manifest = json.loads((root / "t_spark" / "manifest.json").read_text())
    analytics = python_models(manifest)
    assert analytics == ["kpi_anomalies", "kpi_forecast"]
    _dbt(project, spark_env, root / "t_spark", "build", "--exclude", *analytics)
    mirror_into_duckdb(spark_dir, spark_copy, tables=tables_read_by(manifest, analytics))
    on_copy = _dbt(project, {**spark_env, "DBT_INDIRECT_SELECTION": "cautious"}, root / "t_analytics",
                   "build", "--target", "dev", "--select", "fqn:*", "--exclude", *outside_of(manifest, analytics))
    return Builds(duck, spark_dir, spark_copy, [r["unique_id"] for r in on_copy["results"]])


def _assert_same(a: Path, b: Path) -> list[str]:
    diffs = compare_warehouses(a, b, MIRRORED_SCHEMAS, skip={RUN_LOG})
    different = [d.describe() for d in diffs if not d.same]
    assert not different, "\n".join(different)
    return [d.table for d in diffs]


def test_only_the_analytics_run_on_the_copy(builds):
    """Had the DuckDB invocation after the copy rebuilt the SQL models, the parity below would compare
    DuckDB with itself."""
    models = sorted(u for u in builds.built_on_copy if u.startswith("model."))
    assert models == ["model.kpi_warehouse.kpi_anomalies", "model.kpi_warehouse.kpi_forecast"]
    assert any(u.startswith("test.kpi_warehouse.not_null_kpi_forecast") for u in builds.built_on_copy)
    assert not any(u.startswith(("seed.", "snapshot.")) for u in builds.built_on_copy)


def test_the_spark_tables_equal_duckdbs(builds):
    """Spark's own Parquet tables (no analytics there: those run on the copy)."""
    diffs = compare_warehouses(builds.duckdb, builds.spark_dir, MIRRORED_SCHEMAS,
                               skip={RUN_LOG, "marts.kpi_anomalies", "marts.kpi_forecast"})
    different = [d.describe() for d in diffs if not d.same]
    assert not different, "\n".join(different)
    assert len(diffs) >= 25


def test_the_pipelines_copy_of_the_spark_build_equals_duckdbs_every_public_table(builds):
    tables = _assert_same(builds.duckdb, builds.spark_copy)
    for expected in ("marts.kpi_actuals", "marts.kpi_attainment", "marts.kpi_scorecard", "marts.kpi_targets",
                     "marts.kpi_anomalies", "marts.kpi_forecast", "marts.fct_orders", "marts.dq_source_problems",
                     "reference.cn_public_holidays"):
        assert expected in tables
    with duckdb.connect(str(builds.spark_copy), read_only=True) as con:
        # not an empty comparison: the KPI engine and the analytics produced rows on Spark's data
        assert con.execute("select count(*) from marts.kpi_actuals").fetchone()[0] > 10_000
        assert con.execute("select count(*) from marts.kpi_forecast").fetchone()[0] > 0
        assert con.execute("select count(*) from marts.kpi_attainment where attainment is not null").fetchone()[0] > 0
        # timestamps stay plain UTC timestamps, as the DuckDB build keeps them
        assert con.execute("select data_type from information_schema.columns where table_name = 'dq_check_results' "
                           "and column_name = 'checked_at'").fetchone()[0] == "TIMESTAMP"


def test_both_engines_ran_the_same_checks_with_the_same_outcome(builds):
    """The run log differs by nature (invocation ids, times); which checks ran and how they ended must not."""
    query = ("select check_name, asset, status from marts.dq_check_results "
             "where resource_type in ('test', 'unit_test', 'source') order by all")
    with duckdb.connect(str(builds.duckdb), read_only=True) as con:
        on_duckdb = con.execute(query).fetchall()
    with duckdb.connect(str(builds.spark_copy), read_only=True) as con:
        on_spark = con.execute(query).fetchall()
    assert on_duckdb and sorted(on_duckdb) == sorted(on_spark)
    assert all(status in ("passed", "warn") for _, _, status in on_spark)


def test_the_comparison_finds_a_changed_value(builds, tmp_path):
    """The parity above is not vacuous: one KPI value off in the 10th significant digit is found."""
    changed = tmp_path / "changed.duckdb"
    shutil.copy(builds.spark_copy, changed)
    with duckdb.connect(str(changed)) as con:
        con.execute("update marts.kpi_actuals set actual_value = actual_value * (1 + 1e-9) "
                    "where rowid = (select min(rowid) from marts.kpi_actuals where actual_value > 1)")
    diffs = {d.table: d for d in compare_warehouses(builds.duckdb, changed, ["marts"], skip={RUN_LOG})}
    assert not diffs["marts.kpi_actuals"].same
    assert len(diffs["marts.kpi_actuals"].only_a) == len(diffs["marts.kpi_actuals"].only_b) == 1
    assert diffs["marts.kpi_targets"].same


# ------------------------------------------------------------------------------------------------
# incremental facts on Spark: partitions replaced by key give the same tables as a full build
# ------------------------------------------------------------------------------------------------
INCREMENTAL_FACTS = ("fct_orders", "fct_revenue_events", "fct_tickets")
#: O00000002 is the only order of January 2024; corrected into July, its month's partitions empty
MOVED_ORDER, MOVED_FROM, MOVED_TO = "O00000002", "2024-01-01", "2024-07-01"


@dataclass(frozen=True)
class IncrementalBuilds:
    spark_dir: Path
    full_duckdb: Path
    first: Path  # the facts' folders as the first build left them
    before: dict[str, dict[str, set[str]]]  # table -> partition folder -> its Parquet files, first build
    after: dict[str, dict[str, set[str]]]  # the same after the incremental run
    log: str  # dbt's log of the incremental run


def _partition_files(spark_dir: Path) -> dict[str, dict[str, set[str]]]:
    return {fact: {p.name: {f.name for f in p.glob("*.parquet")}
                   for p in (spark_dir / "marts.db" / fact).iterdir() if "=" in p.name}
            for fact in INCREMENTAL_FACTS}


@pytest.fixture(scope="module")
def incremental_builds(tmp_path_factory: pytest.TempPathFactory) -> IncrementalBuilds:
    """The lake as it was on 2024-06-30 built on Spark; the rest arrives (late updates, returns, a
    customer changing...) plus a correction moving an order into another month; the incremental facts
    run on Spark with no lookback. DuckDB builds the final lake whole."""
    from datetime import date

    from quality.catalog import compile_and_write
    from tests.fixtures.mini_lake import TIMEZONE, U, build_mini_lake, write_correction
    from tests.kpi.conftest import copy_project

    root = tmp_path_factory.mktemp("spark_incremental")
    lake = root / "lake"
    project = copy_project(root / "dbt_project")
    compile_and_write(project / "catalog", project)
    common = {"timezone": TIMEZONE, "duckdb_memory_limit": "2GB", "duckdb_threads": 2, "lake_dir": lake}
    spark_dir = root / "spark"
    spark_env = dbt_env(engine="spark", warehouse_path=root / "unused.duckdb", spark_master="local[2]",
                        spark_warehouse_dir=spark_dir, spark_driver_memory="2g", **common)
    facts = ("--select", *(f"+{fact}" for fact in INCREMENTAL_FACTS), "--resource-type", "model", "seed")

    build_mini_lake(lake, until=date(2024, 6, 30))
    _dbt(project, spark_env, root / "t_first", "build", *facts)
    before = _partition_files(spark_dir)
    first = root / "first_build"
    for fact in INCREMENTAL_FACTS:
        shutil.copytree(spark_dir / "marts.db" / fact, first / fact)

    build_mini_lake(lake)  # the later partitions arrive; earlier files are rewritten identically
    write_correction(lake, "erp.orders", "order_id", MOVED_ORDER, date(2024, 10, 1),
                     order_ts=U("2024-07-20 03:00"), updated_at=U("2024-10-01 01:00"))
    # no lookback: only what the change detection finds is recomputed (the strictest setting)
    _dbt(project, spark_env, root / "t_incremental", "build", *facts, "--vars", '{"incremental_lookback_days": 0}')
    log = (root / "t_incremental" / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")

    full_duckdb = root / "full.duckdb"
    _dbt(project, dbt_env(engine="duckdb", warehouse_path=full_duckdb, **common), root / "t_duckdb", "build", *facts)
    return IncrementalBuilds(spark_dir, full_duckdb, first, before, _partition_files(spark_dir), log)


@pytest.mark.parametrize("fact", INCREMENTAL_FACTS)
def test_spark_incremental_facts_equal_a_full_build(incremental_builds, fact):
    a, b = Warehouse(incremental_builds.full_duckdb), Warehouse(incremental_builds.spark_dir)
    try:
        diff = compare_table(a, b, "marts", fact)
    finally:
        a.close()
        b.close()
    assert diff.same, diff.describe()
    assert diff.rows_a > 0


FACT_KEYS = {"fct_orders": ("order_id", "order_month"), "fct_revenue_events": ("event_id", "event_month"),
             "fct_tickets": ("ticket_id", "opened_month")}


def test_spark_incremental_run_replaced_only_the_touched_months(incremental_builds):
    log = incremental_builds.log.lower()
    assert "insert overwrite table" in log and "drop if exists partition" in log
    assert "rebuilt whole instead of merged" not in log  # Spark's columns match the documented ones
    orders_before, orders_after = incremental_builds.before["fct_orders"], incremental_builds.after["fct_orders"]
    # the moved order's old month lost its only row: dropped, not left behind as a duplicate
    assert f"order_month={MOVED_FROM}" in orders_before and f"order_month={MOVED_FROM}" not in orders_after
    assert f"order_month={MOVED_TO}" in orders_after
    stage = incremental_builds.spark_dir / "marts__incremental.db"
    con = duckdb.connect()
    try:
        touched_by: dict[str, set[str]] = {}
        for fact, (key, month) in FACT_KEYS.items():
            # the months the run had to replace: those of its new rows and of the rows they replace
            new_rows, first_rows = table_scan(stage / fact), table_scan(incremental_builds.first / fact)
            touched = {f"{month}={m}" for (m,) in con.execute(
                f"select distinct strftime({month}, '%Y-%m-%d') from {new_rows} union "  # noqa: S608 - test names
                f"select distinct strftime({month}, '%Y-%m-%d') from {first_rows} "
                f"where {key} in (select {key} from {new_rows})").fetchall()}
            before, after = incremental_builds.before[fact], incremental_builds.after[fact]
            changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
            assert touched and changed == touched, fact
            touched_by[fact] = touched
        # the mini lake's late changes reach most months (customers change: all their orders are
        # recomputed); June's orders are not among them, and their files stay as the first build wrote them
        assert "order_month=2024-06-01" in orders_before and "order_month=2024-06-01" not in touched_by["fct_orders"]
    finally:
        con.close()
