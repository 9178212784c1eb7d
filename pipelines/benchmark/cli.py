"""``kpi bench`` / ``python -m pipelines.benchmark``: the options, the run over the scales, the files."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import child
from .report import markdown, ratios
from .runs import PASSED_SETTINGS, Options, bench_fixed, bench_scale, env_for, python, say
from .sampler import loadavg, mem_gb, run_measured

DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 11, 19)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kpi bench",
        description="Benchmark the nightly pipeline: the first load up to a day, then replayed nights against "
                    "the sources as they stood on each, against the floor, pandas and growing data.")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    p.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day of the demo history")
    p.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last day (the last replayed night)")
    p.add_argument("--nights", type=int, default=7,
                   help="nights replayed after the first load (the first load ends NIGHTS days before --end)")
    p.add_argument("--late-runs", choices=("sensor", "skip"), default="sensor",
                   help="sensor: run what the late-files sensor requests for earlier days each night (default); "
                        "skip: only count those requests")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="where the demo companies are built (default: a new folder in $TMPDIR; needs "
                        "≈ 2 GB per scale unit)")
    p.add_argument("--out-dir", type=Path, default=Path("benchmarks/out"),
                   help="where the Markdown and JSON reports go (default: ./benchmarks/out)")
    p.add_argument("--queries", type=Path, default=None,
                   help="analyst queries to time (default: docs/queries.sql of the project)")
    p.add_argument("--query-runs", type=int, default=50, help="timed runs of each analyst query")
    p.add_argument("--fixed-days", type=int, default=7, help="days of the near-empty fixed start-up run")
    p.add_argument("--skip-fixed", action="store_true", help="skip the fixed start-up run")
    p.add_argument("--skip-pandas", action="store_true")
    p.add_argument("--no-rerun", action="store_true", help="skip the night with no new data")
    p.add_argument("--no-prepare", action="store_true", help="do not run `kpi prepare` first")
    p.add_argument("--keep", action="store_true", help="keep the generated data folders")
    return p


def default_queries() -> Path:
    from pipelines.settings import get_settings

    return get_settings().dbt_project_dir.parent / "docs" / "queries.sql"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in child.CHILDREN:
        return child.main(argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.nights < 0 or args.end.toordinal() - args.nights <= args.start.toordinal():
        say(f"--nights {args.nights}: the first load needs at least two days before the replayed nights")
        return 2
    opts = Options(start=args.start, end=args.end, seed=args.seed, timezone=args.timezone, nights=args.nights,
                   late_runs=args.late_runs, rerun=not args.no_rerun, skip_pandas=args.skip_pandas,
                   query_runs=args.query_runs, queries_path=args.queries or default_queries(),
                   fixed_days=args.fixed_days, keep=args.keep)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"work folder {work} ({shutil.disk_usage(work).free / 2**30:.0f} GB free); "
        f"scales {', '.join(f'{s:g}' for s in args.scales)}")
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "start": args.start.isoformat(),
        "end": args.end.isoformat(), "first_load_end": opts.first_load_end.isoformat(), "nights": args.nights,
        "late_runs": args.late_runs, "argv": argv,
        "host": {"cpus": os.cpu_count(), "mem_gb": mem_gb(), "load_start": loadavg()},
        "settings": {name: os.environ[name] for name in PASSED_SETTINGS if name in os.environ},
    }
    if not args.no_prepare:
        say("preparing the dbt project (kpi prepare)")
        measured, _ = run_measured("prepare", python("-m", "pipelines.cli", "prepare"),
                                   env_for(work / "prepare", args.start, args.end, 1.0), work / "prepare.log")
        if measured.returncode != 0:
            say(f"kpi prepare failed: see {measured.log}")
            return 1
        report["prepare"] = measured.brief()
    try:
        if not args.skip_fixed:
            say("fixed start-up: the nightly job over a near-empty lake")
            report["fixed"] = bench_fixed(work, opts)
            say(f"  {report['fixed']['run']['total']['wall_s']:.1f} s")
        report["scales"] = []
        for scale in args.scales:
            report["scales"].append(bench_scale(scale, work, opts))
            write_report(report, args.out_dir)  # partial results survive a failure at a larger scale
    finally:
        if args.work_dir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["host"]["load_end"] = loadavg()
    report["ratios"] = ratios(report["scales"], report.get("fixed"))
    md_path, _ = write_report(report, args.out_dir)
    print(markdown(report))
    say(f"written: {md_path} (+ .json)")
    return 0


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``pipeline_benchmark.json`` and (once a scale is done) ``pipeline_benchmark.md``, atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report["ratios"] = ratios(report.get("scales", []), report.get("fixed"))
    report["host"] = {**report["host"], "load_end": report["host"].get("load_end", loadavg())}
    json_path = out_dir / "pipeline_benchmark.json"
    md_path = out_dir / "pipeline_benchmark.md"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, json_path)
    if report.get("scales"):
        tmp = md_path.with_suffix(".md.tmp")
        tmp.write_text(markdown(report), encoding="utf-8")
        os.replace(tmp, md_path)
    return md_path, json_path
