"""Running the nightly job headless (the CLI), and reading back what happened.

Runs go to the project's Dagster instance (``<data>/dagster_home``), so they appear in the UI next
to scheduled runs. The job runs in-process: one process, one DuckDB writer.

A run killed with SIGKILL (OOM killer, ``kill -9``, power loss) cannot end its own run record: it
stays STARTED and keeps its slot of the ``warehouse`` pool, so every later run would wait for that
slot forever. Each headless run is therefore tagged with its process id and host, and the next run
marks such abandoned runs failed and frees their slots before it starts.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from pipelines.progress import cli_run_config
from pipelines.run_dates import AS_OF_TAG, RANGE_END_TAG, RANGE_START_TAG
from pipelines.settings import get_settings

NIGHTLY_JOB = "nightly"
#: Which process runs a headless run (so that a later run can tell it died).
RUNNER_PID_TAG = "kpi/pid"
RUNNER_HOST_TAG = "kpi/host"


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    seconds: float
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_blocking_checks: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    abandoned_runs: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.success:
            return 0
        return 3 if self.failed_blocking_checks else 1

    def summary(self) -> str:
        lines = [f"run {self.run_id} {'succeeded' if self.success else 'FAILED'} in {self.seconds:.1f} s"]
        for run_id in self.abandoned_runs:
            lines.append(f"  earlier run {run_id} was abandoned (its process died): marked failed, pool slot freed")
        for check in self.failed_blocking_checks:
            lines.append(f"  blocking check failed: {check} — nothing downstream was published")
        for step, message in self.failed_steps:
            lines.append(f"  step {step} failed: {message}")
        if self.skipped_steps:
            lines.append(f"  skipped: {', '.join(self.skipped_steps)}")
        return "\n".join(lines)


def instance() -> dg.DagsterInstance:
    get_settings().export_dagster_home()
    return dg.DagsterInstance.get()


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
                asset_selection: list[dg.AssetKey] | None = None) -> RunOutcome:
    """Execute the nightly job for one day, or for a range of days in one run (optionally only the
    assets ``asset_selection``)."""
    from pipelines.definitions import defs

    tags: dict[str, str] = {}
    if start is not None and end is not None:
        tags[RANGE_START_TAG] = start.isoformat()
        tags[RANGE_END_TAG] = end.isoformat()
    if as_of is not None:
        tags[AS_OF_TAG] = as_of.isoformat()
    tags[RUNNER_PID_TAG] = str(os.getpid())
    tags[RUNNER_HOST_TAG] = socket.gethostname()
    job = defs.resolve_job_def(job_name)
    inst = instance()
    abandoned = fail_abandoned_runs(inst)
    started = time.monotonic()
    result = job.execute_in_process(
        run_config=cli_run_config(),
        instance=inst,
        partition_key=partition.isoformat() if partition else None,
        asset_selection=asset_selection,
        tags=tags,
        raise_on_error=False,
    )
    outcome = RunOutcome(run_id=result.run_id, success=result.success, seconds=time.monotonic() - started,
                         abandoned_runs=abandoned)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            outcome.failed_steps.append((event.step_key or "?", message))
        elif event.is_step_skipped:
            outcome.skipped_steps.append(event.step_key or "?")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.blocking:
                outcome.failed_blocking_checks.append(
                    f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                )
    return outcome


def published_as_of(serving_db) -> date | None:
    import duckdb

    with duckdb.connect(str(serving_db), read_only=True) as con:
        row = con.execute("select max(as_of_date) from marts._publish_info").fetchone()
    return row[0] if row and row[0] else None


def build_reports(*, as_of: date | None, org: str | None, lang: str | None,
                  run_id: str | None = None) -> list:
    """Every report from the published serving copy into ``<data>/reports/<as-of>/``."""
    import duckdb

    from quality.catalog import lint_catalog
    from reports import build_all

    s = get_settings()
    serving_db = s.serving_dir / "kpi.duckdb"
    if not serving_db.exists():
        raise FileNotFoundError(f"{serving_db} does not exist yet: run `kpi run` or `kpi demo` first")
    as_of = as_of or published_as_of(serving_db)
    findings = lint_catalog(s.catalog_dir, s.dbt_project_dir, warehouse_path=None)
    out_dir = s.reports_dir / as_of.isoformat()
    if org:
        out_dir = out_dir / f"org-{org}"
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return build_all(
            con,
            out_dir,
            as_of=as_of,
            lang=lang or s.report_lang,
            org=org,
            quarantine_dir=s.quarantine_dir,
            lint_findings=[f.as_dict() for f in findings],
            show_person_names=s.serving_show_person_names,
        )


def status_lines() -> list[str]:
    """What a data engineer checks in the morning: last runs, newest partitions, serving copy, alerts."""
    import sqlite3

    import duckdb

    s = get_settings()
    lines: list[str] = []
    records = instance().get_run_records(limit=5)
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
        with duckdb.connect(str(serving_db), read_only=True) as con:
            run_id, published_at, as_of = con.execute(
                "select run_id, published_at, as_of_date from marts._publish_info").fetchone()
        lines.append(f"serving copy: {serving_db} as of {as_of}, published {published_at} by run {run_id[:8]}")
    else:
        lines.append("serving copy: not published yet")
    if s.alerts_outbox_path.exists():
        with sqlite3.connect(s.alerts_outbox_path) as con:
            counts = dict(con.execute("select status, count(*) from outbox group by status").fetchall())
        lines.append(f"alerts: {counts}")
    return lines
