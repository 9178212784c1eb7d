"""The README's commands, run as written in a clean environment: no PATH tweaks, no activated venv.

The environment holds only HOME, LANG, a system PATH (without `.venv/bin`: neither `dbt` nor
`duckdb` is on it) and ``KPI_DATA_DIR`` — a private data folder with a real published night (the ops
base environment), which stands for the README's ``data/`` (``$PWD/data/…`` and ``data/…`` in the
commands are replaced by it). Every command is first found verbatim in README.md, so the README and
this test cannot drift apart. Not run here: ``make demo`` / ``make test`` (the whole demo and suite),
``kpi run`` / ``kpi backfill`` (tests/ops/test_runs.py runs them), ``dbt docs serve`` (a server).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import publish_duckdb
from tests.ops.conftest import REPO, BaseEnv

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text(encoding="utf-8")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Clean:
    data: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "LANG": "C.UTF-8", "PATH": SYSTEM_PATH, "KPI_DATA_DIR": str(self.data)}

    def command(self, readme_text: str) -> list[str]:
        """A README command (asserted verbatim in README.md) with the data folder substituted."""
        assert readme_text in README, f"README.md no longer says: {readme_text}"
        text = readme_text.replace("$PWD/data/", f"{self.data}/").replace(" data/", f" {self.data}/")
        return shlex.split(text.split("  #")[0])

    def run(self, readme_text: str, *, cwd: Path = REPO, stdin: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(readme_text), cwd=cwd, env=self.env(), input=stdin,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def clean(ops_base: BaseEnv, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    root = tmp_path_factory.mktemp("readme")
    env = ops_base.env.copy(root)
    home = root / "home"
    home.mkdir()
    for tool in ("dbt", "duckdb", "dagster", "kpi"):  # the README must not rely on them being on PATH
        assert shutil.which(tool, path=SYSTEM_PATH) is None, f"{tool} is on the system PATH: the test proves nothing"
    return Clean(env.data_dir, home)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    return proc.stdout


def test_dagster_dev_loads_the_code_location(clean: Clean) -> None:
    """README: `DAGSTER_HOME=$PWD/data/dagster_home .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1`
    (on a free port instead of 3000): the code location loads — it failed with "dbt executable 'dbt'
    was not found on PATH" while dagster-dbt's preparer looked for dbt on PATH."""
    line = "DAGSTER_HOME=$PWD/data/dagster_home .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1"
    assignment, *command = clean.command(line)
    env = {**clean.env(), assignment.split("=", 1)[0]: assignment.split("=", 1)[1]}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = clean.data.parent / "dagster-dev.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([*command, "-p", str(port)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        entry, assets = _wait_for_location(port, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    error = (entry["locationOrLoadError"] or {}).get("message", "")
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", error or log.read_text()[-3000:]
    assert assets > 100  # the systems, raw tables, every dbt model, seed and snapshot, serving, reports, alerts


def _wait_for_location(port: int, proc: subprocess.Popen, timeout: float = 600) -> tuple[dict, int]:
    query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError {"
             " __typename ... on PythonError { message } } } } } assetNodes { id } }")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dagster dev exited with {proc.returncode}"
        time.sleep(2)
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                             headers={"Content-Type": "application/json"})
            data = json.loads(urllib.request.urlopen(request, timeout=30).read())["data"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        entries = data["workspaceOrError"]["locationEntries"]
        if entries and entries[0]["loadStatus"] == "LOADED":
            return entries[0], len(data.get("assetNodes") or [])
    raise AssertionError("the code location did not load in time")


def test_kpi_lint_and_status(clean: Clean) -> None:
    lint = _ok(clean.run(".venv/bin/kpi lint"))
    assert re.search(r"^0 error\(s\), \d+ warning\(s\)$", lint, flags=re.MULTILINE), lint
    status = _ok(clean.run(".venv/bin/kpi status"))
    assert status.splitlines()[0] == "latest runs:"
    assert "DuckDB (serving/kpi.duckdb)" in status and "{" not in status, status  # text, not a dict
    alerts = [line for line in status.splitlines() if line.startswith("alerts:")]
    assert all(re.fullmatch(r"alerts: (none|[\d,]+ \w+(, [\d,]+ \w+)*)", line) for line in alerts), alerts


def test_kpi_report_for_a_department_in_chinese(clean: Clean) -> None:
    out = _ok(clean.run(".venv/bin/kpi report --org DEP-SALES-EAST --lang zh"))
    written = [Path(line) for line in out.splitlines() if line.endswith(".html")]
    assert written and all(p.is_file() and "/org-DEP-SALES-EAST/" in str(p) for p in written)
    assert "达成" in written[0].read_text(encoding="utf-8") or "KPI" in written[0].read_text(encoding="utf-8")


def test_query_the_warehouse_with_python_the_duckdb_cli_and_parquet(clean: Clean) -> None:
    serving = clean.data / "serving" / "kpi.duckdb"
    python = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
              "print(c.execute('select count(*) from marts.kpi_attainment').fetchone()[0])")
    assert 'duckdb.connect("data/serving/kpi.duckdb", read_only=True)' in README
    rows = int(_ok(subprocess.run([str(REPO / ".venv/bin/python"), "-c", python, str(serving)], cwd=REPO,
                                  env=clean.env(), capture_output=True, text=True, timeout=120)).strip())
    assert rows > 0
    # the first example query of the README, through the DuckDB CLI the README names
    example = re.search(r"```sql\n(.*?)```", README, flags=re.DOTALL).group(1)
    out = _ok(clean.run(".venv/bin/duckdb -readonly data/serving/kpi.duckdb", stdin=example))
    assert "gap_to_date" in out
    count = _ok(clean.run(".venv/bin/duckdb -readonly data/serving/kpi.duckdb",
                          stdin="select count(*) as n from marts.kpi_attainment;"))
    assert str(rows) in count
    assert "data/serving/parquet/<mart>/part-0.parquet" in README
    part = clean.data / "serving" / "parquet" / "kpi_attainment" / "part-0.parquet"
    assert duckdb.execute("select count(*) from read_parquet(?)", [str(part)]).fetchone()[0] == rows


def test_dbt_docs_generate(clean: Clean, ops_project: Path, tmp_path: Path) -> None:
    """`cd dbt_project && ../.venv/bin/dbt docs generate` (in the tests' copy of the project, against
    the private warehouse of the data folder, whose path dbt reads from KPI_WAREHOUSE_PATH)."""
    assert "cd dbt_project && ../.venv/bin/dbt docs generate" in README
    project = tmp_path / "dbt_project"
    shutil.copytree(ops_project, project)
    env = {**clean.env(), "KPI_WAREHOUSE_PATH": str(clean.data / "warehouse" / "warehouse.duckdb"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "dbt"), "docs", "generate"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    catalog = json.loads((project / "target" / "catalog.json").read_text(encoding="utf-8"))
    assert "model.kpi_warehouse.kpi_attainment" in catalog["nodes"]


def test_ack_checkin_publish_and_rollback(clean: Clean) -> None:
    outbox = clean.data / "state" / "alerts.sqlite"
    with sqlite3.connect(outbox) as con:
        row = con.execute("select alert_id from outbox order by alert_id limit 1").fetchone()
    ack = clean.command(".venv/bin/kpi ack <alert id or token>")[:-4]
    proc = subprocess.run([*ack, row[0] if row else "no-such-alert"], cwd=REPO, env=clean.env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == (0 if row else 2) and "Traceback" not in proc.stdout + proc.stderr

    line = ('.venv/bin/kpi checkin --kpi net_revenue --org DEP-SALES-EAST --period 2025-10-01 --author E00012 '
            '--comment "…"')
    assert "check-in saved to" in _ok(clean.run(line))

    assert "published the last good build to every serving target:" in _ok(clean.run(".venv/bin/kpi publish"))
    # a second night (the same warehouse published again), then the README's roll-back
    base = os.readlink(clean.data / "serving" / "kpi.duckdb")
    publish_duckdb(clean.data / "warehouse" / "warehouse.duckdb", clean.data / "serving", run_id="readme-night")
    _ok(clean.run(".venv/bin/kpi publish"))
    out = _ok(clean.run(".venv/bin/kpi rollback"))
    assert os.readlink(clean.data / "serving" / "kpi.duckdb") == base
    night = base.removeprefix("nights/kpi-").removesuffix(".duckdb")[:8]
    assert re.search(rf"DuckDB \(serving/kpi.duckdb\)\s+night {night}", out), out
    assert re.search(rf"Parquet \(serving/parquet/\)\s+night {night}", out), out
