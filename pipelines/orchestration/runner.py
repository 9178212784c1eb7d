"""Running the nightly job headless (the CLI, the benchmark), and reading back what happened.

Runs go to the project's Dagster instance (``<data>/dagster_home``), so they appear in the UI next
to scheduled runs. The job runs in-process: one process, one DuckDB writer.

A run killed with SIGKILL (OOM killer, ``kill -9``, power loss) cannot end its own run record: it
stays STARTED and keeps its slot of the ``warehouse`` pool, so every later run would wait for that
slot forever. Each headless run is therefore tagged with its process id and host, and the next run
marks such abandoned runs failed and frees their slots before it starts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.orchestration import progress
from pipelines.orchestration.assets.serving import (
    ALERTS_KEY,
    PARQUET_KEY,
    POSTGRES_KEY,
    REPORTS_KEY,
    SERVING_KEY,
)
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.jobs import NIGHTLY_JOB
from pipelines.orchestration.progress import cli_run_config
from pipelines.orchestration.resources import ServingResource
from pipelines.orchestration.run_dates import AS_OF_TAG, RANGE_END_TAG, RANGE_START_TAG
from pipelines.settings import Settings, get_settings
from pipelines.user_errors import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SOURCES_MISSING,
    UsageError,
    disk_full_hint,
)

#: The warning check of an extract asset that fails when a file or batch of its source was rejected.
SOURCE_CHECK = "batches_accepted"
_PUBLISHED_PREFIXES = ("serving/", "reports/", "alerts/")
#: Which process runs a headless run (so that a later run can tell it died).
RUNNER_PID_TAG = "kpi/pid"
RUNNER_HOST_TAG = "kpi/host"


#: The summary of a run is at most this many lines (details: the Dagster UI, or `kpi run -v`).
SUMMARY_LINES = 40
_LIST_LIMIT = 8


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    seconds: float
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_blocking_checks: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    abandoned_runs: list[str] = field(default_factory=list)
    #: (extract asset, first rejection message, rejected partitions) of the sources this run missed
    sources_missing: list[tuple[str, str, int]] = field(default_factory=list)
    #: materialization metadata of the publish / report / alert assets, by asset key
    published: dict[str, dict] = field(default_factory=dict)
    retried_steps: list[str] = field(default_factory=list)
    #: source-side warnings of the run's dbt build (a stale, dead or starved feed; a run past the data)
    data_warnings: list[str] = field(default_factory=list)
    #: everything the run printed (dbt's lines, …) when the console showed only the progress bar
    log_file: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.success:
            return EXIT_SOURCES_MISSING if self.sources_missing else EXIT_OK
        return EXIT_BLOCKED if self.failed_blocking_checks else EXIT_FAILED

    def summary(self) -> str:
        """At most SUMMARY_LINES lines: the outcome, what failed or is missing, what was published."""
        verdict = "succeeded" if self.success else "FAILED"
        if self.success and self.sources_missing:
            verdict += f" — published with {len(self.sources_missing)} source(s) missing (exit {EXIT_SOURCES_MISSING})"
        lines = [f"run {self.run_id} {verdict} in {self.seconds:.1f} s"]
        for run_id in self.abandoned_runs[:2]:
            lines.append(f"  earlier run {run_id} was abandoned (its process died): marked failed, pool slot freed")
        lines += _capped([f"  blocking check failed: {c} — nothing downstream was published"
                          for c in self.failed_blocking_checks])
        lines += _capped([f"  step {step} failed: {message}" for step, message in self.failed_steps])
        if self.sources_missing:
            lines.append("  sources missing (the KPI values that need them are marked unverified):")
            lines += _capped([f"    {asset}: {n} partition(s) rejected — {message[:240]}"
                              for asset, message, n in self.sources_missing])
        if self.data_warnings:
            lines.append("  data warnings (the KPI values of the days concerned are unverified):")
            lines += _capped([f"    {w[:240]}" for w in self.data_warnings])
        if self.retried_steps:
            lines.append(f"  retried (transient errors): {', '.join(self.retried_steps[:_LIST_LIMIT])}")
        if self.skipped_steps:
            shown = ", ".join(self.skipped_steps[:_LIST_LIMIT])
            more = f" and {len(self.skipped_steps) - _LIST_LIMIT} more" if len(self.skipped_steps) > _LIST_LIMIT else ""
            lines.append(f"  skipped: {shown}{more}")
        lines += self._published_lines()
        if self.log_file is not None:
            lines.append(f"  full log: {self.log_file}")
        return "\n".join([*lines[:SUMMARY_LINES - 1], lines[-1]] if len(lines) > SUMMARY_LINES else lines)

    def _published_lines(self) -> list[str]:
        out = []
        duck = self.published.get(SERVING_KEY.to_user_string())
        if duck:
            out.append(f"  published: {duck.get('location', 'serving copy')} (as of {duck.get('as_of_date')}, "
                       f"{duck.get('total_rows', '?')} rows in {len(duck.get('tables') or {})} tables)")
        parquet = self.published.get(PARQUET_KEY.to_user_string())
        if parquet:
            out.append(f"  published: Parquet, {parquet.get('marts')} marts")
        pg = self.published.get(POSTGRES_KEY.to_user_string())
        if pg and pg.get("location"):
            out.append(f"  published: PostgreSQL {pg['location']}")
        elif pg:
            out.append(f"  PostgreSQL: {pg.get('status')}")
        reports = self.published.get(REPORTS_KEY.to_user_string())
        if reports:
            out.append(f"  reports: {reports.get('directory')} ({reports.get('reports')} files)")
        alerts = self.published.get(ALERTS_KEY.to_user_string())
        if alerts:
            out.append(f"  alerts: {alerts.get('created')} new, {alerts.get('escalated')} escalated, "
                       f"{alerts.get('already_known')} already known")
        return out


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= _LIST_LIMIT:
        return lines
    return [*lines[:_LIST_LIMIT], f"  … and {len(lines) - _LIST_LIMIT} more (kpi run -v, or the Dagster UI)"]


def instance(settings: Settings | None = None) -> dg.DagsterInstance:
    """The project's Dagster instance (``<data>/dagster_home``), where the UI shows the runs too."""
    (settings or get_settings()).export_dagster_home()
    return dg.DagsterInstance.get()


@functools.cache
def definitions(settings: Settings) -> dg.Definitions:
    """The code location for ``settings``, built once per process (several runs of a process share it)."""
    return build_definitions(settings)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def fail_abandoned_runs(inst: dg.DagsterInstance) -> list[str]:
    """Mark failed the headless runs of this host whose process died mid-run; free their pool slots."""
    host = socket.gethostname()
    records = inst.get_run_records(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
        tags={RUNNER_HOST_TAG: host},
    ))
    abandoned: list[str] = []
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(RUNNER_PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        inst.report_run_failed(
            run, f"abandoned: the process that ran it (pid {pid} on {host}) ended without finishing it "
                 "(killed?); marked failed by the next run",
        )
        inst.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        abandoned.append(run.run_id)
    return abandoned


def run_nightly(*, partition: date | None = None, start: date | None = None, end: date | None = None,
                as_of: date | None = None, job_name: str = NIGHTLY_JOB,
                asset_selection: list[dg.AssetKey] | None = None, verbose: bool = True,
                settings: Settings | None = None) -> RunOutcome:
    """Execute the nightly job for one day, or for a range of days in one run (optionally only the
    assets ``asset_selection``). ``verbose``: one line per step and every log message, else a
    progress bar. ``settings``: default, the environment's."""
    settings = settings or get_settings()
    tags: dict[str, str] = {}
    if start is not None and end is not None:
        tags[RANGE_START_TAG] = start.isoformat()
        tags[RANGE_END_TAG] = end.isoformat()
    if as_of is not None:
        tags[AS_OF_TAG] = as_of.isoformat()
    tags[RUNNER_PID_TAG] = str(os.getpid())
    tags[RUNNER_HOST_TAG] = socket.gethostname()
    job = definitions(settings).resolve_job_def(job_name)
    inst = instance(settings)
    abandoned = fail_abandoned_runs(inst)
    started = time.monotonic()
    steps = len(job.get_subset(asset_selection=set(asset_selection)).nodes_in_topological_order) \
        if asset_selection else len(job.nodes_in_topological_order)

    def execute() -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            run_config=cli_run_config(verbose=verbose, total_steps=steps),
            instance=inst,
            partition_key=partition.isoformat() if partition else None,
            asset_selection=asset_selection,
            tags=tags,
            raise_on_error=False,
        )

    log_file = None
    if verbose:
        result = execute()
    else:  # the console shows the progress bar; everything the run prints goes to its log file
        log_file = run_log_file(settings)
        with open(log_file, "w", encoding="utf-8") as log, progress.console(sys.stdout), \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            result = execute()
    outcome = RunOutcome(run_id=result.run_id, success=result.success, seconds=time.monotonic() - started,
                         abandoned_runs=abandoned, log_file=log_file)
    data_dir = settings.data_dir
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            outcome.failed_steps.append((event.step_key or "?", message + disk_full_hint(message, data_dir)))
        elif event.is_step_skipped:
            outcome.skipped_steps.append(event.step_key or "?")
        elif event.event_type_value == "STEP_UP_FOR_RETRY":
            outcome.retried_steps.append(event.step_key or "?")
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            outcome.published[materialization.asset_key.to_user_string()] = {
                k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.blocking:
                outcome.failed_blocking_checks.append(
                    f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                )
            elif not evaluation.passed and evaluation.check_name == SOURCE_CHECK:
                rejected = evaluation.metadata.get("rejected_partitions")
                count = len(getattr(rejected, "value", rejected) or []) or 1
                outcome.sources_missing.append((evaluation.asset_key.to_user_string(),
                                                evaluation.description or "rejected", count))
    outcome.published = {k: v for k, v in outcome.published.items() if k.startswith(_PUBLISHED_PREFIXES)}
    outcome.data_warnings = data_warnings(settings.warehouse_path, result.run_id)
    return outcome


#: The source-side checks whose failures the summary shows (marts.dq_check_results, check_name).
DATA_WARNING_CHECKS = ("freshness", "data_horizon")


def data_warnings(warehouse: Path, run_id: str, *, wait_s: float = 60.0) -> list[str]:
    """The failed freshness / data-horizon checks the run's dbt build recorded (none when the build
    did not get that far or the warehouse cannot be read now).

    Read under the warehouse's writer lock: a read-only DuckDB open outside it would make another
    process's writer (its dbt step, its serving copy) wait for us or fail on DuckDB's file lock."""
    import duckdb

    from pipelines.locks import warehouse_lock

    if not Path(warehouse).exists():
        return []
    try:
        with warehouse_lock(Path(warehouse), timeout_s=wait_s), \
                duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute(
                "select asset, check_name, message from marts.dq_check_results where dagster_run_id = ? "
                "and check_name in (?, ?) and status = 'failed' order by check_name desc, asset",
                [run_id, *DATA_WARNING_CHECKS]).fetchall()
    except TimeoutError:
        return [f"freshness and data-horizon results not read: another writer held {warehouse} "
                f"for {wait_s:.0f} s (see marts.dq_check_results, dagster_run_id = '{run_id}')"]
    except duckdb.Error:
        return []
    # a freshness result is "<rule>: <finding>" (the rules hold no colon): the summary names the finding,
    # the rule is in marts.dq_freshness and the quality report
    return [f"{asset}: {message.split(': ', 1)[-1]}" if check == "freshness" else message
            for asset, check, message in rows]


#: Log files of headless runs kept in <data>/logs.
RUN_LOGS_KEEP = 30


def run_log_file(settings: Settings) -> Path:
    """A new log file in ``<data>/logs`` for a headless run; the oldest beyond RUN_LOGS_KEEP go."""
    folder = settings.data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    logs = sorted(folder.glob("run-*.log"))  # names start with the time: oldest first
    for old in logs[: max(0, len(logs) - RUN_LOGS_KEEP + 1)]:
        old.unlink(missing_ok=True)
    return folder / f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"


def serving_night(settings: Settings | None = None) -> Path:
    """The DuckDB file of the night ``serving/kpi.duckdb`` points at (steps and reports open this
    file, not the link, so that one run reads one night from start to end)."""
    from pipelines.publish import current_night

    s = settings or get_settings()
    night = current_night(s.serving_dir)
    if night is None:
        raise UsageError(f"nothing is published yet ({s.serving_dir / 'kpi.duckdb'} does not exist): "
                         "run `kpi run` (or `kpi demo`) first")
    return night


def build_reports(settings: Settings, *, as_of: date | None, org: str | None, lang: str | None) -> list[Path]:
    """Every report from the published serving copy into ``<data>/reports/<as-of>/`` (`kpi report`)."""
    from pipelines.reporting import build_reports as build

    night = serving_night(settings)
    try:
        return build(night, ServingResource.from_settings(settings).report_config(), as_of=as_of, org=org, lang=lang)
    except ValueError as exc:  # no as-of date recorded: said in one line
        raise UsageError(str(exc)) from exc


def serving_targets(settings: Settings | None = None):  # -> pipelines.publish.targets.ServingTargets
    """Every serving target of ``settings`` (`kpi publish`, `kpi rollback`, `kpi status`)."""
    s = settings or get_settings()
    return ServingResource.from_settings(s).targets(secrets=s)


def check_catalog(settings: Settings | None = None) -> None:
    """Raise CatalogError when the KPI catalog files are invalid (a run would use the last compiled one)."""
    from quality.catalog import load_catalog

    load_catalog((settings or get_settings()).catalog_dir)


def status_lines(settings: Settings | None = None) -> list[str]:
    """What a data engineer checks in the morning: last runs, newest partitions, serving copies, alerts."""
    import sqlite3

    import duckdb

    from pipelines.publish.targets import describe_nights, served_nights

    s = settings or get_settings()
    lines: list[str] = []
    records = instance(s).get_run_records(limit=5)
    lines.append("latest runs:")
    if not records:
        lines.append("  (none)")
    for record in records:
        run = record.dagster_run
        started = record.start_time and time.strftime("%Y-%m-%d %H:%M", time.localtime(record.start_time))
        lines.append(f"  {run.run_id[:8]}  {run.status.value:<9} {started or '-':<16} {run.job_name}"
                     f"  {run.tags.get('dagster/partition') or run.tags.get(RANGE_END_TAG, '')}")
    from pipelines.extract.lake import read_load_log

    log = read_load_log(s.lake_dir)  # the latest attempt of every partition (docs/sources.md)
    if not log.empty:
        lines.append("raw lake (latest partition / rejected partitions):")
        log["rejected"] = log["status"] == "rejected"
        summary = log.groupby(["source", "table"], sort=True).agg(
            latest=("partition_date", "max"), rejected=("rejected", "sum"))
        for (source, table), row in summary.iterrows():
            lines.append(f"  {source + '.' + table:<32} {row['latest']}  rejected: {int(row['rejected'])}")
    serving_db = s.serving_dir / "kpi.duckdb"
    if serving_db.exists():
        with duckdb.connect(str(serving_db.resolve()), read_only=True) as con:
            run_id, published_at, as_of = con.execute(
                "select run_id, published_at, as_of_date from marts._publish_info").fetchone()
        lines.append(f"serving copy: {serving_db} as of {as_of}, published "
                     f"{published_at:%Y-%m-%d %H:%M %Z} by run {run_id[:8]}")
        targets = serving_targets(s)
        lines += describe_nights(s.serving_dir, served_nights(targets))
        from pipelines.publish import published_copies

        kept = [f"{e['run_id'][:8]} ({e.get('as_of_date') or '?'})"
                for e in reversed(published_copies(s.serving_dir).get("history", []))]
        lines.append(f"  kept for `kpi rollback --to <night>`: {', '.join(kept)}")
    else:
        lines.append("serving copy: not published yet")
    if s.alerts_outbox_path.exists():
        with sqlite3.connect(s.alerts_outbox_path) as con:
            counts = con.execute("select status, count(*) from outbox group by status order by 2 desc").fetchall()
        lines.append("alerts: " + (", ".join(f"{n:,} {status}" for status, n in counts) or "none"))
    return lines
