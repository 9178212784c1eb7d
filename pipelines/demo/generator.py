"""Orchestration: generate the whole demo company into a data directory, then the ground truth."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .anomalies import AnomalyPlan, plan_anomalies
from .business_calendar import Calendar, Holiday, default_holidays_path, load_holidays
from .checkins import generate_checkins
from .common import DAY, HOUR, Clock, DemoConfigError, atomic_write_bytes, sha256_file
from .company import DEFAULT_END, DEFAULT_START
from .defects import DefectLog
from .engineering import generate_engineering
from .erp import ErpParams, ERPResult, SalesModel, generate_erp, make_products
from .finance import Planner, weights_rows, write_plans
from .history import HISTORY_DIR, landing_arrivals, remove_history, write_history_manifest
from .hr import HRResult, generate_hr
from .mes import generate_mes
from .servicedesk import generate_servicedesk
from .survey import generate_survey
from .writers import DatabaseTarget, write_versions_sqlite

FORMAT_VERSION = 1
#: landing sub-folder -> file-name pattern the generator owns (stale files matching it are removed)
LANDING_PATTERNS = {
    "servicedesk": re.compile(r"^tickets_\d{8}\.csv$"),
    "survey": re.compile(r"^nps_\d{8}\.jsonl$"),
    "mes": re.compile(r"^production_runs_\d{8}\.parquet$"),
    "engineering": re.compile(r"^(bugs|releases)_\d{8}\.jsonl$"),
    "finance": re.compile(r"^plan_FY\d{4}_v\d+\.xlsx$"),
    "checkins": re.compile(r"^demo_checkins\.csv$"),
}


def generate(
    data_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    timezone: str = "Asia/Shanghai",
    erp_url: str | None = None,
    hr_url: str | None = None,
    progress: Callable[[str], None] | None = None,
    holidays_path: Path | None = None,
    parallel: bool | None = None,
    history: bool = False,
) -> dict:
    """Generate the demo company under ``data_dir``; return the manifest (also written to disk).

    Same parameters, same bytes: every file is written atomically and deterministically. With
    ``erp_url`` / ``hr_url`` (SQLAlchemy URLs) the databases are loaded there instead of SQLite files.
    ``parallel`` (default: when the platform can fork and more than one CPU is available) loads the
    ERP database in a forked child while the landing files are written; the output is the same.
    ``history`` also records the faithful history under ``history/`` (earlier versions of database
    rows, the delivery day of every landing file; see :mod:`pipelines.demo.history`), from which
    :func:`pipelines.demo.as_of.write_sources_as_of` writes the sources as they stood on any day. It
    needs SQLite targets and changes nothing else in the output.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived tuples: the cyclic GC would only slow us down
    try:
        return _generate(data_dir, seed=seed, scale=scale, start=start, end=end, timezone=timezone,
                         erp_url=erp_url, hr_url=hr_url, progress=progress, holidays_path=holidays_path,
                         parallel=parallel, history=history)
    finally:
        if gc_was_enabled:
            gc.enable()


@dataclass
class _Run:
    """One generation: where it writes, the window, and what it has recorded so far."""

    data_dir: Path
    seed: int
    scale: float
    timezone: str
    cal: Calendar
    default_cal: Calendar
    clock: Clock
    holidays: list[Holiday]
    plan: AnomalyPlan
    history: bool
    say: Callable[[str], None]
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # relative path -> rows, sha256
    earlier_rows: dict[str, int] = field(default_factory=dict)  # the history's earlier row versions
    defects: DefectLog = field(default_factory=DefectLog)

    @property
    def landing(self) -> Path:
        return self.data_dir / "landing"

    @property
    def history_dir(self) -> Path:
        return self.data_dir / HISTORY_DIR

    def initial_utc(self) -> int:
        """The initial load: 09:00 local on the first day."""
        return int(self.clock.to_utc(np.array([self.cal.day0 * DAY + 9 * HOUR]))[0])

    def snapshot_utc(self) -> int:
        """The end of the last day."""
        return int(self.clock.to_utc(np.array([(self.cal.day0 + self.cal.n) * DAY - 1]))[0])

    def record(self, rows: dict[str, int]) -> None:
        _record(self.files, self.data_dir, rows)


def _generate(data_dir: Path, *, seed: int, scale: float, start: date, end: date, timezone: str,
              erp_url: str | None, hr_url: str | None, progress: Callable[[str], None] | None,
              holidays_path: Path | None, parallel: bool | None, history: bool) -> dict:
    _check_params(scale, start, end, timezone, history=history, external=bool(erp_url or hr_url))
    data_dir = Path(data_dir)
    remove_history(data_dir)
    holidays = load_holidays(holidays_path or default_holidays_path())
    cal = Calendar(start, end, holidays)
    default_cal = Calendar(DEFAULT_START, DEFAULT_END, holidays)
    before = _owned_landing_files(data_dir / "landing")
    plan = plan_anomalies(cal, seed, scale=scale, default_cal=default_cal)
    run = _Run(data_dir, seed, scale, timezone, cal, default_cal, Clock(timezone), holidays, plan, history,
               progress or (lambda _msg: None))
    run.say(f"plan: {cal.n} days {start}..{end}, {len(plan.anomalies)} anomalies")

    sources = data_dir / "sources"
    hr_target = DatabaseTarget(url=hr_url, label="hr") if hr_url else DatabaseTarget(
        sqlite_path=sources / "hr.sqlite", label="hr")
    erp_target = DatabaseTarget(url=erp_url, label="erp") if erp_url else DatabaseTarget(
        sqlite_path=sources / "erp.sqlite", label="erp")
    hr = _generate_hr(run, hr_target)
    products = make_products(seed, run.clock, cal, run.initial_utc(), run.snapshot_utc())
    model = SalesModel(holidays, scale, products, seed)
    erp = generate_erp(ErpParams(cal, run.clock, seed, scale, model, products, hr.workforce, plan,
                                 run.initial_utc(), run.snapshot_utc(), erp_target.loose_types,
                                 erp_target.describe(data_dir)))
    entities = _load_erp_while(run, erp, erp_target, parallel, lambda: _write_landing(run, hr, erp, model))

    # stale files from an earlier run with other parameters would be read as data: remove them
    written = {data_dir / f for f in run.files}
    for path in sorted(before - written):
        path.unlink(missing_ok=True)
    manifest = _write_ground_truth(run, (erp_target, hr_target), entities)
    if history:
        landing_files = [f for f in run.files if f.startswith("landing/")]
        params = {k: manifest["params"][k] for k in ("seed", "scale", "start", "end", "timezone")}
        write_history_manifest(data_dir, params, landing_arrivals(landing_files, cal, seed), run.earlier_rows)
        run.say(f"history: {sum(run.earlier_rows.values()):,} earlier row versions, delivery days of "
                f"{len(landing_files):,} landing files")
    run.say(f"ground truth: {len(plan.anomalies)} anomalies, {len(run.defects.items)} defects, manifest")
    return manifest


def _check_params(scale: float, start: date, end: date, timezone: str, *, history: bool, external: bool) -> None:
    if not scale > 0:
        raise DemoConfigError(f"scale must be > 0, got {scale}")
    if end < start:
        raise DemoConfigError(f"end {end} is before start {start}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DemoConfigError(f"unknown timezone {timezone!r}") from exc
    if history and external:
        raise DemoConfigError("history=True needs the SQLite source databases (no erp_url / hr_url)")


def _generate_hr(run: _Run, target: DatabaseTarget) -> HRResult:
    """Generate HR and load its database (and its earlier row versions with the history)."""
    hr = generate_hr(run.cal, run.clock, run.seed, run.scale, run.initial_utc(), run.snapshot_utc(),
                     target.describe(run.data_dir))
    counts = target.write(hr.tables)
    run.row_counts.update({f"hr.{k}": v for k, v in counts.items()})
    if run.history:
        earlier = write_versions_sqlite(run.history_dir / "hr.sqlite", hr.tables)
        run.earlier_rows.update({f"hr.{k}": v for k, v in earlier.items()})
    run.defects.extend(hr.defects)
    run.say("hr: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return hr


def _load_erp_while(run: _Run, erp: ERPResult, target: DatabaseTarget, parallel: bool | None,
                    work: Callable[[], dict[str, int]]) -> dict[str, int]:
    """Load the ERP database — in a forked child while ``work`` runs when ``parallel`` — and return ``work()``."""

    def load_erp() -> dict:
        loaded = {"final": target.write(erp.tables)}
        if run.history:
            loaded["earlier"] = write_versions_sqlite(run.history_dir / "erp.sqlite", erp.tables)
        return loaded

    if parallel is None:
        parallel = _can_fork() and (os.cpu_count() or 1) > 1
    if parallel:
        erp_job = _Forked(load_erp)
        run.say(f"erp: generated {erp.counts['order_lines']:,} order lines; loading the database in a child process")
    else:
        erp_loaded = load_erp()
        run.say("erp: " + ", ".join(f"{k} {v:,}" for k, v in erp_loaded["final"].items()))
    run.defects.extend(erp.defects)
    try:
        result = work()
    except BaseException:
        if parallel:
            erp_job.cancel()
        raise
    if parallel:
        erp_loaded = erp_job.result()
        run.say("erp: " + ", ".join(f"{k} {v:,}" for k, v in erp_loaded["final"].items()))
    run.row_counts.update({f"erp.{k}": v for k, v in erp_loaded["final"].items()})
    run.earlier_rows.update({f"erp.{k}": v for k, v in erp_loaded.get("earlier", {}).items()})
    return result


def _write_landing(run: _Run, hr: HRResult, erp: ERPResult, model: SalesModel) -> dict[str, int]:
    """The landing files of every file-based source; returns the entity counts of the manifest."""
    cal, default_cal, clock, seed, scale, plan = run.cal, run.default_cal, run.clock, run.seed, run.scale, run.plan
    landing, row_counts = run.landing, run.row_counts
    sd = generate_servicedesk(cal, default_cal, clock, seed, scale, hr.workforce, erp.customers, plan,
                              landing / "servicedesk", Path("landing/servicedesk"))
    row_counts["servicedesk.tickets"] = sum(sd.files.values())
    run.defects.extend(sd.defects)
    run.record(sd.files)
    run.say(f"servicedesk: {sd.tickets:,} tickets in {sum(sd.files.values()):,} rows, {len(sd.files)} files")

    sv = generate_survey(cal, default_cal, clock, seed, scale, erp.customers, landing / "survey",
                         Path("landing/survey"))
    row_counts["survey.nps_responses"] = sum(sv.files.values())
    run.defects.extend(sv.defects)
    run.record(sv.files)
    run.say(f"survey: {sv.rows:,} responses, {len(sv.files)} files")

    mes = generate_mes(cal, default_cal, clock, seed, scale, erp.products, plan, landing / "mes", Path("landing/mes"))
    row_counts["mes.production_runs"] = sum(mes.files.values())
    run.defects.extend(mes.defects)
    run.record(mes.files)
    run.say(f"mes: {mes.rows:,} production runs, {len(mes.files)} files")

    eng = generate_engineering(cal, default_cal, clock, seed, plan, landing / "engineering",
                               Path("landing/engineering"))
    row_counts["engineering.bugs"] = sum(v for k, v in eng.files.items() if "/bugs_" in k)
    row_counts["engineering.releases"] = sum(v for k, v in eng.files.items() if "/releases_" in k)
    run.defects.extend(eng.defects)
    run.record(eng.files)
    run.say(f"engineering: {eng.bugs:,} bugs in {row_counts['engineering.bugs']:,} rows, {eng.releases:,} releases")

    planner = Planner(run.holidays, model, hr.workforce, cal, seed)
    fin = write_plans(planner, cal.start, cal.end, landing / "finance", Path("landing/finance"))
    row_counts["finance.targets"] = sum(fin.values())
    row_counts["finance.weights"] = len(fin) * len(weights_rows())
    row_counts["finance.plan_info"] = len(fin)
    run.record(fin)
    run.say(f"finance: {', '.join(Path(f).name for f in fin)}")

    ck = generate_checkins(cal, seed, run.timezone, hr.tables, landing / "checkins", Path("landing/checkins"))
    row_counts["checkins.comments"] = sum(ck.values())
    run.record(ck)
    return {"tickets": sd.tickets, "survey_responses": sv.rows, "production_runs": mes.rows, "bugs": eng.bugs,
            "releases": eng.releases}


def _write_ground_truth(run: _Run, targets: tuple[DatabaseTarget, DatabaseTarget],
                        entities: dict[str, int]) -> dict:
    """anomalies.csv, defects.csv and the manifest (which records every file the run wrote); returns the manifest."""
    data_dir, truth = run.data_dir, run.data_dir / "ground_truth"
    atomic_write_bytes(truth / "anomalies.csv", run.plan.to_csv())
    atomic_write_bytes(truth / "defects.csv", run.defects.to_csv())
    run.record({"ground_truth/anomalies.csv": len(run.plan.anomalies),
                "ground_truth/defects.csv": len(run.defects.items)})
    for target in targets:
        if target.sqlite_path is not None:
            rel = target.describe(data_dir)
            if not Path(rel).is_absolute() and (data_dir / rel).exists():
                src = target.label
                run.record({rel: sum(v for k, v in run.row_counts.items() if k.startswith(src + "."))})
    erp_target, hr_target = targets
    manifest = {
        "generator": "pipelines.demo",
        "format_version": FORMAT_VERSION,
        "params": {
            "seed": run.seed,
            "scale": run.scale,
            "start": run.cal.start.isoformat(),
            "end": run.cal.end.isoformat(),
            "timezone": run.timezone,
            "erp": erp_target.describe(data_dir) if erp_target.is_sqlite else "external",
            "hr": hr_target.describe(data_dir) if hr_target.is_sqlite else "external",
        },
        "row_counts": dict(sorted(run.row_counts.items())),
        "entities": entities,
        "ground_truth": {"anomalies": len(run.plan.anomalies), "defects": len(run.defects.items)},
        "files": dict(sorted(run.files.items())),
    }
    atomic_write_bytes(truth / "manifest.json",
                       (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return manifest


def _record(files: dict[str, dict], data_dir: Path, rows: dict[str, int]) -> None:
    for rel, n in rows.items():
        files[rel] = {"rows": n, "sha256": sha256_file(data_dir / rel)}


def _owned_landing_files(landing: Path) -> set[Path]:
    out: set[Path] = set()
    for sub, pattern in LANDING_PATTERNS.items():
        folder = landing / sub
        if folder.is_dir():
            out.update(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))
    return out


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class _Forked:
    """Run ``fn`` in a forked child (it inherits the generated arrays without copying); get its result."""

    def __init__(self, fn: Callable[[], dict]):
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)

        def target() -> None:
            try:
                send.send(("ok", fn()))
            except BaseException as exc:  # report any failure to the parent, then exit
                send.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            finally:
                send.close()

        self._proc = ctx.Process(target=target, name="demo-erp-writer")
        self._proc.start()
        send.close()

    def cancel(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._recv.close()

    def result(self) -> dict:
        try:
            status, payload = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise RuntimeError(f"the ERP writer process died (exit code {self._proc.exitcode})") from None
        finally:
            self._recv.close()
        self._proc.join()
        if status != "ok":
            raise RuntimeError(f"loading the ERP database failed: {payload}")
        return payload
