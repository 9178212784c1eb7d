"""Run the project's dbt against a throw-away warehouse and lake (for integration tests).

Each run gets its own warehouse file, lake, ``--target-path`` and ``--log-path``, so parallel test
sessions (and engineers) never share dbt's state. dbt runs in a subprocess with an explicit
environment: exactly what the pipeline passes (``Settings.dbt_env()``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.settings import DBT_PROJECT_DIR

#: The models of the core layers (everything up to the conformed dimensions and facts), plus the seed.
CORE_SELECTION: tuple[str, ...] = (
    "cn_public_holidays",
    "staging",
    "intermediate.calendar",
    "intermediate.org",
    "intermediate.people",
    "marts.core",
)


@dataclass(frozen=True)
class DbtWorkspace:
    """Where one test warehouse lives."""

    root: Path
    lake_dir: Path
    warehouse_path: Path
    target_path: Path
    log_path: Path
    timezone: str = "Asia/Shanghai"

    @classmethod
    def under(cls, root: Path, *, lake_dir: Path | None = None, timezone: str = "Asia/Shanghai") -> DbtWorkspace:
        root = Path(root)
        return cls(
            root=root,
            lake_dir=lake_dir if lake_dir is not None else root / "lake",
            warehouse_path=root / "warehouse" / "warehouse.duckdb",
            target_path=root / "dbt_target",
            log_path=root / "dbt_logs",
            timezone=timezone,
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KPI_WAREHOUSE_PATH": str(self.warehouse_path),
            "KPI_LAKE_DIR": str(self.lake_dir),
            "KPI_TIMEZONE": self.timezone,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        })
        return env


def dbt_executable() -> str:
    """The dbt of the interpreter running the tests (the project venv)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(workspace: DbtWorkspace, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``dbt <args>`` on the project with the workspace's warehouse, lake and target path."""
    workspace.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        dbt_executable(), *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(workspace.target_path),
        "--log-path", str(workspace.log_path),
    ]
    result = subprocess.run(
        cmd, cwd=DBT_PROJECT_DIR, env=workspace.env(), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-60:])
        raise AssertionError(f"dbt {' '.join(args)} failed (exit {result.returncode}):\n{tail}\n{result.stderr[-2000:]}")
    return result


def build_core(workspace: DbtWorkspace, *extra: str) -> subprocess.CompletedProcess[str]:
    """Seed + build (models and tests) of the core layers."""
    return run_dbt(workspace, "build", *core_selection_args(), *extra)


def core_selection_args() -> tuple[str, ...]:
    """``--select`` the core layers; only tests whose every parent is selected (``cautious``), so
    tests of later layers that also read a core model stay out."""
    return ("--select", *CORE_SELECTION, "--indirect-selection", "cautious")


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    found = con.execute(sql, params or []).fetchone()
    return None if found is None else found[0]
