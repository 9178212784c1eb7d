"""Operations, end to end on a tiny demo company: real pipeline runs in child processes.

- A backfill of 7 days in one run builds the same marts as 7 single-day runs.
- A reader querying the serving copy in a loop during those runs sees no error and never a mix of runs.
- A run killed with SIGKILL during its dbt step leaves the serving copy intact; the next `kpi run`
  completes without manual steps; `kpi status` shows what happened.
- A blocking check that fails makes `kpi run` exit 3 with the reason, and nothing is published.
- Two processes running the warehouse writers at once both succeed, one after the other.

The scenarios share one base environment (conftest.py: the company extracted and built through
HISTORY_END) and work on private copies of it. Durations are printed (`pytest -s`), never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import pytest

from tests.ops.conftest import HISTORY_END, REPO, RUN_TIMEOUT_S, WEEK, BaseEnv, OpsEnv

pytestmark = pytest.mark.slow

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
#: Columns that legitimately differ between a one-run backfill and seven single-day runs of the same
#: source data, left out of the mart hashes: the wall-clock time a raw row was extracted
#: (`_loaded_at` in the incremental facts fct_orders, fct_revenue_events, fct_tickets; `loaded_at` in
#: dq_load_log) and the id of the extraction batch (`batch_id` in dq_load_log: one batch per asset
#: and run, so one for the backfill against seven for the single days).
VOLATILE_COLUMNS = frozenset({"_loaded_at", "loaded_at", "batch_id", "_batch_id"})
#: Marts that are logs of the builds themselves, left out of the hashes: dq_check_results holds one
#: row per check per dbt invocation (7 invocations against 1), with their run ids, times, durations
#: and messages such as "INSERT 12" (rows an incremental model inserted in that invocation). The
#: outcome of the LAST build's checks is compared instead (see below).
BUILD_LOG_TABLES = frozenset({"dq_check_results"})


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


#: Significant digits of floating-point values in the hashes. A sum of doubles depends on the order
#: in which rows are added, and the order differs between a fact built in one run and the same fact
#: built up by seven incremental runs (183459.76 against 183459.75999999998): the last bits of a
#: double are not part of the answer. Twelve digits are far more than any KPI shows.
FLOAT_DIGITS = 12
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def mart_columns(con: duckdb.DuckDBPyConnection, catalog: str = "") -> dict[str, list[tuple[str, str]]]:
    """table → [(column, data type)] of schema marts."""
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and (? = '' or table_catalog = ?) order by table_name, ordinal_position",
        [catalog, catalog],
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    return columns


def hashed(columns: list[tuple[str, str]]) -> str:
    """The select list of the compared columns: volatile ones left out, doubles to FLOAT_DIGITS digits."""
    out = []
    for name, data_type in columns:
        if name in VOLATILE_COLUMNS:
            continue
        ident = '"' + name.replace('"', '""') + '"'
        if data_type.upper() in _FLOAT_TYPES:
            out.append(f"printf('%.{FLOAT_DIGITS}g', {ident}) as {ident}")
        else:
            out.append(ident)
    return ", ".join(out)


def mart_hashes(warehouse: Path) -> dict[str, tuple[int, str]]:
    """table → (rows, sha256 of its rows in a canonical order), for every table of schema marts."""
    hashes: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, columns in mart_columns(con).items():
            if table in BUILD_LOG_TABLES:
                continue
            # identifiers come from the catalog of the file itself and are quoted
            cursor = con.execute(f'select {hashed(columns)} from marts."{table}" order by all')  # noqa: S608
            digest, rows = hashlib.sha256(), 0
            while batch := cursor.fetchmany(20_000):
                digest.update(repr(batch).encode())
                rows += len(batch)
            hashes[table] = (rows, digest.hexdigest())
    return hashes


def mart_differences(left: Path, right: Path, tables: list[str]) -> dict[str, dict]:
    """For each table: rows only left / only right (multiset difference) and a few examples."""
    found: dict[str, dict] = {}
    with duckdb.connect() as con:
        con.execute("attach ? as l (read_only)", [str(left)])
        con.execute("attach ? as r (read_only)", [str(right)])
        columns = mart_columns(con, "l")
        for table in tables:
            cols = hashed(columns[table])
            only = {}
            for a, b in (("l", "r"), ("r", "l")):
                sql = f'select {cols} from {a}.marts."{table}" except all select {cols} from {b}.marts."{table}"'  # noqa: S608
                only[a] = (con.execute(f"select count(*) from ({sql})").fetchone()[0],  # noqa: S608
                           con.execute(f"{sql} order by all limit 3").fetchall())
            found[table] = {"only_backfill": only["l"], "only_single_days": only["r"]}
    return found


def last_build_checks(warehouse: Path) -> set[tuple]:
    """(asset, check, status, blocking, severity) of the latest dbt invocation in dq_check_results."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return set(con.execute(
            "select asset, check_name, status, blocking, severity from marts.dq_check_results "
            "where run_id = (select run_id from marts.dq_check_results order by checked_at desc limit 1)"
        ).fetchall())


def publish_run_id(serving_file: Path) -> str:
    with duckdb.connect(str(serving_file), read_only=True) as con:
        [(run_id,)] = con.execute("select distinct run_id from marts._publish_info").fetchall()
    return run_id


def kpi_executable() -> str:
    """The `kpi` console script of the interpreter running the tests (the project venv)."""
    return str(Path(sys.executable).with_name("kpi"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def dbt_children(pid: int) -> list[int]:
    """The dbt processes among the direct children of ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    dbt = []
    for child in found:
        try:
            if "dbt" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                dbt.append(child)
        except OSError:
            continue
    return dbt


def wait_for_log(proc: subprocess.Popen, log: Path, pattern: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern, re.MULTILINE)
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if len(regex.findall(text)) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {pattern!r} appeared:\n{text[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{pattern!r} did not appear {count} times within {timeout} s:\n{log.read_text()[-3000:]}")


def say(text: str) -> None:
    print(f"[ops] {text}", flush=True)


# ------------------------------------------------------------------------------------------------
# a 7-day backfill against 7 nightly runs, with a reader on the serving copy of the nightly runs
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Week:
    base_run_id: str
    backfill: OpsEnv
    single_days: OpsEnv
    backfill_runs: list[dict]
    single_day_runs: list[dict]
    reads: list[dict]
    read_errors: list[str]


@pytest.fixture(scope="module")
def week(ops_base: BaseEnv, tmp_path_factory: pytest.TempPathFactory) -> Week:
    """From the same base (history extracted and built the same way), the last week twice:
    one `run_nightly(start, end, as_of=end)` in one copy; seven `run_nightly(partition=day, as_of=end)`
    in another, while a reader process queries that copy's serving file in a loop. The two copies
    run at the same time (they share nothing but the CPU).

    The seven single-day runs carry the week's last day as their as-of date: they are made on the
    same day as the back-fill, against the same sources (which hold the whole week — an order shipped
    on the 28th is already 'shipped', a production run finished on the 24th already has its delivery
    date of the 30th). Run each on its own day's as-of date, they would judge that delivery date to
    be in the future and quarantine it, rightly: only a source that can be read as of a past day
    would make such a replay comparable."""
    root = tmp_path_factory.mktemp("week")
    backfill = ops_base.env.copy(root / "backfill")
    single_days = ops_base.env.copy(root / "single_days")
    stop, reads_file = root / "stop-reader", root / "reads.json"
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.ops._runner", "-", "read-loop", str(single_days.serving_file), str(stop),
         str(reads_file)], cwd=REPO, env=single_days.env())
    started = time.monotonic()
    backfill_result = root / "backfill.json"
    backfill_proc = backfill.popen("nightly", str(backfill_result), "--start", WEEK[0].isoformat(),
                                   "--end", WEEK[-1].isoformat(), "--as-of", WEEK[-1].isoformat(),
                                   log=root / "backfill.log")
    try:
        single_day_runs = single_days.nightly("single_days", *(f"--partition={d.isoformat()}" for d in WEEK),
                                              "--as-of", WEEK[-1].isoformat(), timeout=7 * RUN_TIMEOUT_S)
        each = ", ".join(f"{r['seconds']:.0f}" for r in single_day_runs)
        say(f"7 single-day runs: {time.monotonic() - started:.0f} s ({each} s each)")
        backfill_proc.wait(timeout=RUN_TIMEOUT_S)
        assert backfill_proc.returncode == 0, (root / "backfill.log").read_text()[-4000:]
    finally:
        stop.touch()
        reader.wait(timeout=120)
        if backfill_proc.poll() is None:
            backfill_proc.kill()
    backfill_runs = json.loads(backfill_result.read_text(encoding="utf-8"))
    say(f"backfill run: {backfill_runs[0]['seconds']:.0f} s; both: {time.monotonic() - started:.0f} s")
    reads = json.loads(reads_file.read_text(encoding="utf-8"))
    return Week(ops_base.history_run["run_id"], backfill, single_days, backfill_runs, single_day_runs,
                reads["reads"], reads["errors"])


def test_backfill_of_seven_days_equals_seven_single_day_runs(week: Week) -> None:
    [backfill_run] = week.backfill_runs
    assert backfill_run["success"], backfill_run["summary"]
    assert [r["success"] for r in week.single_day_runs] == [True] * 7, [r["summary"] for r in week.single_day_runs]

    backfill = mart_hashes(week.backfill.warehouse)
    single_days = mart_hashes(week.single_days.warehouse)
    assert sorted(backfill) == sorted(single_days)
    # the week really was built: orders and daily actuals of its last day
    with duckdb.connect(str(week.backfill.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_orders where order_date between ? and ?",
                           [WEEK[0], WEEK[-1]]).fetchone()[0] > 0
        assert con.execute("select count(*) from marts.kpi_actuals where grain = 'day' and period_end = ?",
                           [WEEK[-1]]).fetchone()[0] > 0
    # both published their last build
    assert publish_run_id(week.backfill.serving_file) == backfill_run["run_id"]
    assert publish_run_id(week.single_days.serving_file) == week.single_day_runs[-1]["run_id"]
    # the last build of each ran the same checks with the same outcomes, no blocking one failing
    # (warnings may: the demo's history holds a tickets file with a changed header, rejected in both)
    checks = last_build_checks(week.backfill.warehouse)
    assert checks == last_build_checks(week.single_days.warehouse)
    assert not [c for c in checks if c[2] == "failed" and c[3]], sorted(c for c in checks if c[2] == "failed")

    differing = sorted(t for t in backfill if backfill[t] != single_days[t])
    assert not differing, json.dumps(
        mart_differences(week.backfill.warehouse, week.single_days.warehouse, differing), indent=1, default=str)


def test_a_reader_during_runs_sees_whole_runs_only(week: Week) -> None:
    """Reads (open read-only, query, close) of serving/kpi.duckdb during the seven runs, each of which
    replaced the file: no error, every read sees exactly one run, with the row counts that run recorded
    in _publish_info, the same checksums for every read of one run, and never an older run again."""
    assert week.read_errors == []
    published = [week.base_run_id, *(r["run_id"] for r in week.single_day_runs)]
    say(f"reader: {len(week.reads)} reads, {len({r['run_ids'][0] for r in week.reads})} runs seen")
    assert len(week.reads) >= 100

    by_run: dict[str, set[tuple]] = {}
    order: list[int] = []
    for read in week.reads:
        assert len(read["run_ids"]) == 1, read
        [run_id] = read["run_ids"]
        assert run_id in published, read
        assert read["actuals_rows"] == read["actuals_recorded"], read
        assert read["attainment_rows"] == read["attainment_recorded"], read
        assert read["orders_rows"] == read["orders_recorded"], read
        by_run.setdefault(run_id, set()).add(
            (read["actuals_rows"], read["actuals_checksum"], read["orders_rows"], read["orders_checksum"],
             read["as_of_date"]))
        order.append(published.index(run_id))
    assert all(len(states) == 1 for states in by_run.values()), by_run
    assert order == sorted(order), "a reader saw an older serving copy after a newer one"
    # every published copy was seen (each stays live for minutes), so the swaps happened under the reader
    assert set(by_run) == set(published)
    as_of = {run: next(iter(states))[4] for run, states in by_run.items()}
    assert as_of[week.base_run_id] == HISTORY_END.isoformat()
    assert as_of[published[-1]] == WEEK[-1].isoformat()


# ------------------------------------------------------------------------------------------------
# SIGKILL during the dbt step, then the next run; `kpi status`
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Killed:
    env: OpsEnv
    base_run_id: str
    serving_before: str
    serving_after_kill: str
    serving_run_after_kill: str
    killed_log: str
    orphans: list[int]
    orphans_alive_after_kill: list[int]
    recovery: subprocess.CompletedProcess[str]
    recovery_seconds: float


#: A dbt log line of a model written to the warehouse (dbt's progress is streamed to the run's stdout).
MODEL_WRITTEN = r"OK created sql \w+ model (intermediate|marts)\."


@pytest.fixture(scope="module")
def killed(ops_base: BaseEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    """`kpi run --date D` killed with SIGKILL once dbt has written ten models; then `kpi run --date D`."""
    root = tmp_path_factory.mktemp("killed")
    env = ops_base.env.copy(root)
    serving_before = sha256_file(env.serving_file)
    log = root / "killed.log"
    proc = env.popen("cli", "run", "-v", "--date", WEEK[0].isoformat(), log=log)  # -v: dbt's lines on stdout
    orphans: list[int] = []
    try:
        wait_for_log(proc, log, MODEL_WRITTEN, count=10, timeout=RUN_TIMEOUT_S)
        orphans = dbt_children(proc.pid)  # SIGKILL does not reach them: they live on, orphaned
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        serving_after_kill = sha256_file(env.serving_file)
        serving_run_after_kill = publish_run_id(env.serving_file)  # opens fine, says which run
        alive_after = [p for p in orphans if alive(p)]
        say(f"killed run {proc.pid} during dbt; its dbt {orphans} still alive: {alive_after}")
        started = time.monotonic()
        recovery = env.run("cli", "run", "--date", WEEK[0].isoformat())
        recovery_seconds = time.monotonic() - started
        (root / "recovery.log").write_text(recovery.stdout + recovery.stderr, encoding="utf-8")
        waited = "waiting for a process outside the writer lock" in recovery.stdout
        say(f"next run: exit {recovery.returncode} in {recovery_seconds:.0f} s; waited for the orphan: {waited}")
        yield Killed(env, ops_base.history_run["run_id"], serving_before, serving_after_kill, serving_run_after_kill,
                     log.read_text(encoding="utf-8"), orphans, alive_after, recovery, recovery_seconds)
    finally:
        for pid in orphans:  # an orphaned dbt must not outlive the test (it is ours: we started its parent)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_sigkill_during_dbt_leaves_the_serving_copy_intact(killed: Killed) -> None:
    assert "▶ warehouse_dbt_assets" in killed.killed_log
    assert "serving/kpi_duckdb" not in killed.killed_log  # killed before anything was published
    assert killed.serving_after_kill == killed.serving_before
    assert killed.serving_run_after_kill == killed.base_run_id


def test_the_next_run_after_sigkill_completes_without_manual_steps(killed: Killed) -> None:
    out = killed.recovery.stdout
    assert killed.recovery.returncode == 0, out[-4000:] + killed.recovery.stderr[-4000:]
    # without -v: a progress bar and a short summary; dbt's lines are in the run's log file
    assert len(out.splitlines()) <= 40, out
    assert re.search(r"^  \[#+\.*\] \d+/\d+ steps", out, flags=re.MULTILINE), out
    log_file = re.search(r"full log: (\S+)", out).group(1)
    assert "OK created sql table model marts.kpi_actuals" in Path(log_file).read_text(encoding="utf-8")
    assert re.search(r"run \S+ succeeded", out)
    # the killed run's record was closed (its process is gone), which freed its `warehouse` pool slot
    assert re.search(r"earlier run \S+ was abandoned \(its process died\)", out), out[-3000:]
    run_id = re.search(r"run (\S+) succeeded", out).group(1)
    assert publish_run_id(killed.env.serving_file) == run_id != killed.base_run_id
    with duckdb.connect(str(killed.env.warehouse), read_only=True) as con:
        assert con.execute("select max(period_end) from marts.kpi_actuals where grain = 'day'").fetchone()[0] \
            == WEEK[0]


def test_kpi_status_shows_the_runs_and_the_serving_copy(killed: Killed) -> None:
    proc = subprocess.run([kpi_executable(), "status"], cwd=REPO, env=killed.env.env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    run_id = re.search(r"run (\S+) succeeded", killed.recovery.stdout).group(1)
    lines = out.splitlines()
    assert lines[0] == "latest runs:"
    runs = [line.split() for line in lines[1:4]]
    # newest first: the next run, the killed one (closed as failed), the base history run
    assert [(r[0], r[1]) for r in runs] == [(run_id[:8], "SUCCESS"), (runs[1][0], "FAILURE"),
                                            (killed.base_run_id[:8], "SUCCESS")], out
    assert runs[0][-1] == WEEK[0].isoformat()  # the partition
    with duckdb.connect(str(killed.env.serving_file), read_only=True) as con:
        as_of = con.execute("select max(as_of_date) from marts._publish_info").fetchone()[0]
    assert f"serving copy: {killed.env.serving_file} as of {as_of}," in out
    assert f"by run {run_id[:8]}" in out
    assert re.search(r"servicedesk\.tickets\s+" + WEEK[0].isoformat(), out), out
    # plain text: which night each target serves, the kept nights, alerts counted by status
    assert re.search(rf"DuckDB \(serving/kpi.duckdb\)\s+night {run_id[:8]} \(as of {as_of}\)", out), out
    assert re.search(rf"Parquet \(serving/parquet/\)\s+night {run_id[:8]}", out), out
    assert f"kept for `kpi rollback --to <night>`: {run_id[:8]} ({as_of})" in out
    assert "{" not in out and "}" not in out, out
    alerts = [line for line in lines if line.startswith("alerts:")]
    assert len(alerts) == 1 and re.fullmatch(r"alerts: (none|[\d,]+ \w+(, [\d,]+ \w+)*)", alerts[0]), alerts


# ------------------------------------------------------------------------------------------------
# exit codes of the CLI
# ------------------------------------------------------------------------------------------------
def break_plan_weights(landing: Path) -> None:
    """Finance sends a revised plan whose weights of DIV-SALES no longer sum to 100 (net_revenue 40 → 35)."""
    [path] = landing.glob("finance/plan_FY2024_v2.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Weights"]
    hits = [row for row in sheet.iter_rows(min_row=2)
            if row[0].value == "DIV-SALES" and row[1].value == "net_revenue"]
    assert len(hits) == 1
    hits[0][2].value = hits[0][2].value - 5
    book.save(path)


def test_kpi_run_exits_3_with_the_reason_when_a_blocking_check_fails(
        killed: Killed, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert killed.recovery.returncode == 0
    env = killed.env.copy(tmp_path_factory.mktemp("blocked"))
    published = {name: tree_hashes(env.data_dir / name) for name in ("serving", "reports", "state")}
    break_plan_weights(env.data_dir / "landing")

    proc = env.run("cli", "run", "-v", "--date", WEEK[1].isoformat())

    out = proc.stdout
    assert proc.returncode == 3, out[-4000:] + proc.stderr[-3000:]
    assert re.search(r"blocking check failed: \S*assert_kpi_weights_sum_to_100 — nothing downstream was "
                     r"published", out), out[-3000:]
    assert "▶ serving/kpi_duckdb" not in out  # never started (Dagster does not even emit STEP_SKIPPED)
    assert {name: tree_hashes(env.data_dir / name) for name in published} == published
    assert publish_run_id(env.serving_file) == publish_run_id(killed.env.serving_file)


def test_kpi_usage_errors_exit_2() -> None:
    proc = subprocess.run([kpi_executable(), "backfill", "--start", "2024-07-02", "--end", "2024-07-01"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "is before --start" in proc.stdout
    proc = subprocess.run([kpi_executable(), "run", "--date", "yesterday"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "not a date (YYYY-MM-DD)" in proc.stderr


# ------------------------------------------------------------------------------------------------
# two writers at once
# ------------------------------------------------------------------------------------------------
def dbt_invocations(project: Path, run_id: str) -> list[tuple[float, float]]:
    """(start, end) epoch seconds of each dbt process a run started (from dbt's JSON log)."""
    from datetime import datetime

    spans = []
    for log in project.glob(f"target/warehouse_dbt_assets-{run_id[:7]}-*/dbt.log"):
        stamps = [datetime.fromisoformat(json.loads(line)["info"]["ts"].replace("Z", "+00:00")).timestamp()
                  for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
        spans.append((min(stamps), max(stamps)))
    return spans


def test_two_writers_at_once_both_succeed_one_after_the_other(
        ops_base: BaseEnv, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two processes run the warehouse writers (a dbt build of marts/dim_date, the serving copy, the
    alerts) on one warehouse at the same time: both succeed, the dbt processes never overlap, and no
    DuckDB lock error appears anywhere."""
    root = tmp_path_factory.mktemp("writers")
    env = ops_base.env.copy(root)
    args = ["--writers-only", "--dbt-model", "marts/dim_date", "--as-of", HISTORY_END.isoformat()]
    procs = [env.popen("nightly", str(root / f"w{i}.json"), *args, log=root / f"w{i}.log") for i in (1, 2)]
    for proc in procs:
        proc.wait(timeout=RUN_TIMEOUT_S)
    logs = [(root / f"w{i}.log").read_text(encoding="utf-8") for i in (1, 2)]
    assert [p.returncode for p in procs] == [0, 0], logs
    runs = [json.loads((root / f"w{i}.json").read_text(encoding="utf-8"))[0] for i in (1, 2)]
    assert [r["success"] for r in runs] == [True, True], [r["summary"] for r in runs]
    assert not [line for text in logs for line in text.splitlines() if "Could not set lock" in line]

    spans = sorted(span for run in runs for span in dbt_invocations(env.project, run["run_id"]))
    assert len(spans) == 2, spans
    assert spans[0][1] <= spans[1][0], f"dbt processes overlapped: {spans}"
    say(f"two writers: dbt {spans[0][1] - spans[0][0]:.0f} s, then {spans[1][1] - spans[1][0]:.0f} s; "
        f"lock waits: {[w for r in runs for w in r['lock_waits']]}")
    # both published, the later one is live
    manifest = json.loads((env.data_dir / "serving" / "publishes.json").read_text(encoding="utf-8"))
    assert {r["run_id"] for r in runs} <= {e["run_id"] for e in manifest["history"]}
    assert publish_run_id(env.serving_file) == manifest["current"]

