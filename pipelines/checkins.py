"""Owners' check-ins: a comment on a KPI for a period, appended to the landing folder.

`kpi checkin` writes one CSV line per comment to ``landing/checkins/checkins.csv`` (UTF-8); owners
may also drop their own CSV files there. The warehouse reads them into ``marts.kpi_checkins`` and
the review report shows them beside the KPI.
"""

from __future__ import annotations

import csv
import fcntl
from datetime import UTC, date, datetime
from pathlib import Path

CHECKIN_COLUMNS = ["kpi_id", "org_unit_id", "grain", "period_start", "author", "comment", "created_at"]


def append_checkin(landing_dir: Path, *, kpi_id: str, org_unit_id: str, grain: str, period_start: date,
                   author: str, comment: str, now: datetime | None = None) -> Path:
    if not comment.strip():
        raise ValueError("a check-in needs a comment")
    path = Path(landing_dir) / "checkins" / "checkins.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(path, "a", newline="", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        writer = csv.writer(handle)
        if handle.tell() == 0:
            writer.writerow(CHECKIN_COLUMNS)
        writer.writerow([kpi_id, org_unit_id, grain, period_start.isoformat(), author, comment.strip(), created])
    return path
