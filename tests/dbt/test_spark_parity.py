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

from pipelines.engines.compare import compare_warehouses
from pipelines.engines.spark import MIRRORED_SCHEMAS, mirror_into_duckdb
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
