"""Owners' check-ins: a comment on a KPI for a period, as in the scorecard tools teams use.

Owners write them with `kpi checkin` (one CSV line appended to ``landing/checkins/checkins.csv``) or
drop their own UTF-8 CSV files with the same columns into ``landing/checkins/``. Each nightly run
snapshots every file into the raw lake (``lake/raw/checkins/comments/date=<local created date>/``);
a row that cannot be used (missing KPI or unit, bad grain or date) goes to
``lake/quarantine/checkins/comments/`` with the file, line and reason. dbt builds
``marts.kpi_checkins`` from the raw lake, and the review report shows them beside the KPI.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

CHECKIN_COLUMNS = ["kpi_id", "org_unit_id", "grain", "period_start", "author", "comment", "created_at"]
OPTIONAL_COLUMNS = ["status_override"]
GRAINS = {"month", "quarter", "year"}

RAW_SCHEMA = pa.schema([
    ("kpi_id", pa.string()),
    ("org_unit_id", pa.string()),
    ("grain", pa.string()),
    ("period_start", pa.date32()),
    ("author", pa.string()),
    ("comment", pa.string()),
    ("status_override", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("_source", pa.string()),
    ("_row_number", pa.int64()),
    ("_loaded_at", pa.timestamp("us", tz="UTC")),
    ("_batch_id", pa.string()),
])
QUARANTINE_SCHEMA = pa.schema([
    ("_raw", pa.string()),
    ("_rule", pa.string()),
    ("_field", pa.string()),
    ("_value", pa.string()),
    ("_reason", pa.string()),
    ("_row_number", pa.int64()),
    ("_source", pa.string()),
    ("_batch_id", pa.string()),
    ("_loaded_at", pa.timestamp("us", tz="UTC")),
])


def append_checkin(landing_dir: Path, *, kpi_id: str, org_unit_id: str, grain: str, period_start: date,
                   author: str, comment: str, now: datetime | None = None) -> Path:
    """Append one check-in to ``landing/checkins/checkins.csv`` (created with its header)."""
    if not comment.strip():
        raise ValueError("a check-in needs a comment")
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {sorted(GRAINS)}, got {grain!r}")
    path = Path(landing_dir) / "checkins" / "checkins.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(path, "a", newline="", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        writer = csv.writer(handle)
        if handle.tell() == 0:
            writer.writerow(CHECKIN_COLUMNS)
        writer.writerow([kpi_id, org_unit_id, grain, period_start.isoformat(), author, comment.strip(), created])
    return path


@dataclass
class CheckinLoad:
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    files: int
    partitions: int

    def as_metadata(self) -> dict[str, int]:
        return dict(self.__dict__)


def _problem(row: dict[str, str]) -> tuple[str, str, str] | None:
    """(rule, field, reason) of the first problem of a row, or None."""
    for field in ("kpi_id", "org_unit_id", "author", "comment"):
        if not (row.get(field) or "").strip():
            return "not_null", field, f"{field} is empty"
    if row.get("grain") not in GRAINS:
        return "in_set", "grain", f"grain must be one of {sorted(GRAINS)}; got {row.get('grain')!r}"
    for field, parse in (("period_start", date.fromisoformat), ("created_at", _parse_ts)):
        try:
            parse(row.get(field) or "")
        except ValueError:
            return "type", field, f"{field} is not a valid date/time: {row.get(field)!r}"
    return None


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def snapshot_checkins(landing_dir: Path, lake_dir: Path, *, timezone: str,
                      now: datetime | None = None) -> CheckinLoad:
    """Read every check-in file and replace the raw snapshot atomically; quarantine bad rows."""
    loaded_at = (now or datetime.now(UTC)).astimezone(UTC)
    files = sorted((Path(landing_dir) / "checkins").glob("*.csv"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:8]
    batch_id = f"checkins.comments:{loaded_at:%Y%m%dT%H%M%S}:{digest}"
    good: list[dict] = []
    bad: list[dict] = []
    for path in files:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CHECKIN_COLUMNS if c not in (reader.fieldnames or [])]
            rows = list(reader)
        source = str(path.relative_to(landing_dir))
        for number, row in enumerate(rows, start=1):
            problem = ("header", ",".join(missing), f"missing columns {missing}") if missing else _problem(row)
            if problem:
                rule, field, reason = problem
                bad.append({"_raw": json.dumps(row, ensure_ascii=False), "_rule": rule, "_field": field,
                            "_value": str(row.get(field, "")), "_reason": f"{source} row {number}: {reason}",
                            "_row_number": number, "_source": source, "_batch_id": batch_id,
                            "_loaded_at": loaded_at})
                continue
            good.append({
                "kpi_id": row["kpi_id"].strip(), "org_unit_id": row["org_unit_id"].strip(),
                "grain": row["grain"], "period_start": date.fromisoformat(row["period_start"]),
                "author": row["author"].strip(), "comment": row["comment"].strip(),
                "status_override": (row.get("status_override") or "").strip() or None,
                "created_at": _parse_ts(row["created_at"]), "_source": source, "_row_number": number,
                "_loaded_at": loaded_at, "_batch_id": batch_id,
            })
    tz = ZoneInfo(timezone)
    by_day: dict[date, list[dict]] = {}
    for row in good:
        by_day.setdefault(row["created_at"].astimezone(tz).date(), []).append(row)
    raw_root = Path(lake_dir) / "raw" / "checkins" / "comments"
    if not by_day:
        # an empty, typed partition so dbt's glob always finds the table
        by_day[loaded_at.astimezone(tz).date()] = []
    _replace_tree(raw_root, {day: pa.Table.from_pylist(rows, schema=RAW_SCHEMA) for day, rows in by_day.items()})
    quarantine_root = Path(lake_dir) / "quarantine" / "checkins" / "comments"
    _replace_tree(quarantine_root, {loaded_at.astimezone(tz).date(): pa.Table.from_pylist(bad, schema=QUARANTINE_SCHEMA)}
                  if bad else {})
    return CheckinLoad(rows_read=len(good) + len(bad), rows_loaded=len(good), rows_quarantined=len(bad),
                       files=len(files), partitions=len(by_day))


def _replace_tree(root: Path, partitions: dict[date, pa.Table]) -> None:
    """Write the partitions into a fresh sibling folder, then swap it in (readers never see a mix)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex[:8]}"
    for day, table in partitions.items():
        folder = staging / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
    if not partitions:
        staging.mkdir(parents=True)
    old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
    if root.exists():
        os.replace(root, old)
    os.replace(staging, root)
    shutil.rmtree(old, ignore_errors=True)
