"""The mini warehouse: the mini raw lake built with dbt twice (before and after a mid-year change)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"

#: The mid-year changes applied before the second build.
PLAN_V2 = "FY2024-v2"
PLAN_V2_FROM = date(2024, 8, 1)
PLAN_V2_TARGETS = [  # kpi_id, org_unit_id, period, value
    ("net_revenue", "DIV-SALES", "2024", 90000.0),
    ("net_revenue", "DEP-SALES-EAST", "2024", 100000.0),
    ("net_revenue", "DEP-SALES-NORTH", "2024", 20000.0),
    ("complaint_rate", "DIV-SERVICE", "2024", 5.0),
    ("headcount", "ACME", "2024", None),
]
NET_REVENUE_V2_FROM = "2024-08-01"


@dataclass
class Build:
    warehouse: Path
    target_path: Path
    seconds: float
    run_results: dict[str, Any]


@dataclass
class MiniWarehouse:
    expected: dict[str, Any]
    before: Build
    after: Build
    project_dir: Path


def _dbt() -> str:
    exe = Path(sys.executable).with_name("dbt")
    return str(exe) if exe.exists() else "dbt"


def run_dbt_build(project_dir: Path, warehouse: Path, lake_dir: Path, target_path: Path,
                  extra: list[str] | None = None) -> Build:
    """`dbt build` of the KPI engine and the data-quality marts and everything upstream of them
    (staging, core facts, their tests) into ``warehouse``; the compiled catalog must be in place. Marts downstream of the KPI marts
    (other parts of the product) are left out: this fixture tests the KPI engine."""
    env = {
        **os.environ,
        "KPI_WAREHOUSE_PATH": str(warehouse),
        "KPI_LAKE_DIR": str(lake_dir),
        "KPI_TIMEZONE": "Asia/Shanghai",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [_dbt(), "build", "--select", "+tag:kpi", "+tag:quality", "--indirect-selection", "cautious", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
           "--target-path", str(target_path), "--log-path", str(target_path / "logs"), *(extra or [])]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    seconds = time.perf_counter() - started
    results_file = target_path / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if proc.returncode != 0:
        failed = [r for r in results.get("results", []) if r.get("status") not in ("success", "pass")]
        raise AssertionError(
            "dbt build failed:\n" + "\n".join(f"{r['unique_id']}: {r.get('message')}" for r in failed[:20])
            + "\n" + proc.stdout[-6000:]
        )
    return Build(warehouse=warehouse, target_path=target_path, seconds=seconds, run_results=results)


def copy_project(dst: Path) -> Path:
    """A private copy of dbt_project (so tests never touch the repo's generated or target folders).

    Should the fact models not be documented in YAML (yet), the copy documents the columns of
    docs/warehouse.md, which the catalog compiler needs.
    """
    from quality.catalog.columns import model_columns
    from tests.kpi.fact_columns import FACT_COLUMNS

    shutil.copytree(DBT_PROJECT, dst, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "generated"))
    documented = model_columns(dst)
    missing = [name for name in FACT_COLUMNS if name not in documented]
    if missing:
        doc = {"version": 2, "models": [
            {"name": name, "description": f"{name} (columns of docs/warehouse.md)",
             "columns": [{"name": c, "description": c} for c in FACT_COLUMNS[name]]} for name in missing]}
        path = dst / "models" / "marts" / "core" / "_kpi_test_facts__models.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dst


def write_plan_version(lake_dir: Path) -> None:
    """A mid-year plan revision FY2024-v2, valid from 2024-08-01, in the raw lake (finance partitions)."""
    from tests.fixtures.mini_lake import arrow_schema

    loaded = datetime(2024, 8, 1, 18, 0, tzinfo=UTC)
    meta = {"_loaded_at": loaded, "_source": "finance/plan_FY2024_v2.xlsx", "_batch_id": "finance.v2"}
    tables = {
        "plan_info": [{"plan_version": PLAN_V2, "fiscal_year": 2024, "valid_from": PLAN_V2_FROM,
                       "approved_by": "CFO Office", "file": "plan_FY2024_v2.xlsx"}],
        "targets": [
            {"plan_version": PLAN_V2, "kpi_id": k, "org_unit_id": u, "period": p, "target_value": v,
             "target_low": 12.0 if k == "headcount" else None, "target_high": 16.0 if k == "headcount" else None,
             "comment": None}
            for k, u, p, v in PLAN_V2_TARGETS
        ],
        "weights": [
            {"plan_version": PLAN_V2, "org_unit_id": "DIV-SALES", "kpi_id": "net_revenue", "weight": 100.0},
        ],
    }
    for name, rows in tables.items():
        records = [{**r, **meta, "_row_number": i} for i, r in enumerate(rows, start=1)]
        path = lake_dir / "raw" / "finance" / name / f"date={PLAN_V2_FROM.isoformat()}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records, schema=arrow_schema(f"finance.{name}")), path)


def add_net_revenue_v2(catalog_dir: Path) -> None:
    """A KPI formula change: from 2024-08-01 net revenue excludes returns (sales events only)."""
    path = catalog_dir / "revenue.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for kpi in doc["kpis"]:
        if kpi["id"] == "net_revenue":
            kpi["versions"].append({
                "version": 2, "valid_from": date.fromisoformat(NET_REVENUE_V2_FROM),
                "reason": "test: returns are reported separately",
                "changes": {"measure": {"type": "sum", "model": "fct_revenue_events", "expression": "net_amount",
                                        "filter": "event_type = 'sale'", "time_column": "event_date",
                                        "org_column": "org_unit_id"}},
            })
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def mini_warehouse(tmp_path_factory: pytest.TempPathFactory) -> MiniWarehouse:
    """Build the mini lake twice: as delivered, then with plan FY2024-v2 and net_revenue v2 (both from
    2024-08-01). The as-of date (latest business date in the facts) is 2024-09-10 in both."""
    from quality.catalog import compile_and_write
    from tests.fixtures.mini_lake import build_mini_lake

    root = tmp_path_factory.mktemp("kpi_mini")
    lake = root / "lake"
    expected = build_mini_lake(lake)
    project = copy_project(root / "dbt_project")
    compile_and_write(project / "catalog", project)
    before = run_dbt_build(project, root / "before.duckdb", lake, root / "target_before")

    shutil.copy(root / "before.duckdb", root / "after.duckdb")
    write_plan_version(lake)
    add_net_revenue_v2(project / "catalog")
    compile_and_write(project / "catalog", project)
    # full refresh: the second build is about the catalog and plan changes, not incremental loading
    # (snapshots ignore --full-refresh and keep their history from the first build)
    after = run_dbt_build(project, root / "after.duckdb", lake, root / "target_after", ["--full-refresh"])
    return MiniWarehouse(expected=expected, before=before, after=after, project_dir=project)
