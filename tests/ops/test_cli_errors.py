"""Every user error of the `kpi` CLI is one clear line and its exit code, never a traceback.

Real processes (the `kpi` console script, or ``tests.ops._runner`` bound to a private dbt project
copy), real files; a read-only and a full file system are real tmpfs mounts (root only: skipped
elsewhere). Exit codes: 0 ok, 1 failed, 2 usage/configuration, 3 blocking check, 4 invalid catalog,
5 published with sources missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.publish import publish_duckdb
from tests.ops.conftest import REPO, OpsEnv
from tests.publish._synthetic import build_warehouse

KPI = str(Path(sys.executable).with_name("kpi"))


def _kpi(data_dir: Path, *args: str, timeout: float = 300, project: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    """``kpi`` on ``data_dir``; commands that build (run) need a prepared ``project`` (the ``ops_project``
    copy): a fresh clone's own dbt_project has no manifest until ``kpi prepare``."""
    env = OpsEnv(data_dir, project or REPO / "dbt_project").env()
    if project is not None:
        env["KPI_DBT_PROJECT_DIR"] = str(project)
    return subprocess.run([KPI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _one_clear_line(proc: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    """The process exited with ``code`` and said why in one line holding ``expected``, no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    lines = [line for line in out.splitlines() if all(e in line for e in expected)]
    assert lines, f"no line holds {expected}:\n{out[-3000:]}"
    return lines[0]


def _project_copy(root: Path) -> Path:
    project = root / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "generated"))
    return project


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A data folder with a (synthetic) published night."""
    data = tmp_path / "data"
    warehouse = tmp_path / "warehouse.duckdb"
    build_warehouse(warehouse, "run-0a1b2c3d")
    publish_duckdb(warehouse, data / "serving", run_id="run-0a1b2c3d")
    build_warehouse(warehouse, "run-9f8e7d6c")
    publish_duckdb(warehouse, data / "serving", run_id="run-9f8e7d6c")
    return data


def test_kpis_not_a_list_is_a_catalog_error_in_lint(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(REPO / "dbt_project" / "catalog", catalog)
    (catalog / "broken.yml").write_text("kpis: 5\n", encoding="utf-8")
    proc = _kpi(tmp_path / "data", "lint", "--catalog", str(catalog))
    line = _one_clear_line(proc, 4, "broken.yml", "kpis")
    assert "must be a list of entries, not int 5" in line
    # `kpi report` lints the catalog for the quality report the same way: a finding, not a TypeError
    from quality.catalog import lint_catalog

    findings = lint_catalog(catalog, REPO / "dbt_project")
    assert [(f.file, f.field, f.severity) for f in findings if f.file == "broken.yml"] == [("broken.yml", "kpis", "error")]


def test_kpis_not_a_list_stops_prepare_and_run_with_exit_4(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    (project / "catalog" / "broken.yml").write_text("kpis: 5\n", encoding="utf-8")
    env = OpsEnv(tmp_path / "data", project)
    _one_clear_line(env.run("cli", "prepare", timeout=300), 4, "KPI catalog is invalid")
    proc = env.run("cli", "run", "--date", "2024-07-24", timeout=300)
    _one_clear_line(proc, 4, "kpi run: KPI catalog is invalid", "the last valid catalog stays in use")
    assert "broken.yml: kpis: must be a list" in proc.stdout
    assert not (tmp_path / "data" / "dagster_home").exists()  # nothing was run


def test_run_with_an_invalid_kpi_exits_4_before_running(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    path = project / "catalog" / "revenue.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    objective: grow_revenue\n", "    objective: grow_revenu\n", 1), encoding="utf-8")
    proc = OpsEnv(tmp_path / "data", project).run("cli", "run", "--date", "2024-07-24", timeout=300)
    _one_clear_line(proc, 4, "KPI catalog is invalid")
    assert "unknown objective 'grow_revenu'" in proc.stdout


def test_rollback_to_an_unknown_night(served: Path) -> None:
    line = _one_clear_line(_kpi(served, "rollback", "--to", "deadbeef"), 2, "deadbeef")
    assert line == "kpi rollback: night 'deadbeef' is not a kept night (kept: run-0a1b, run-9f8e)"
    # a prefix of a kept night is enough (kpi status shows 8 characters)
    proc = _kpi(served, "rollback", "--to", "run-0a1b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    served_now = dict(re.findall(r"^  (\w+) \(.*?\)\s+night (\S+)", proc.stdout, flags=re.MULTILINE))
    assert served_now == {"DuckDB": "run-0a1b", "Parquet": "run-0a1b"}, proc.stdout  # every target moved
    assert os.readlink(served / "serving" / "kpi.duckdb") == "nights/kpi-run-0a1b2c3d.duckdb"


def test_report_for_an_unknown_org_unit(served: Path) -> None:
    line = _one_clear_line(_kpi(served, "report", "--org", "NOPE"), 2, "NOPE")
    assert line.startswith("kpi report: org unit 'NOPE' is not in marts.dim_org_unit (known: ACME, DIV-SALES")
    assert not (served / "reports").exists()


def test_report_and_status_before_anything_is_published(tmp_path: Path) -> None:
    _one_clear_line(_kpi(tmp_path / "data", "report"), 2, "nothing is published yet", "kpi run")
    _one_clear_line(_kpi(tmp_path / "data", "rollback"), 1, "no published copies to roll back to")


def test_publish_a_unit_needs_both_options_and_a_known_unit(served: Path, tmp_path: Path) -> None:
    _one_clear_line(_kpi(served, "publish", "--org", "DIV-SALES"), 2, "--org and --to go together")
    _one_clear_line(_kpi(served, "publish", "--org", "NOPE", "--to", str(tmp_path / "x")), 2, "'NOPE'")
    proc = _kpi(served, "publish", "--org", "DIV-SALES", "--to", str(tmp_path / "sales"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DIV-SALES: 2 org unit(s)" in proc.stdout and (tmp_path / "sales" / "kpi.duckdb").is_file()


def test_a_bad_setting_is_named(served: Path) -> None:
    env = OpsEnv(served, REPO / "dbt_project").env()
    env["KPI_SERVING_KEEP"] = "many"
    proc = subprocess.run([KPI, "status"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    _one_clear_line(proc, 2, "configuration: KPI_SERVING_KEEP")


# ------------------------------------------------------------------------------------------------
# a read-only data folder, a full disk: real tmpfs mounts
# ------------------------------------------------------------------------------------------------
@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_read_only_data_folder_is_one_line(served: Path, tmp_path: Path, ops_project: Path) -> None:
    with tmpfs(tmp_path / "ro", "64m") as mount:
        shutil.copytree(served, mount / "data", symlinks=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        proc = _kpi(mount / "data", "run", "--date", "2024-07-24", project=ops_project)
        line = _one_clear_line(proc, 2, "cannot write", str(mount / "data"))
        assert "Read-only file system" in line and "must be writable" in line


def test_a_full_disk_says_what_and_where(served: Path, tmp_path: Path, ops_project: Path) -> None:
    with tmpfs(tmp_path / "full", "8m") as mount:
        data = mount / "data"
        data.mkdir()
        with open(mount / "filler", "wb") as fh:  # fill the file system to the last block
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        proc = _kpi(data, "run", "--date", "2024-07-24", project=ops_project)
        line = _one_clear_line(proc, 1, "disk full", str(data))
        assert "0.0 MB free on" in line
