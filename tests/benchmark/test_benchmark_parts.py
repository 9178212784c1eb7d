"""The benchmark package's small parts: the process sampler, the phase arithmetic, the report.

No timing is asserted: the sampler is checked on memory a child process is known to hold, the report
on a report dict built by hand.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pipelines.benchmark as bench
from pipelines.benchmark.phases import length, minus, union
from pipelines.benchmark.queries import analyst_queries, percentile
from pipelines.benchmark.report import goals, markdown, ratios
from pipelines.benchmark.sampler import Sample, TreeSampler, run_measured

PACKAGE = Path(bench.__file__).parent

# --- the sampler ---------------------------------------------------------------------------------------

#: a parent that starts a child; each holds ~M MB (written, so resident) until the parent exits
_TREE = textwrap.dedent("""
    import subprocess, sys, time
    mb = int(sys.argv[1])
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    if sys.argv[2] == "parent":
        child = subprocess.Popen([sys.executable, __file__, sys.argv[1], "child"])
        time.sleep(1.5)
        child.kill()
        child.wait()
    else:
        time.sleep(30)
""")


def test_run_measured_samples_the_whole_process_tree(tmp_path):
    script = tmp_path / "tree.py"
    script.write_text(_TREE)
    measured, sampler = run_measured("tree", [sys.executable, str(script), "150", "parent"], {},
                                     tmp_path / "tree.log", interval=0.05)
    assert measured.returncode == 0
    # the parent (150 MB) alone, then parent + child (300 MB): the peak is the tree's, not one process's
    assert 280 <= measured.peak_mb <= 600, measured
    assert 140 <= measured.largest_mb <= 300, measured
    assert measured.peak_mb > measured.largest_mb * 1.7
    assert measured.cpu_s > 0 and measured.wall_s > 1
    assert sampler.samples and sampler.samples[0].t <= sampler.samples[-1].t
    brief = measured.brief()
    assert "result" not in brief and brief["label"] == "tree" and brief["log"].endswith("tree.log")


def test_sampler_window_takes_the_cpu_between_two_times_and_the_peak_inside():
    sampler = TreeSampler(root=0)
    sampler.samples = [Sample(t=t, rss=rss * 2**20, cpu=cpu, largest=0)
                       for t, rss, cpu in ((0, 100, 0.0), (1, 300, 1.0), (2, 200, 3.5), (3, 50, 4.0))]
    assert sampler.window(1, 2) == {"peak_mb": 300.0, "cpu_s": 2.5}
    assert sampler.window(0.5, 2.5) == {"peak_mb": 300.0, "cpu_s": 4.0}  # 0.0 before, 4.0 after
    assert sampler.window(5, 6) == {"peak_mb": 0.0, "cpu_s": 0.0}
    assert sampler.peak_mb() == 300.0


def test_sampler_of_a_process_that_is_gone_records_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    sampler = TreeSampler(proc.pid)
    sampler.sample()
    assert sampler.samples == []


# --- phases and queries ----------------------------------------------------------------------------------


def test_interval_arithmetic():
    merged = union([(5, 7), (0, 2), (1, 3), (7, 8)])
    assert merged == [(0, 3), (5, 8)]
    assert length(merged) == 6
    assert minus([(0, 10)], [(2, 3), (5, 12)]) == [(0, 2), (3, 5)]
    assert minus([(0, 10)], []) == [(0, 10)]


def test_percentile_and_query_file(tmp_path):
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([], 95) != percentile([], 95)  # nan
    sql = tmp_path / "q.sql"
    sql.write_text("-- one\nselect 1;\n\n-- two; with a semicolon in a comment\nselect 2\n;\n")
    assert analyst_queries(sql) == ["select 1", "select 2"]


# --- the report ---------------------------------------------------------------------------------------------


def _run(wall: float, peak: float, dbt_wall: float | None = None, dbt_peak: float = 0.0) -> dict:
    phases = {"extract": {"wall_s": wall / 2, "cpu_s": 1.0, "peak_mb": peak}}
    if dbt_wall is not None:
        phases["dbt step"] = {"wall_s": dbt_wall, "cpu_s": 1.0, "peak_mb": dbt_peak, "startup_s": 2.0}
    return {"total": {"wall_s": wall, "cpu_s": wall, "peak_mb": peak}, "phases": phases,
            "dbt_slowest": [["model.kpi.fct_orders", 3.2]]}


def _night(n: int, wall: float, scheduled: float, earlier: int) -> dict:
    return {"night": n, "day": f"2025-11-1{n}", "sensor": {"for_earlier_days": ["2025-11-01"] * earlier},
            "late_runs": [{"partition": "2025-11-01"}] * earlier, "scheduled": _run(scheduled, 900),
            "total": {"wall_s": wall, "cpu_s": wall, "peak_mb": 900, "runs": earlier + 1}}


def _scale(scale: float, first: float, nights: list[float]) -> dict:
    return {
        "scale": scale, "source_rows": 1_000_000, "generate": {"wall_s": 10, "cpu_s": 9, "peak_mb": 500},
        "sources_first_load": {"seconds": 1.5},
        "first_load": _run(first, 3000, dbt_wall=first / 2, dbt_peak=2000),
        "replay": [_night(i + 1, w, w / 2, 1) for i, w in enumerate(nights)],
        "no_new_data": _run(12.0, 800),
        "floor": {"query_s": 10.0, "wall_s": 12.0, "peak_mb": 700},
        "pandas": {"compute_s": 150.0, "cpu_s": 160, "peak_mb": 5000},
        "checks": {"floor_vs_pandas": {"same": True, "compared": 1234, "mismatched": 0, "only_in_a": 0,
                                       "only_in_b": 0}},
        "queries": {"p50_ms": 2.0, "p95_ms": 4.2},
    }


def _report(scales: list[dict]) -> dict:
    fixed = {"days": 7, "run": _run(30.0, 600, dbt_wall=20.0)}
    report = {"started_at": "2025-11-20 00:00 UTC", "start": "2024-01-01", "end": "2025-11-19",
              "first_load_end": "2025-11-12", "nights": 7, "host": {"cpus": 2, "mem_gb": 8.0, "load_start": 1.0},
              "fixed": fixed, "scales": scales}
    report["ratios"] = ratios(scales, fixed)
    return report


def test_goals_are_computed_from_the_largest_scale():
    report = _report([_scale(1.0, 40.0, [10, 11, 12]), _scale(10.0, 280.0, [20, 25, 30, 26, 27, 40, 22])])
    r = report["ratios"]["per_scale"]["10"]
    assert r["night_median_s"] == 26.0
    assert r["night_median_over_first_load"] == 0.0929  # three significant digits
    assert r["dbt_data_dependent_s"] == 120.0 and r["dbt_data_dependent_over_floor"] == 12.0
    assert r["pandas_time_over_engine"] == 1.07 and r["pandas_mem_over_engine"] == 2.5
    assert report["ratios"]["scale10_over_scale1"]["first_load"] == 7.0
    table = {g.name: g for g in goals(report)}
    assert table["first load, full history"].met is True                 # 280 s, 2.9 GB
    assert table["one replayed night (median of 7)"].met is True          # 26 s, 9 %
    assert table["night with no new data"].met is True                    # 12 s
    assert table["dbt data-dependent time / floor"].met is False          # 12×
    assert table["pandas / our engine (dbt step), same KPIs"].met is False  # time 1.07×
    assert table["time(scale 10) / time(scale 1), first load"].now == "7"
    assert table["analyst query p95 on the serving copy"].now == "4.2 ms"


def test_a_fixed_start_up_longer_than_the_dbt_step_gives_no_data_dependent_ratio():
    report = _report([_scale(1.0, 30.0, [10])])  # dbt step 15 s, fixed dbt step 20 s (a busy machine)
    r = report["ratios"]["per_scale"]["1"]
    assert r["dbt_data_dependent_s"] == -5.0 and r["dbt_data_dependent_over_floor"] is None
    for night in report["scales"][0]["replay"]:
        night["late_runs"] = []  # --late-runs skip: the night's figure lacks what the sensor asked for
    night = {g.name: g for g in goals(report)}["one replayed night (median of 1)"]
    assert night.now.endswith("; scheduled runs only: 1 runs the sensor requested for earlier days not run")
    goal = {g.name: g for g in goals(report)}["dbt data-dependent time / floor"]
    assert goal.met is None and goal.mark == "–"
    assert goal.now == "not measurable: first-load dbt step − fixed dbt step = -5 s (floor 10 s)"


def test_markdown_has_the_goals_table_and_the_nights():
    report = _report([_scale(0.05, 100.0, [30.0, 50.0])])
    report["settings"] = {"KPI_DUCKDB_MEMORY_LIMIT": "2500MB"}  # what the run was measured with
    text = markdown(report)
    assert "each against the sources as of that night. KPI_DUCKDB_MEMORY_LIMIT=2500MB.\n" in text
    assert "## Goals (issue 14) at scale 0.05" in text
    assert "The goals are set for scale 10; this run's largest scale is 0.05." in text
    assert "| first load, full history | 100 s · 2.9 GB | ≤ 300 s · ≤ 4 GB | yes |" in text
    assert "| one replayed night (median of 2) | 40.0 s (40% of the first load) | ≤ 10% of the first load, " \
           "and ≤ 45 s | **no** |" in text
    assert "| time(scale 10) / time(scale 1), first load | – | ≤ 12 | – |" in text
    assert "| night 2 | 50.0 s · 900 MB · 2 run(s) (sensor: 1 earlier day(s)) |" in text
    assert "| **median night** | **40 s** |" in text
    assert "pandas: yes (1,234 rows)" in text
    assert "fct_orders 3.2" in text


# --- an importable package, independent of the checkout ---------------------------------------------------


def test_kpi_bench_help_runs_from_an_installed_package(tmp_path):
    """From another folder, with nothing of the checkout on sys.path but the installed packages."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for argv in (["-m", "pipelines.cli", "bench", "--", "--help"], ["-m", "pipelines.benchmark", "--help"]):
        out = subprocess.run([sys.executable, "-P", *argv], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "--nights" in out.stdout and "--late-runs" in out.stdout
    plain = subprocess.run([sys.executable, "-P", "-m", "pipelines.cli", "bench", "--help"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and "usage: kpi bench" in plain.stdout
    probe = subprocess.run([sys.executable, "-P", "-c", "import benchmarks"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0  # the checkout's benchmarks/ folder is not what kpi bench runs


def test_no_part_reads_files_next_to_its_own_source():
    """No `__file__`, no `.parent` chains, no runpy: paths come from settings or the options."""
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                   for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "__file__" not in names, path.name
        assert "runpy" not in modules and "REPO_ROOT" not in modules, path.name
        parents = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "parent"
                   and isinstance(n.value, ast.Attribute) and n.value.attr == "parent"]
        assert not parents, path.name


def test_the_children_get_the_engine_settings_and_nothing_else_of_ours(monkeypatch, tmp_path):
    from datetime import date

    from pipelines.benchmark.runs import env_for

    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", "2500MB")
    monkeypatch.setenv("KPI_DUCKDB_THREADS", "1")
    monkeypatch.setenv("KPI_WAREHOUSE_PATH", "/somewhere/else.duckdb")  # would point a child elsewhere
    monkeypatch.setenv("DAGSTER_HOME", "/somewhere/else")
    env = env_for(tmp_path, date(2025, 1, 1), date(2025, 1, 31), 0.5)
    assert env["KPI_DUCKDB_MEMORY_LIMIT"] == "2500MB" and env["KPI_DUCKDB_THREADS"] == "1"
    assert "KPI_WAREHOUSE_PATH" not in env and "DAGSTER_HOME" not in env
    assert env["KPI_DATA_DIR"] == str(tmp_path) and env["KPI_DEMO_SCALE"] == "0.5"
