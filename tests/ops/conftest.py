"""One tiny demo company, run through the real pipeline once per session; private copies per scenario.

Every pipeline run happens in a child process (``tests/ops/_runner.py``) with its own environment:
``KPI_DATA_DIR`` points at a temporary data folder (never ``./data``), so settings, the Dagster
instance (``<data>/dagster_home``), the lake, the warehouse and the serving copy are private to the
scenario. The dbt project is a copy taken once per session, with its own manifest (see _runner.py).

Cost (measured, see the report of issue 7): generating the company takes about a second; each
pipeline run costs roughly 1–5 minutes (most of it the full ``dbt build`` of ~430 nodes, which does
not shrink with the data), so the scenarios share the base environment and copy it (a few MB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The demo company: two months around the 2024-07-01 re-organisation, 2 % of scale 1.
SCALE = 0.02
START, END = date(2024, 6, 1), date(2024, 7, 30)
#: The base environment extracts and builds everything up to here in one range run …
HISTORY_END = date(2024, 7, 23)
#: … and the scenarios run the last week (one backfill, seven nightly runs, a killed run, …).
WEEK = [HISTORY_END + timedelta(days=i) for i in range(1, 8)]
#: Generous limit for one pipeline run in a child process (a hang must fail, not block the suite).
RUN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class OpsEnv:
    """A private data folder and the commands that run the pipeline on it."""

    data_dir: Path
    project: Path

    @property
    def serving_file(self) -> Path:
        return self.data_dir / "serving" / "kpi.duckdb"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse" / "warehouse.duckdb"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
        env.update({"KPI_DATA_DIR": str(self.data_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                    "PYTHONUNBUFFERED": "1"})
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tests.ops._runner", str(self.project), *args]

    def run(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=REPO, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *args: str, log: Path) -> subprocess.Popen:
        with open(log, "w", encoding="utf-8") as out:
            return subprocess.Popen(self.command(*args), cwd=REPO, env=self.env(), stdout=out,
                                    stderr=subprocess.STDOUT, text=True)

    def nightly(self, name: str, *args: str, timeout: float = RUN_TIMEOUT_S) -> list[dict]:
        """``run_nightly`` in a child process; the outcome of each run it made."""
        result = self.data_dir.parent / f"{name}.json"
        proc = self.run("nightly", str(result), *args, timeout=timeout)
        assert proc.returncode == 0 and result.exists(), proc.stdout[-4000:] + proc.stderr[-4000:]
        return json.loads(result.read_text(encoding="utf-8"))

    def copy(self, dst: Path) -> OpsEnv:
        shutil.copytree(self.data_dir, dst / "data", symlinks=True)
        return OpsEnv(dst / "data", self.project)


@dataclass(frozen=True)
class BaseEnv:
    env: OpsEnv
    history_run: dict


@pytest.fixture(scope="session")
def ops_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of dbt_project with the compiled catalog and its manifest (`kpi prepare`)."""
    root = tmp_path_factory.mktemp("ops_dbt")
    project = root / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "generated"))
    env = OpsEnv(root / "data", project)
    proc = env.run("prepare", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (project / "target" / "manifest.json").is_file()
    return project


@pytest.fixture(scope="session")
def ops_base(tmp_path_factory: pytest.TempPathFactory, ops_project: Path) -> Iterator[BaseEnv]:
    """The demo company generated, extracted and built through HISTORY_END in one range run."""
    from pipelines.demo import generate

    root = tmp_path_factory.mktemp("ops_base")
    env = OpsEnv(root / "data", ops_project)
    generate(env.data_dir, scale=SCALE, start=START, end=END)
    [run] = env.nightly("history", "--start", START.isoformat(), "--end", HISTORY_END.isoformat(),
                        "--as-of", HISTORY_END.isoformat())
    assert run["success"], run["summary"]
    assert env.serving_file.is_file()
    yield BaseEnv(env, run)
