"""Replay nights of a demo company with history through the real pipeline, and hash warehouse marts.

Used by ``test_incremental_equals_full.py``; also runnable by hand to keep the folders for debugging:

    python -m tests.perf.replay WORK_DIR [--nights 7]

Every pipeline run happens in a fresh interpreter (``python -m pipelines.benchmark _nightly`` /
``_sensor``, the benchmark's children) whose environment points at a private data folder
(``KPI_DATA_DIR``) and a private dbt project copy (``KPI_DBT_PROJECT_DIR``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pipelines.benchmark.runs import late_days

REPO = Path(__file__).resolve().parents[2]
#: The smallest company whose last week has late files, order updates and cancellations (2 % of scale 1).
SCALE = 0.02
START, END = date(2024, 6, 1), date(2024, 7, 30)
#: Generous limit for one pipeline run (a hang must fail, not block the suite).
RUN_TIMEOUT_S = 1800

#: Columns that legitimately differ between a warehouse built night by night and one built at once,
#: by ``table.column`` (``*.column``: every table), with the reason. Everything else must be equal.
VOLATILE_COLUMNS: dict[str, str] = {
    "*._loaded_at": "when the extraction wrote the raw row (the night it was read), not the data",
    "dq_freshness.expected_rows": (
        "the median of rows read per partition of the feed's history, from the load log (left out above): "
        "a database partition read night by night held rows that later changes moved to a later partition "
        "(erp.orders: 16 against 13)"
    ),
}
#: Marts tables that are logs (one row per load or per check of every run): what is compared instead,
#: with the reason. The query's columns must not include a volatile one.
LOG_TABLES: dict[str, tuple[str, str]] = {
    "dq_check_results": (
        "appended by every dbt invocation (on-run-end hook); compared: the outcome of each check of the last "
        "invocation, without its ids, time, duration and message (a model's message is e.g. 'INSERT 12', "
        "the rows an incremental model inserted in that invocation)",
        "select layer, asset, check_name, status, blocking, severity, failing_rows, resource_type "
        "from marts.dq_check_results where run_id = "
        "(select run_id from marts.dq_check_results order by checked_at desc limit 1)",
    ),
}
#: Marts left out, with the reason.
LEFT_OUT_TABLES: dict[str, str] = {
    "dq_load_log": (
        "one row per read of a partition, as the source stood then: database tables are partitioned by change "
        "date (updated_at), so a row changed later leaves its earlier version in an earlier partition of the "
        "lake built night by night (e.g. erp.orders 2024-07-21: 15 rows against 14), and a partition read "
        "again unchanged is logged 'unchanged' instead of 'loaded'. The facts built from both lakes (latest "
        "version per key) are compared in the other marts"
    ),
}
#: Doubles are equal within this relative tolerance: a sum of doubles depends on the order DuckDB's
#: threads add them in, so two builds of the same data differ in the last bits, and rounding alone
#: cannot hide that when a value sits on a rounding boundary (…1575 → …157 or …158).
REL_TOL = 1e-9


@dataclass
class Replay:
    """A private data folder driven through nights; the dbt project copy it runs with."""

    data_dir: Path
    project: Path
    log: list[dict] = field(default_factory=list)
    #: more settings for every run (``KPI_DBT_SKIP_UNCHANGED``, …)
    settings: dict[str, str] = field(default_factory=dict)
    #: also run what is downstream of the warehouse (serving copies, reports, alerts): not compared here
    publish: bool = False

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse" / "warehouse.duckdb"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
        env.update({"KPI_DATA_DIR": str(self.data_dir), "KPI_DBT_PROJECT_DIR": str(self.project),
                    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1",
                    "PYTHONWARNINGS": "ignore"})
        env.update(self.settings)
        return env

    def copy(self, dst: Path, **settings: str) -> Replay:
        """A copy of the data folder (lake, warehouse, Dagster instance) under ``dst``."""
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.data_dir, dst / "data", symlinks=True)
        return Replay(dst / "data", self.project, settings={**self.settings, **settings}, publish=self.publish)

    def _child(self, label: str, *args: str) -> dict:
        if args[0] == "_nightly" and not self.publish:
            args = (*args, "--no-publish")
        result = self.data_dir.parent / f"{label}.json"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pipelines.benchmark", *args, "--result", str(result)],
                              cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        (self.data_dir.parent / f"{label}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        out = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
        self.log.append({"label": label, "seconds": round(time.monotonic() - started, 1),
                         "returncode": proc.returncode})
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"{label} failed (exit {proc.returncode}): {out.get('summary', '')}\n"
                               f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return out

    def range_run(self, label: str, start: date, end: date, as_of: date | None = None,
                  assets: list[str] | None = None) -> dict:
        args = ["_nightly", "--start", start.isoformat(), "--end", end.isoformat()]
        args += ["--as-of", as_of.isoformat()] if as_of else []
        return self._child(label, *args, *(["--assets", json.dumps(assets)] if assets else []))

    def partition_run(self, label: str, day: date, assets: list[str] | None = None,
                      as_of: date | None = None) -> dict:
        args = ["_nightly", "--partition", day.isoformat(), *(["--as-of", as_of.isoformat()] if as_of else [])]
        return self._child(label, *args, *(["--assets", json.dumps(assets)] if assets else []))

    def sensor(self, label: str) -> list[dict]:
        cursor = self.data_dir.parent / "sensor_cursor.txt"
        return self._child(label, "_sensor", "--cursor", str(cursor))["requests"]

    def night(self, history: Path, day: date) -> dict:
        """The sources as of ``day``; the sensor's runs for earlier days as requested; the day's run."""
        from pipelines.demo.as_of import write_sources_as_of

        sources = write_sources_as_of(history, self.data_dir, day)
        requests = self.sensor(f"sensor-{day}")
        earlier = [r for r in requests if late_days(r)[-1] < day.isoformat()]
        for r in earlier:
            days = late_days(r)
            if r.get("partition"):
                self.partition_run(f"late-{days[0]}-for-{day}", date.fromisoformat(days[0]), r["assets"])
            else:  # several late days: one range run, as the sensor requests it
                self.range_run(f"late-{days[0]}-{days[-1]}-for-{day}", date.fromisoformat(days[0]),
                               date.fromisoformat(days[-1]), assets=r["assets"])
        self.partition_run(f"night-{day}", day)
        return {"day": day.isoformat(), "landing_written": len(sources.written),
                "late_runs": ["…".join(late_days(r)) for r in earlier]}


def prepare_project(root: Path) -> Path:
    """A private copy of dbt_project with the compiled catalog and its manifest (`kpi prepare`)."""
    project = root / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "generated"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
    env["KPI_DATA_DIR"] = str(root / "prepare-data")
    proc = subprocess.run([sys.executable, "-m", "tests.ops._runner", str(project), "prepare"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return project


def generate_history(history: Path) -> None:
    from pipelines.demo import generate

    generate(history, scale=SCALE, start=START, end=END, history=True)


def incremental(root: Path, project: Path, history: Path, first_load_end: date, nights: int) -> Replay:
    """First load up to ``first_load_end``, then ``nights`` nights, each against the sources of its day."""
    from pipelines.demo.as_of import write_sources_as_of

    replay = Replay(root / "data", project)
    write_sources_as_of(history, replay.data_dir, first_load_end)
    replay.range_run("first-load", START, first_load_end, as_of=first_load_end)
    replay.sensor("sensor-first-look")  # remembers the files already there
    for n in range(1, nights + 1):
        replay.log.append(replay.night(history, first_load_end + timedelta(days=n)))
    return replay


def full(root: Path, project: Path, history: Path, day: date) -> Replay:
    """The same warehouse built at once: the sources as of ``day``, one first load up to it."""
    from pipelines.demo.as_of import write_sources_as_of

    replay = Replay(root / "data", project)
    write_sources_as_of(history, replay.data_dir, day)
    replay.range_run("full-load", START, day)
    return replay


# --- comparing --------------------------------------------------------------------------------------

MARTS_SCHEMAS = ("marts",)


def _normalised(value: object) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.12g}"
    return repr(value)


def _rows(con, table: str) -> tuple[list[str], list[tuple]]:  # con: a DuckDB connection
    """Column names and rows of ``schema.table`` as compared: log tables by their query, others without
    the volatile columns."""
    schema, name = table.split(".")
    if name in LOG_TABLES:
        query = LOG_TABLES[name][1]
    else:
        columns = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, name]).fetchall()
            if f"{name}.{c}" not in VOLATILE_COLUMNS and f"*.{c}" not in VOLATILE_COLUMNS]
        query = f'select {", ".join(chr(34) + c + chr(34) for c in columns)} from "{schema}"."{name}"'  # noqa: S608
    cursor = con.execute(query)
    header = [d[0] for d in cursor.description]
    return header, cursor.fetchall()


def table_rows(warehouse: Path, table: str) -> list[tuple]:
    """The compared rows of ``schema.table``, sorted (doubles to 6 digits for the order)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        _, rows = _rows(con, table)
    return sorted(rows, key=lambda row: tuple(_coarse(v) for v in row))


def _coarse(value: object) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.6g}"
    return repr(value)


def rows_close(a: list[tuple], b: list[tuple]) -> bool:
    """Same rows, doubles within REL_TOL (both sorted by :func:`table_rows`)."""
    import math

    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not (x == y or (x != x and y != y) or math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-9)):
                    return False
            elif x != y:
                return False
    return True


def table_hashes(warehouse: Path, schemas: tuple[str, ...] = MARTS_SCHEMAS) -> dict[str, tuple[int, str]]:
    """``schema.table`` → (rows, order-insensitive content hash) for every table of ``schemas``:
    rows sorted by their normalised text (doubles to 12 significant digits), volatile columns and
    tables left out."""
    import duckdb

    out: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database() "
            "and list_contains(?, table_schema) order by all", [list(schemas)]).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            if table in LEFT_OUT_TABLES:
                continue
            columns, rows = _rows(con, name)
            header = ",".join(columns)
            lines = sorted("\x1f".join(map(_normalised, row)) for row in rows)
            digest = hashlib.sha256("\n".join([header, *lines]).encode("utf-8")).hexdigest()
            out[name] = (len(rows), digest)
    return out


def no_data_night(inc: Replay, root: Path, day: date, as_of: date) -> tuple[dict, dict, Replay]:
    """The night after the last one, with nothing new: the partition ``day`` again, the run date moved on
    to ``as_of``. Run once as configured (a selective build) on ``inc`` itself, and once with
    ``KPI_DBT_SKIP_UNCHANGED=false`` (the whole project) on a copy taken before; their results and the copy."""
    whole = inc.copy(root / "whole-night", KPI_DBT_SKIP_UNCHANGED="false")
    selective = inc.partition_run("no-data-selective", day, as_of=as_of)
    full_night = whole.partition_run("no-data-whole", day, as_of=as_of)
    return selective, full_night, whole


def differing(a: dict[str, tuple[int, str]], b: dict[str, tuple[int, str]]) -> dict[str, list]:
    """The tables whose rows or hash differ (or that one side lacks): table → [a, b]."""
    return {t: [a.get(t), b.get(t)] for t in sorted(a.keys() | b.keys()) if a.get(t) != b.get(t)}


def differing_tables(warehouse_a: Path, warehouse_b: Path, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """The marts of two warehouses that differ: by hash first; a table whose hashes differ but whose
    rows agree within REL_TOL (the doubles' last bits) counts as equal. table → [rows a, rows b]."""
    a, b = table_hashes(warehouse_a), table_hashes(warehouse_b)
    out = {}
    for table, sides in differing(a, b).items():
        if table in skip:
            continue
        if None not in sides and rows_close(table_rows(warehouse_a, table), table_rows(warehouse_b, table)):
            continue
        out[table] = [side[0] if side else None for side in sides]
    return out


def check_outcomes(warehouse: Path) -> set[tuple]:
    """The outcome of each check of the warehouse's last dbt invocation (dq_check_results)."""
    return set(table_rows(warehouse, "marts.dq_check_results"))


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tests.perf.replay")
    p.add_argument("work", type=Path)
    p.add_argument("--nights", type=int, default=7)
    p.add_argument("--step", choices=["all", "prepare", "incremental", "full", "compare", "nodata"], default="all")
    args = p.parse_args(argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    first_load_end = END - timedelta(days=args.nights)
    if args.step in ("all", "prepare"):
        prepare_project(work)
        generate_history(work / "history")
    project, history = work / "dbt_project", work / "history"
    if args.step in ("all", "incremental"):
        shutil.rmtree(work / "inc", ignore_errors=True)
        inc = incremental(work / "inc", project, history, first_load_end, args.nights)
        print(json.dumps(inc.log, indent=1), flush=True)
    if args.step in ("all", "full"):
        shutil.rmtree(work / "full", ignore_errors=True)
        f = full(work / "full", project, history, END)
        print(json.dumps(f.log, indent=1), flush=True)
    if args.step in ("all", "compare"):
        diff = differing_tables(work / "inc" / "data" / "warehouse" / "warehouse.duckdb",
                                work / "full" / "data" / "warehouse" / "warehouse.duckdb")
        print(json.dumps(diff, indent=1))
        print(f"{len(diff)} tables differ")
    if args.step in ("all", "nodata"):
        inc = Replay(work / "inc" / "data", project)
        before = table_hashes(inc.warehouse)
        shutil.rmtree(work / "nodata", ignore_errors=True)
        selective, whole_run, whole = no_data_night(inc, work / "nodata", END, END + timedelta(days=1))
        print(json.dumps({"selective": {k: selective.get(k) for k in ("summary",)},
                          "whole": {k: whole_run.get(k) for k in ("summary",)},
                          "log": inc.log + whole.log}, indent=1, default=str)[:20000])
        print("selective vs whole:", json.dumps(differing_tables(inc.warehouse, whole.warehouse), indent=1))
        print("checks of the selective build not in the whole one:",
              sorted(check_outcomes(inc.warehouse) - check_outcomes(whole.warehouse)))
        print("changed by the moved run date:", sorted(differing(before, table_hashes(inc.warehouse))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
