"""`kpi` — the headless command line for servers without the Dagster UI.

Exit codes (for cron and CI): 0 success; 1 the run failed (the reason is printed); 2 bad usage or
configuration (an unknown org unit or night, a data folder that is not writable, …); 3 a blocking
data-quality check failed (nothing was published); 4 the KPI catalog is invalid (nothing was run);
5 published, but some source files or tables were rejected (the KPI values that need them are marked
unverified; the summary names each file and why).

Every error a user can act on is one line (and its exit code), never a traceback; ``-v`` shows the
full logs of a run and the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.user_errors import (
    EXIT_BLOCKED,
    EXIT_CATALOG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SOURCES_MISSING,
    EXIT_USAGE,
)

__all__ = ["EXIT_BLOCKED", "EXIT_CATALOG", "EXIT_FAILED", "EXIT_OK", "EXIT_SOURCES_MISSING", "EXIT_USAGE", "main"]


def _say(text: str) -> None:
    print(text, flush=True)


def _error(command: str, text: str) -> None:
    _say(f"kpi {command}: {text}")  # with the command's other output (cron mails, CI logs read stdout)


def _yesterday(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)


def _iso(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


# --- commands ------------------------------------------------------------------------------------
def cmd_generate(args: argparse.Namespace) -> int:
    from pipelines.demo import generate
    from pipelines.settings import get_settings

    s = get_settings()
    started = time.monotonic()
    manifest = generate(
        s.data_dir,
        seed=args.seed if args.seed is not None else s.demo_seed,
        scale=args.scale if args.scale is not None else s.demo_scale,
        start=args.start or s.demo_start,
        end=args.end or s.demo_end,
        timezone=s.timezone,
        progress=lambda m: _say(f"  {m}"),
    )
    rows = manifest.get("row_counts", {})
    _say(f"demo company written to {s.data_dir} in {time.monotonic() - started:.1f} s "
         f"({sum(rows.values()) if rows else '?'} rows)")
    return EXIT_OK


def cmd_prepare(args: argparse.Namespace) -> int:
    from pipelines.orchestration.dbt_project import prepare_dbt_project
    from pipelines.settings import get_settings

    s = get_settings()
    path = prepare_dbt_project(s.dbt_project_dir, s.catalog_dir, progress=lambda m: _say(f"  {m}"),
                               target_path=s.dbt_target_path, target=s.dbt_target)
    _say(f"dbt manifest ready: {path}")
    return EXIT_OK


def _execute(*, partition: date | None = None, start: date | None = None, end: date | None = None,
             as_of: date | None = None, verbose: bool = False) -> int:
    from pipelines.orchestration.runner import check_catalog, run_nightly

    check_catalog()  # an invalid catalog stops the run before anything is touched (exit 4)
    outcome = run_nightly(partition=partition, start=start, end=end, as_of=as_of, verbose=verbose)
    _say(outcome.summary())
    return outcome.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.settings import get_settings

    day = args.date or _yesterday(get_settings().timezone)
    _say(f"nightly run for {day}")
    return _execute(partition=day, verbose=args.verbose)


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        _say(f"--end {args.end} is before --start {args.start}")
        return EXIT_USAGE
    _say(f"backfill {args.start} … {args.end} ({(args.end - args.start).days + 1} days, one run)")
    return _execute(start=args.start, end=args.end, verbose=args.verbose)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.settings import get_settings

    s = get_settings()
    manifest = s.ground_truth_dir / "manifest.json"
    if args.regenerate or not manifest.exists():
        _say("1/3 generating the demo company")
        code = cmd_generate(argparse.Namespace(seed=None, scale=args.scale, start=None, end=None))
        if code:
            return code
    else:
        _say(f"1/3 demo company already generated ({manifest}); --regenerate to rebuild it")
    _say("2/3 preparing the dbt project")
    code = cmd_prepare(args)
    if code:
        return code
    _say(f"3/3 running the nightly pipeline over the demo history {s.demo_start} … {s.demo_end}")
    code = _execute(start=s.demo_start, end=s.demo_end, as_of=s.demo_end, verbose=args.verbose)
    if code == EXIT_SOURCES_MISSING:
        _say("(the demo company plants a few bad files on purpose — see docs/sources.md — so a demo "
             "night publishes with sources missing; `kpi demo` counts that as success)")
        code = EXIT_OK
    if code == EXIT_OK:
        report_dir = s.reports_dir / s.demo_end.isoformat()
        _say("")
        _say(f"warehouse (read-only serving copy): {s.serving_dir / 'kpi.duckdb'}")
        _say(f"private build warehouse:            {s.warehouse_path}")
        _say(f"attainment report:                  {report_dir / 'attainment.html'}")
        _say(f"all reports:                        {report_dir}")
    return code


def cmd_lint(args: argparse.Namespace) -> int:
    from pipelines.settings import get_settings
    from quality.catalog import lint_catalog

    s = get_settings()
    warehouse = s.serving_dir / "kpi.duckdb"
    findings = lint_catalog(
        Path(args.catalog) if args.catalog else s.catalog_dir,
        s.dbt_project_dir,
        warehouse_path=warehouse if warehouse.exists() else None,
    )
    errors = [f for f in findings if f.severity == "error"]
    for f in findings:
        _say(str(f))
    _say(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")
    return EXIT_CATALOG if errors else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.orchestration.runner import build_reports
    from pipelines.settings import get_settings

    paths = build_reports(get_settings(), as_of=args.date, org=args.org, lang=args.lang)
    for p in paths:
        _say(str(p))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.orchestration.runner import status_lines

    for line in status_lines():
        _say(line)
    return EXIT_OK


def cmd_ack(args: argparse.Namespace) -> int:
    from pipelines.alerts import acknowledge
    from pipelines.settings import get_settings

    ok = acknowledge(get_settings().alerts_outbox_path, args.alert)
    _say("acknowledged" if ok else f"no pending alert {args.alert!r}")
    return EXIT_OK if ok else EXIT_USAGE


def cmd_publish(args: argparse.Namespace) -> int:
    from pipelines.orchestration.runner import serving_night, serving_targets
    from pipelines.publish.targets import describe_nights, publish_night

    targets = serving_targets()
    if args.org or args.to:
        if not (args.org and args.to):
            _say("--org and --to go together: kpi publish --org DEP-X --to DIR")
            return EXIT_USAGE
        from pipelines.publish.scope import export_unit
        from pipelines.settings import get_settings

        done = export_unit(serving_night(), Path(args.to), args.org,
                           storage_version=get_settings().serving_duckdb_storage_version)
        _say(f"{args.org}: {len(done['units'])} org unit(s), {len(done['tables'])} marts "
             f"({sum(done['tables'].values()):,} rows) written to {done['path']} (kpi.duckdb, parquet/)")
        return EXIT_OK
    nights = publish_night(targets, args.night)
    _say("published the last good build to every serving target:")
    for line in describe_nights(targets.serving_dir, nights):
        _say(line)
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from pipelines.orchestration.runner import serving_targets
    from pipelines.publish.targets import describe_nights, rollback_targets

    targets = serving_targets()
    nights = rollback_targets(targets, args.to)
    _say("rolled back; every serving target now serves:")
    for line in describe_nights(targets.serving_dir, nights):
        _say(line)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from pipelines.engines.compare import compare_warehouses

    for path in (args.a, args.b):
        if not path.exists():
            raise FileNotFoundError(2, "no warehouse there (a DuckDB file or a Spark warehouse folder)", str(path))
    diffs = compare_warehouses(args.a, args.b, args.schema or ["marts", "reference"], skip=args.skip or [])
    for d in diffs:
        _say(f"{'same     ' if d.same else 'DIFFERENT'} {d.describe()}")
    different = sum(not d.same for d in diffs)
    _say(f"{len(diffs) - different} of {len(diffs)} tables hold the same rows (doubles to 12 significant digits)")
    return EXIT_OK if different == 0 else EXIT_FAILED


def cmd_checkin(args: argparse.Namespace) -> int:
    from pipelines.checkins import append_checkin
    from pipelines.settings import get_settings

    path = append_checkin(get_settings().landing_dir, kpi_id=args.kpi, org_unit_id=args.org,
                          grain=args.grain, period_start=args.period, author=args.author,
                          comment=args.comment)
    _say(f"check-in saved to {path}; it appears in the next review report")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from pipelines.benchmark import main as bench_main

    return int(bench_main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kpi", description="KPI warehouse: headless operations.")
    sub = p.add_subparsers(dest="command", required=True)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true",
                         help="full logs of a run (default: a progress bar and a summary); the traceback of an unexpected error")
    _add_build_commands(sub, verbose)
    _add_report_commands(sub, verbose)
    _add_serving_commands(sub, verbose)
    return p


def _add_build_commands(sub: Any, verbose: argparse.ArgumentParser) -> None:
    """generate, prepare, demo, run, backfill, lint (in `kpi -h`'s order)."""
    g = sub.add_parser("generate", parents=[verbose], help="generate the demo company's source systems")
    g.add_argument("--seed", type=int)
    g.add_argument("--scale", type=float)
    g.add_argument("--start", type=_iso)
    g.add_argument("--end", type=_iso)
    g.set_defaults(func=cmd_generate)

    sub.add_parser("prepare", parents=[verbose], help="compile the KPI catalog and parse the dbt project").set_defaults(
        func=cmd_prepare)

    d = sub.add_parser("demo", parents=[verbose], help="generate the demo company and run the whole pipeline on it")
    d.add_argument("--scale", type=float)
    d.add_argument("--regenerate", action="store_true")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", parents=[verbose], help="run the nightly pipeline for one day (default: yesterday)")
    r.add_argument("--date", type=_iso)
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("backfill", parents=[verbose], help="extract and rebuild a range of days in one run")
    b.add_argument("--start", type=_iso, required=True)
    b.add_argument("--end", type=_iso, required=True)
    b.set_defaults(func=cmd_backfill)

    lint = sub.add_parser("lint", parents=[verbose], help="validate and lint the KPI catalog (SMART, owners, weights, …)")
    lint.add_argument("--catalog", help="catalog directory (default: dbt_project/catalog)")
    lint.set_defaults(func=cmd_lint)


def _add_report_commands(sub: Any, verbose: argparse.ArgumentParser) -> None:
    """report, status, ack."""
    rep = sub.add_parser("report", parents=[verbose], help="build the reports from the published warehouse")
    rep.add_argument("--date", type=_iso, help="as-of date (default: the published as-of date)")
    rep.add_argument("--org", help="scope to this org unit's subtree")
    rep.add_argument("--lang", choices=["en", "zh"], default=None)
    rep.set_defaults(func=cmd_report)

    sub.add_parser("status", parents=[verbose], help="latest runs, partitions, serving copy, pending alerts").set_defaults(
        func=cmd_status)

    a = sub.add_parser("ack", parents=[verbose], help="acknowledge an alert (id or token)")
    a.add_argument("alert")
    a.set_defaults(func=cmd_ack)


def _add_serving_commands(sub: Any, verbose: argparse.ArgumentParser) -> None:
    """publish, rollback, checkin, bench."""
    pu = sub.add_parser("publish", parents=[verbose], help="publish the last good build again to every serving target "
                                         "(Parquet, PostgreSQL), or one org unit's part to a folder")
    pu.add_argument("--night", help="a kept night (run id or its first characters; default: the current one)")
    pu.add_argument("--org", help="with --to: only this org unit's subtree")
    pu.add_argument("--to", help="with --org: folder for kpi.duckdb and parquet/")
    pu.set_defaults(func=cmd_publish)

    rb = sub.add_parser("rollback", parents=[verbose], help="put every serving target (DuckDB, Parquet, PostgreSQL) back on a kept night")
    rb.add_argument("--to", help="night: run id or its first characters, as `kpi status` shows (default: the previous)")
    rb.set_defaults(func=cmd_rollback)

    cmp = sub.add_parser("compare", parents=[verbose],
                         help="do two warehouses (DuckDB files or Spark warehouse folders) hold the same tables?")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    cmp.add_argument("--schema", action="append", help="schema to compare (repeatable; default marts and reference)")
    cmp.add_argument("--skip", action="append", help="schema.table to leave out (repeatable), e.g. marts.dq_check_results")
    cmp.set_defaults(func=cmd_compare)

    c = sub.add_parser("checkin", parents=[verbose], help="record an owner's comment on a KPI for a period")
    c.add_argument("--kpi", required=True)
    c.add_argument("--org", required=True)
    c.add_argument("--grain", choices=["month", "quarter", "year"], default="month")
    c.add_argument("--period", type=_iso, required=True, help="period start, e.g. 2025-10-01")
    c.add_argument("--author", required=True)
    c.add_argument("--comment", required=True)
    c.set_defaults(func=cmd_checkin)

    be = sub.add_parser("bench", help="benchmark the nightly run (see benchmarks/)")
    be.add_argument("rest", nargs=argparse.REMAINDER)
    be.set_defaults(func=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # Dagster marks `backfill_policy` (single-run backfills, which we rely on) as beta and warns at
    # every import; on a terminal that notice hides the progress lines. Only that notice is muted.
    warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"] and argv[1:2] not in (["-h"], ["--help"]):
        # argparse's REMAINDER does not take options that start the remainder: hand them over as they are
        args = argparse.Namespace(func=cmd_bench, rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_FAILED
    except Exception as exc:  # every error is one line and an exit code (the traceback with -v)
        return _report_error(args, exc)


def _report_error(args: argparse.Namespace, exc: Exception) -> int:
    from pipelines.user_errors import describe, exit_code
    from quality.catalog import CatalogError

    command = getattr(args, "command", None) or "bench"
    data_dir = None
    try:
        from pipelines.settings import get_settings

        data_dir = get_settings().data_dir
    except Exception:  # the settings themselves may be what is wrong
        pass
    line = describe(exc, data_dir)
    if getattr(args, "verbose", False):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if line is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _error(command, f"internal error: {type(exc).__name__}: {first[:300]} "
                        f"(`kpi {command} -v` shows where; please report it)")
        return EXIT_FAILED
    _error(command, line)
    if isinstance(exc, CatalogError):
        for issue in exc.issues:
            _say(f"  {issue}")
    return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
