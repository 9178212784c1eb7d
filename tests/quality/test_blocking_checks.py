"""A blocking consistency check fails: nothing downstream is published, and the run says why.

The nightly job's path after extraction runs through Dagster (tests/quality/_nightly_runner.py) on
the mini lake: first a clean run publishes the serving copy, Parquet, reports and alerts; then a raw
finance partition is corrupted (the plan weights of DIV-SALES no longer sum to 100), the dbt test
`assert_kpi_weights_sum_to_100` (tagged consistency, severity error, a blocking asset check) fails,
and the second run must leave every published byte as it was — while the private warehouse records
the failed check in marts.dq_check_results.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.dbt.dbt_helpers import dbt_executable
from tests.fixtures.mini_lake import TIMEZONE, build_mini_lake
from tests.kpi.conftest import copy_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BROKEN_CHECK = "marts/kpi_weights:assert_kpi_weights_sum_to_100"


def _tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run(data: Path, project: Path, name: str) -> dict:
    out = data.parent / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    proc = subprocess.run([sys.executable, "-m", "tests.quality._nightly_runner", str(data), str(project), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(out.read_text(encoding="utf-8"))


def _prepare(root: Path) -> tuple[Path, Path]:
    """The mini lake in a private data folder; a private dbt project copy with the compiled catalog and
    its manifest (what `kpi prepare` does, into the copy)."""
    from quality.catalog import compile_and_write

    data = root / "data"
    build_mini_lake(data / "lake")
    project = copy_project(root / "dbt_project")
    compile_and_write(project / "catalog", project)
    env = {**os.environ, "KPI_WAREHOUSE_PATH": str(data / "warehouse" / "warehouse.duckdb"),
           "KPI_LAKE_DIR": str(data / "lake"), "KPI_TIMEZONE": TIMEZONE, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    parsed = subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                             str(project)], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    assert (project / "target" / "manifest.json").exists()
    return data, project


def _break_weights(lake: Path) -> None:
    """A defect that slipped past extraction: DIV-SALES's net_revenue weight 50 → 45 (total 95)."""
    path = lake / "raw" / "finance" / "weights" / "date=2024-01-01" / "part-0.parquet"
    table = pq.read_table(path)
    hit = pc.and_(pc.equal(table["org_unit_id"], "DIV-SALES"), pc.equal(table["kpi_id"], "net_revenue"))
    weight = pc.if_else(hit, 45.0, table["weight"])
    pq.write_table(table.set_column(table.schema.get_field_index("weight"), "weight", weight), path)


def test_a_failed_blocking_check_publishes_nothing(tmp_path: Path) -> None:
    data, project = _prepare(tmp_path)

    first = _run(data, project, "first")
    assert first["success"], first["summary"]
    assert {"serving/kpi_duckdb", "serving/parquet", "reports/nightly_reports", "alerts/owner_alerts"} <= set(
        first["materialized"])
    serving, reports, state = data / "serving", data / "reports", data / "state"
    assert (serving / "kpi.duckdb").is_file() and any(reports.rglob("*.html"))
    published = {"serving": _tree(serving), "reports": _tree(reports), "state": _tree(state)}
    with duckdb.connect(str(serving / "kpi.duckdb"), read_only=True) as con:
        published_run = con.execute("select run_id from marts._publish_info").fetchone()[0]
        assert con.execute("select count(*) from marts.dq_check_results where status = 'failed' "
                           "and blocking").fetchone()[0] == 0

    _break_weights(data / "lake")
    second = _run(data, project, "second")

    # the run failed, says why, and published nothing
    assert not second["success"]
    assert BROKEN_CHECK in second["failed_blocking_checks"]
    assert second["exit_code"] == 3
    assert any("assert_kpi_weights_sum_to_100" in message for _, message in second["failed_steps"])
    assert f"blocking check failed: {BROKEN_CHECK} — nothing downstream was published" in second["summary"]
    assert not {"serving/kpi_duckdb", "serving/parquet", "serving/postgres", "reports/nightly_reports",
                "alerts/owner_alerts"} & set(second["materialized"])
    assert {"serving": _tree(serving), "reports": _tree(reports), "state": _tree(state)} == published
    with duckdb.connect(str(serving / "kpi.duckdb"), read_only=True) as con:
        assert con.execute("select run_id from marts._publish_info").fetchone()[0] == published_run

    # the private warehouse recorded the failure (the on-run-end hook runs when tests fail too)
    with duckdb.connect(str(data / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        runs = con.execute("select run_id, max(checked_at) from marts.dq_check_results group by run_id "
                           "order by 2").fetchall()
        assert len(runs) == 2
        failed = con.execute(
            "select layer, asset, status, blocking, severity, failing_rows, tags from marts.dq_check_results "
            "where run_id = ? and check_name = 'assert_kpi_weights_sum_to_100'", [runs[-1][0]]).fetchall()
        assert failed == [("kpi", "marts/kpi_weights", "failed", True, "error", 1, "consistency,kpi")]
        source_checks = con.execute(
            "select count(*) from marts.dq_check_results where run_id = ? and layer = 'source'",
            [runs[-1][0]]).fetchone()[0]
        assert source_checks > 0  # load log and freshness checks of the same run
