"""The runs of one scale factor: what a real deployment does over its first load and the nights after.

Per scale, in one benchmark run:

1. generate the demo company with its faithful history (not part of any nightly figure);
2. write the sources as they stood at the end of day D = end − nights, and run the **first load**: one
   in-process Dagster run of the ``nightly`` job over start … D (what ``kpi backfill`` does);
3. **replay the nights** D+1 … end: before each, the sources are rewritten as they stood at the end of
   that day (new and changed rows in the databases, the landing files delivered that day, late files,
   re-exported files); then the project's late-files sensor is evaluated as the Dagster daemon would
   (its cursor kept between nights) and every run it requests for an *earlier* day is executed as
   requested (``--late-runs sensor``), and then the scheduled run of the day (one partition). A night's
   figure is the sum of its runs;
4. the last night again with nothing new (the night with no new data);
5. the floor query, its pandas twin and ``marts.kpi_actuals`` on the lake and serving copy of the last
   night, and the analyst queries on that serving copy.

Once per benchmark run, the fixed start-up: the nightly job over a near-empty lake (scale 0.01, a few
days), i.e. what Dagster and dbt cost with (almost) no data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.demo.as_of import write_sources_as_of

from .compare import compare_actuals
from .phases import phases
from .queries import time_queries
from .sampler import run_measured


@dataclass(frozen=True)
class Options:
    start: date
    end: date
    seed: int
    timezone: str
    nights: int
    late_runs: str              # "sensor": run what the late-files sensor requests; "skip": count them only
    rerun: bool
    skip_pandas: bool
    query_runs: int
    queries_path: Path | None
    fixed_days: int
    keep: bool

    @property
    def first_load_end(self) -> date:
        return self.end - timedelta(days=self.nights)


def say(text: str) -> None:
    print(text, flush=True)


#: Settings the children take from the benchmark's own environment (what the run is measured with; the
#: report names those that were set): the selective build, DuckDB's memory limit and threads.
PASSED_SETTINGS = ("KPI_DBT_SKIP_UNCHANGED", "KPI_DUCKDB_MEMORY_LIMIT", "KPI_DUCKDB_THREADS")


def env_for(data_dir: Path, start: date, end: date, scale: float) -> dict[str, str]:
    """The children's environment: this scale's data directory, nothing inherited from KPI_* / DAGSTER_*
    but PASSED_SETTINGS."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KPI_", "DAGSTER_")) or k in PASSED_SETTINGS}
    env.update({
        "KPI_DATA_DIR": str(data_dir), "KPI_DEMO_START": start.isoformat(), "KPI_DEMO_END": end.isoformat(),
        "KPI_DEMO_SCALE": str(scale), "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1",
    })
    return env


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def child(*args: str) -> list[str]:
    """A command line running one of this package's child entry points."""
    return python("-m", "pipelines.benchmark", *args)


def nightly(label: str, env: dict[str, str], logs: Path, *, start: date | None = None, end: date | None = None,
            as_of: date | None = None, partition: date | None = None,
            assets: list[str] | None = None) -> dict[str, Any]:
    """One run of the nightly job in its own measured process; its phases."""
    result_path = logs / f"{label}.json"
    args = child("_nightly", "--result", str(result_path))
    if assets:
        args += ["--assets", json.dumps(assets)]
    if partition is not None:
        args += ["--partition", partition.isoformat()]
    else:
        if start is None or end is None:
            raise ValueError("a range run needs start and end")
        args += ["--start", start.isoformat(), "--end", end.isoformat()]
        if as_of is not None:
            args += ["--as-of", as_of.isoformat()]
    measured, sampler = run_measured(label, args, env, logs / f"{label}.log", result_path)
    if measured.returncode != 0 or not measured.result.get("success"):
        raise RuntimeError(f"{label} failed (exit {measured.returncode}); see {measured.log}: "
                           f"{measured.result.get('summary', '')}")
    dbt = measured.result.get("dbt") or {}
    return {"total": measured.brief(), "phases": phases(measured, sampler), "dbt_slowest": dbt.get("slowest", [])[:15],
            "dbt_nodes": dbt.get("node_count")}


def sources_as_of(history: Path, data_dir: Path, day: date) -> dict[str, Any]:
    """Rewrite the data directory's sources as they stood at the end of ``day`` (not a nightly figure)."""
    started = time.perf_counter()
    result = write_sources_as_of(history, data_dir, day)
    return {"day": day.isoformat(), "seconds": round(time.perf_counter() - started, 2),
            "database_rows": sum(result.row_counts.values()), "landing_files": result.landing_files,
            "landing_written": len(result.written), "landing_removed": len(result.removed),
            "landing_written_for_earlier_days": sorted(
                f for f in result.written if f.rsplit("_", 1)[-1][:8] < day.strftime("%Y%m%d"))}


def sensor_requests(env: dict[str, str], logs: Path, label: str) -> dict[str, Any]:
    """Evaluate the late-files sensor once (cursor in ``logs/sensor_cursor.txt``); the runs it requests."""
    result_path = logs / f"{label}.json"
    measured, _ = run_measured(label, child("_sensor", "--cursor", str(logs / "sensor_cursor.txt"),
                                            "--result", str(result_path)), env, logs / f"{label}.log", result_path)
    if measured.returncode != 0:
        raise RuntimeError(f"evaluating the late-files sensor failed; see {measured.log}")
    return measured.result


def replay_night(n: int, day: date, history: Path, data_dir: Path, env: dict[str, str], logs: Path,
                 opts: Options) -> dict[str, Any]:
    """Night ``n``: the sources of ``day``, the sensor's runs for earlier days, the scheduled run."""
    out: dict[str, Any] = {"night": n, "day": day.isoformat(), "sources": sources_as_of(history, data_dir, day)}
    requested = sensor_requests(env, logs, f"night{n}-sensor")["requests"]
    earlier = [r for r in requested if late_days(r)[-1] < day.isoformat()]
    # a file of the night's own day is read by the scheduled run of that day
    out["sensor"] = {"requests": len(requested), "for_earlier_days": ["…".join(late_days(r)) for r in earlier],
                     "for_the_day_itself": len(requested) - len(earlier)}
    out["late_runs"] = []
    if opts.late_runs == "sensor":
        for r in earlier:
            days = late_days(r)
            label = "…".join(days)
            if r.get("partition"):
                run = nightly(f"night{n}-late-{label}", env, logs, partition=date.fromisoformat(r["partition"]),
                              assets=r["assets"])
            else:  # several late days: one range run, as the sensor requests it
                run = nightly(f"night{n}-late-{label}", env, logs, start=date.fromisoformat(days[0]),
                              end=date.fromisoformat(days[-1]), assets=r["assets"])
            out["late_runs"].append({"partition": label, "total": run["total"], "phases": run["phases"]})
    out["scheduled"] = nightly(f"night{n}", env, logs, partition=day)
    every = [run["total"] for run in out["late_runs"]] + [out["scheduled"]["total"]]
    out["total"] = {"wall_s": round(sum(t["wall_s"] for t in every), 2),
                    "cpu_s": round(sum(t["cpu_s"] for t in every), 1),
                    "peak_mb": max(t["peak_mb"] for t in every), "runs": len(every)}
    return out


def late_days(request: dict[str, Any]) -> list[str]:
    """The day, or first and last day, a run request of the late-files sensor is for."""
    if request.get("partition"):
        return [request["partition"]]
    return [request["start"], request["end"]]


def generate_history(history: Path, scale: float, env: dict[str, str], logs: Path, opts: Options,
                     with_history: bool = True) -> dict[str, Any]:
    args = python("-m", "pipelines.demo", "--data-dir", str(history), "--scale", str(scale), "--seed",
                  str(opts.seed), "--start", opts.start.isoformat(), "--end", opts.end.isoformat(),
                  "--timezone", opts.timezone)
    measured, _ = run_measured("generate", args + (["--history"] if with_history else []), env,
                               logs / "generate.log")
    if measured.returncode != 0:
        raise RuntimeError(f"generation failed; see {measured.log}")
    return measured.brief()


def bench_scale(scale: float, work: Path, opts: Options) -> dict[str, Any]:
    root = work / f"scale-{scale:g}"
    history, data_dir, logs = root / "history", root / "data", root / "_bench"
    if root.exists():
        shutil.rmtree(root)
    logs.mkdir(parents=True)
    d = opts.first_load_end
    env = env_for(data_dir, opts.start, opts.end, scale)
    out: dict[str, Any] = {"scale": scale, "start": opts.start.isoformat(), "end": opts.end.isoformat(),
                           "first_load_end": d.isoformat(), "nights": opts.nights}

    say(f"[scale {scale:g}] generating the demo company with its history")
    out["generate"] = generate_history(history, scale, env, logs, opts)
    manifest = json.loads((history / "ground_truth" / "manifest.json").read_text(encoding="utf-8"))
    out["row_counts"] = manifest.get("row_counts", {})
    out["source_rows"] = sum(out["row_counts"].values())
    out["sources_first_load"] = sources_as_of(history, data_dir, d)

    say(f"[scale {scale:g}] first load {opts.start} … {d} (sources as of {d})")
    out["first_load"] = nightly("first-load", env, logs, start=opts.start, end=d, as_of=d)
    say(f"[scale {scale:g}]   {out['first_load']['total']['wall_s']:.0f} s, "
        f"peak {out['first_load']['total']['peak_mb']:.0f} MB")
    sensor_requests(env, logs, "sensor-start")  # the sensor's first look: remembers the files there

    out["replay"] = []
    for n in range(1, opts.nights + 1):
        day = d + timedelta(days=n)
        night = replay_night(n, day, history, data_dir, env, logs, opts)
        out["replay"].append(night)
        say(f"[scale {scale:g}] night {n} ({day}): {night['total']['wall_s']:.0f} s in {night['total']['runs']} "
            f"run(s); scheduled {night['scheduled']['total']['wall_s']:.0f} s; sensor asked for "
            f"{len(night['sensor']['for_earlier_days'])} earlier day(s)")
    last = opts.end if opts.nights else d
    if opts.rerun:
        say(f"[scale {scale:g}] the last night again, no new data")
        out["no_new_data"] = nightly("no-new-data", env, logs, partition=last)
    out.update(answers(data_dir, logs, env, last, opts, scale))
    out["disk_mb"] = {name: round(_du(p) / 2**20, 1) for name, p in (
        ("history", history), ("sources", data_dir / "sources"), ("landing", data_dir / "landing"),
        ("lake", data_dir / "lake"), ("warehouse", data_dir / "warehouse"), ("serving", data_dir / "serving"))}
    if not opts.keep:
        shutil.rmtree(root, ignore_errors=True)
    return out


def answers(data_dir: Path, logs: Path, env: dict[str, str], as_of: date, opts: Options,
            scale: float) -> dict[str, Any]:
    """The floor and pandas on the lake, compared with the serving copy; the analyst queries."""
    out: dict[str, Any] = {}
    common = ["--lake", str(data_dir / "lake"), "--start", opts.start.isoformat(), "--as-of", as_of.isoformat(),
              "--timezone", opts.timezone]
    kinds = ["floor"] + ([] if opts.skip_pandas else ["pandas"])
    for kind in kinds:
        say(f"[scale {scale:g}] {kind}")
        result = logs / f"{kind}.json"
        measured, _ = run_measured(kind, child(f"_{kind}", *common, "--output", str(logs / f"{kind}.parquet"),
                                               "--result", str(result)), env, logs / f"{kind}.log", result)
        if measured.returncode != 0:
            raise RuntimeError(f"{kind} failed; see {measured.log}")
        key = "query_s" if kind == "floor" else "compute_s"
        out[kind] = measured.brief() | {key: round(measured.result["seconds"], 2), "rows": measured.result["rows"]}
    serving = data_dir / "serving" / "kpi.duckdb"
    floor_frame = pd.read_parquet(logs / "floor.parquet")
    pandas_frame = floor_frame if opts.skip_pandas else pd.read_parquet(logs / "pandas.parquet")
    out["checks"] = compare_actuals(floor_frame, pandas_frame, serving, as_of)
    if opts.queries_path is not None and opts.queries_path.is_file():
        say(f"[scale {scale:g}] analyst queries ({opts.query_runs} runs each)")
        out["queries"] = time_queries(serving, opts.queries_path, opts.query_runs)
    return out


def bench_fixed(work: Path, opts: Options) -> dict[str, Any]:
    """The nightly job over a near-empty lake: Dagster's and dbt's fixed start-up."""
    start, end = opts.end - timedelta(days=opts.fixed_days - 1), opts.end
    data_dir = work / "fixed"
    logs = data_dir / "_bench"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    logs.mkdir(parents=True)
    env = env_for(data_dir, start, end, 0.01)
    small = dataclasses.replace(opts, start=start)
    generate_history(data_dir, 0.01, env, logs, small, with_history=False)
    out = {"days": opts.fixed_days, "scale": 0.01, "run": nightly("fixed", env, logs, start=start, end=end, as_of=end)}
    if not opts.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
