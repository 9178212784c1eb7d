"""The faithful history of one generation: what the sources looked like at the end of any day.

``generate(..., history=True)`` writes, beside the final state (``sources/``, ``landing/``), a folder
``history/`` with what a later, cheap step (:func:`pipelines.demo.as_of.write_sources_as_of`) needs to
write the sources *as they stood at the end of a local day D*:

- ``history/erp.sqlite``, ``history/hr.sqlite``: the **earlier versions** of database rows that change
  after they are written (same tables and columns as the source databases; a key may repeat). A row's
  ``updated_at`` is the moment that version was written, so the version in force at D is the one with
  the latest ``updated_at`` before the end of D, and a row whose first version is later than D did
  not exist yet. In the demo, a row changes at most once: an order is open until it ships or is
  cancelled, an order line until it is cancelled, a return is updated once, a customer record is
  touched once, a product's price changes once, an employee is active until the termination is
  entered (18:00 on the termination day), an assignment is open until it closes, and the re-organised
  team's org unit row is open until the re-organisation is entered (18:00 the day before).
- ``history/manifest.json``: the generation's parameters and, for every landing file, its business
  day and the **day it was delivered**. Most daily exports arrive on their own day; a few
  (``LATE_FILE_RATE``) arrive 1–``MAX_DELAY_DAYS`` days late (never after the window's last day). A
  plan workbook is delivered on its ``valid_from`` (or the window's first day). Files whose content
  changes after delivery say so with ``status_column``: the MES export rewrites a finish day's file
  when one of its runs is delivered, so as of D the file shows the delivery dates up to D. A file
  that grows over the window (the owners' check-ins) says so with ``row_time_column``: as of D it
  holds the rows written by the end of D (header only before the first).

The service-desk, survey and engineering exports need no versions: each daily file already shows every
row as it stood at the end of that file's day (a ticket's resolution, a bug's fix re-appear in the file
of the day they happen).
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

from .business_calendar import Calendar
from .common import DemoConfigError, atomic_write_bytes, rng_for
from .finance import plan_versions

HISTORY_DIR = "history"
HISTORY_MANIFEST = "manifest.json"
FORMAT_VERSION = 1
#: share of daily landing files that arrive late, and by how many days at most
LATE_FILE_RATE = 0.03
MAX_DELAY_DAYS = 3
#: landing files whose rows change after the file is first delivered: column holding the later status
STATUS_COLUMNS = {"mes/production_runs": "delivered_date"}
#: landing files that grow over the window: one file, its rows appear at their own time (a UTC
#: ``YYYY-MM-DDTHH:MM:SSZ`` column); as of D the file holds the rows written by the end of D
GROWING_FILES = {"landing/checkins/demo_checkins.csv": "created_at"}

_DAILY = re.compile(r"^landing/(?P<folder>[a-z_]+)/(?P<stem>[a-z_]+)_(?P<day>\d{8})\.[a-z]+$")
_PLAN = re.compile(r"^landing/finance/plan_FY(?P<year>\d{4})_v(?P<version>\d+)\.xlsx$")


def landing_arrivals(files: list[str], cal: Calendar, seed: int) -> dict[str, dict[str, str]]:
    """For every landing file (path relative to the data directory): its day and its delivery day."""
    start, end = cal.date_of(0), cal.date_of(cal.n - 1)
    plans = {pv.name: pv.valid_from for pv in plan_versions(start, end)}
    delays: dict[str, list[int]] = {}
    out: dict[str, dict[str, str]] = {}
    for rel in sorted(files):
        entry: dict[str, str]
        daily = _DAILY.match(rel)
        plan = _PLAN.match(rel)
        if daily:
            kind = f"{daily['folder']}/{daily['stem']}"
            day = date(int(daily["day"][:4]), int(daily["day"][4:6]), int(daily["day"][6:]))
            if kind not in delays:
                rng = rng_for(seed, "arrivals", kind)
                late = rng.random(cal.n) < LATE_FILE_RATE
                delays[kind] = (late * rng.integers(1, MAX_DELAY_DAYS + 1, cal.n)).tolist()
            arrives = min(day + timedelta(days=delays[kind][(day - start).days]), end)
            entry = {"day": day.isoformat(), "arrives": arrives.isoformat()}
            if kind in STATUS_COLUMNS:
                entry["status_column"] = STATUS_COLUMNS[kind]
        elif rel in GROWING_FILES:
            entry = {"day": start.isoformat(), "arrives": start.isoformat(), "row_time_column": GROWING_FILES[rel]}
        elif plan and Path(rel).name in plans:
            valid_from = plans[Path(rel).name]
            entry = {"day": valid_from.isoformat(), "arrives": max(valid_from, start).isoformat()}
        else:
            raise DemoConfigError(f"{rel}: no delivery rule for this landing file")
        out[rel] = entry
    return out


def write_history_manifest(data_dir: Path, params: dict, landing: dict[str, dict[str, str]],
                           earlier_rows: dict[str, int]) -> None:
    manifest = {
        "generator": "pipelines.demo",
        "format_version": FORMAT_VERSION,
        "params": params,
        "late_file_rate": LATE_FILE_RATE,
        "max_delay_days": MAX_DELAY_DAYS,
        "earlier_versions": dict(sorted(earlier_rows.items())),
        "landing": landing,
    }
    atomic_write_bytes(data_dir / HISTORY_DIR / HISTORY_MANIFEST,
                       (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def read_history_manifest(history_dir: Path) -> dict:
    """The history manifest of a generation folder; a clear error when there is none."""
    path = Path(history_dir) / HISTORY_DIR / HISTORY_MANIFEST
    if not path.is_file():
        raise DemoConfigError(f"{path} not found: generate the demo with history=True (--history) first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DemoConfigError(f"{path}: format_version {manifest.get('format_version')!r}, expected "
                              f"{FORMAT_VERSION}: generate the history again")
    final = Path(history_dir) / "ground_truth" / "manifest.json"
    if final.is_file():
        params = json.loads(final.read_text(encoding="utf-8")).get("params", {})
        mine = manifest["params"]
        if any(params.get(k) != mine.get(k) for k in ("seed", "scale", "start", "end", "timezone")):
            raise DemoConfigError(f"{path} does not belong to the generation in {history_dir} "
                                  f"(parameters differ from ground_truth/manifest.json)")
    return manifest


def remove_history(data_dir: Path) -> None:
    """Drop a history left by an earlier generation (it would describe other data)."""
    folder = Path(data_dir) / HISTORY_DIR
    for name in (HISTORY_MANIFEST, "erp.sqlite", "hr.sqlite"):
        (folder / name).unlink(missing_ok=True)
