"""The alert, its recipient and its identity."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
UNASSIGNED = "unassigned"


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(str(severity).lower())
    except ValueError:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class Recipient:
    """A person alerts go to. ``org_unit_id``: the unit they answer for (escalation goes above it)."""

    employee_id: str | None
    name: str | None = None
    email: str | None = None
    org_unit_id: str | None = None

    @property
    def key(self) -> str:
        return self.employee_id or UNASSIGNED

    @property
    def label(self) -> str:
        if self.name and self.employee_id:
            return f"{self.name} ({self.employee_id})"
        return self.name or self.employee_id or "unassigned owner"


@dataclass(frozen=True)
class Alert:
    """One event for one recipient. Its id is deterministic, so re-runs and backfills find it again."""

    kpi_id: str
    org_unit_id: str
    grain: str
    kind: str  # spike | dip | level_shift | dropout | off_track | …
    event_start: date
    severity: str
    subject: str
    body: str
    recipient: Recipient
    business_date: date
    escalation: Recipient | None = None
    escalation_of: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    #: (kpi_id, org_unit_id, grain) of every KPI the alert speaks for (a family alert holds several)
    members: tuple[tuple[str, str, str], ...] = ()

    @property
    def alert_id(self) -> str:
        return alert_id(self.kpi_id, self.org_unit_id, self.kind, self.grain, self.event_start, self.recipient.key)


def alert_id(kpi_id: str, org_unit_id: str, kind: str, grain: str, event_start: date, recipient: str) -> str:
    """sha256 of (kpi, org unit, kind, grain, event start, recipient): same event + person = same id."""
    text = "|".join([kpi_id, org_unit_id or "", kind, grain or "", event_start.isoformat(), recipient])
    return "al_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


# --- input normalisation (rows may come from pandas, DuckDB or plain dicts) ------------------------


def records(rows: Any) -> list[dict[str, Any]]:
    """A DataFrame or an iterable of mappings as a list of plain dicts with None for missing values."""
    if rows is None:
        return []
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    return [{k: clean(v) for k, v in dict(r).items()} for r in rows]


def clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    return value


def as_date(value: Any, *, field_name: str = "date") -> date | None:
    value = clean(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{field_name} {value!r} is not a date (YYYY-MM-DD)") from None


def utc(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if now is None:
        return datetime.now(UTC).replace(microsecond=0)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def iso(moment: datetime) -> str:
    return utc(moment).isoformat(timespec="seconds")


def require_columns(rows: Iterable[Mapping[str, Any]], needed: Iterable[str], what: str) -> None:
    needed = list(needed)
    for number, row in enumerate(rows, start=1):
        missing = [c for c in needed if c not in row]
        if missing:
            raise ValueError(f"{what} row {number}: missing field(s) {', '.join(missing)}")
        return  # same columns in every row of a frame; checking the first is enough
