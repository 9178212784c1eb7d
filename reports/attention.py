"""What a KPI value means and what needs attention.

One place for the rules the reports share about a `kpi_attainment` row (docs/warehouse.md, issue 12):

- the status a value is judged by (to date for a running period, `attainment_to_date` against the
  target phased to date — the number the score uses);
- the target's state (`target_status`: ok / rejected / missing) and its source (`target_source`,
  `target_note`, `plan_file`, `plan_version`); a rejected target is shown as such, never as a number;
- no data (`data_status = 'no_data'`): shown as "no data", never as 0; a period the KPI's inputs
  start inside (`partial`) is shown with its numbers but not judged;
- unverified values: why (`unverified_reason`) and which source tables (`unverified_tables`), linked to
  the quality report's row of each table (`quality.html#src-<source>-<table>`);
- the "needs attention" list: off track / at risk / missed / target rejected / target missing /
  unverified, ranked by the KPI's weight in the unit (`kpi_weights`) × severity.

Older warehouses without these columns read them as null (`reports.marts`): the target state is then
derived from the target value, and there is no reason text to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from reports.formatting import format_pct, is_missing, to_float
from reports.html import Html, anchor_id, esc, tag

#: how bad each kind of problem is (× the KPI's weight in the unit gives the rank)
SEVERITY = {"target_rejected": 3.0, "missed": 2.0, "off_track": 2.0, "at_risk": 1.0, "unverified": 1.0,
            "target_missing": 0.5}
#: an unweighted KPI still counts, a little
UNWEIGHTED = 1.0


def is_complete(row: Mapping[str, Any] | None) -> bool:
    if row is None or is_missing(row.get("is_complete")):
        return True
    return bool(row.get("is_complete"))


def is_verified(row: Mapping[str, Any] | None) -> bool:
    if row is None or is_missing(row.get("is_verified")):
        return True
    return bool(row.get("is_verified"))


def has_data(row: Mapping[str, Any] | None) -> bool:
    """False when the period lies before the KPI's data start (`data_status = 'no_data'`)."""
    return row is not None and str(row.get("data_status") or "ok") != "no_data"


def is_partial(row: Mapping[str, Any] | None) -> bool:
    """True when the KPI's inputs start inside the period (`data_status = 'partial'`): not judged."""
    return row is not None and str(row.get("data_status") or "") == "partial"


def target_state(row: Mapping[str, Any] | None) -> str:
    """`ok` | `rejected` | `missing` (from `target_status`; older warehouses: `ok` when a target value
    or range is there, else `none` — no target, reason unknown)."""
    if row is None:
        return "none"
    status = row.get("target_status")
    if not is_missing(status) and str(status) in ("ok", "rejected", "missing"):
        return str(status)
    has_value = to_float(row.get("target_value")) is not None or (
        to_float(row.get("target_low")) is not None and to_float(row.get("target_high")) is not None)
    return "ok" if has_value else "none"


def effective_attainment(row: Mapping[str, Any] | None) -> float | None:
    """The attainment the status is based on: to date (vs the phased target) for a running period."""
    if row is None:
        return None
    value = row.get("attainment") if is_complete(row) else row.get("attainment_to_date")
    if is_missing(value):
        value = row.get("attainment")
    return to_float(value)


def is_pace_row(row: Mapping[str, Any]) -> bool:
    """A running period whose target is phased to date (additive KPIs): to date ≠ full period."""
    if is_complete(row):
        return False
    expected, target = to_float(row.get("expected_to_date")), to_float(row.get("target_value"))
    return expected is not None and target is not None and expected != target


@dataclass(frozen=True)
class Issue:
    """One reason a KPI × unit needs attention, in one period."""

    kind: str  # a key of SEVERITY
    grain: str
    period_start: date | None
    row: Mapping[str, Any]

    @property
    def severity(self) -> float:
        base = SEVERITY[self.kind]
        if self.kind in ("missed", "off_track", "at_risk"):
            att = effective_attainment(self.row)
            if att is not None:
                base += max(0.0, min(1.0 - att, 1.0))  # the further below, the worse
        return base


@dataclass
class Attention:
    """A KPI × unit that needs attention: its issues (worst first) and its rank score."""

    unit: str
    kpi: str
    weight: float | None
    depth: int
    issues: list[Issue] = field(default_factory=list)

    @property
    def worst(self) -> Issue:
        return max(self.issues, key=lambda i: i.severity)

    @property
    def score(self) -> float:
        return (self.weight if self.weight is not None else UNWEIGHTED) * self.worst.severity


def issues_of(row: Mapping[str, Any], grain: str) -> list[Issue]:
    """The problems of one attainment row (a value with no data is not a problem of the KPI)."""
    out: list[Issue] = []
    ps = row.get("period_start")
    state = target_state(row)
    if state == "rejected":
        out.append(Issue("target_rejected", grain, ps, row))
    elif state == "missing":
        out.append(Issue("target_missing", grain, ps, row))
    if not has_data(row):
        return out
    if not is_verified(row):
        out.append(Issue("unverified", grain, ps, row))
    elif state == "ok":
        status = str(row.get("status") or "")
        if status in ("missed", "off_track", "at_risk"):
            out.append(Issue(status, grain, ps, row))
    return out


def attention_list(rows: Iterable[tuple[str, str, str, Mapping[str, Any]]], weights: Mapping[str, Mapping[str, float]],
                   depth: Mapping[str, int]) -> list[Attention]:
    """`rows` = (unit, kpi, grain, attainment row); one entry per KPI × unit with any issue, ranked by
    weight × severity (then higher units first)."""
    found: dict[tuple[str, str], Attention] = {}
    for unit, kpi, grain, row in rows:
        issues = issues_of(row, grain)
        if not issues:
            continue
        entry = found.setdefault((unit, kpi), Attention(unit, kpi, weights.get(unit, {}).get(kpi), depth.get(unit, 0)))
        entry.issues.extend(issues)
    order = {"month": 0, "quarter": 1, "year": 2}
    for entry in found.values():
        entry.issues.sort(key=lambda i: (-i.severity, order.get(i.grain, 3)))
    return sorted(found.values(), key=lambda a: (-a.score, a.depth, a.unit, a.kpi))


# --- how it reads ------------------------------------------------------------------------------


def quality_href(table: str, lang: str) -> str:
    """`quality[_zh].html#src-<source>-<table>` for a `source.table` name."""
    source, _, name = table.partition(".")
    page = "quality.html" if lang == "en" else f"quality_{lang}.html"
    return f"{page}#{anchor_id('src', source, name or source)}"


def table_links(tables: Any, lang: str, *, link: bool) -> Html:
    """The source tables behind an unverified value, each linked to its row in the quality report
    (`link=False`, e.g. in a scoped report, which has no quality report: plain names)."""
    if is_missing(tables) or not str(tables).strip():
        return Html("")
    names = [t.strip() for t in str(tables).split(",") if t.strip()]
    items = [tag("a", n, href=quality_href(n, lang)) if link else tag("code", n) for n in names]
    out = Html("")
    for i, item in enumerate(items):
        out += Html(", ") + item if i else item
    return out


def target_source_text(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Where the target comes from: the mart's note, else the source and plan version."""
    note = row.get("target_note")
    if not is_missing(note) and str(note).strip():
        return str(note)
    parts = []
    source = row.get("target_source")
    if not is_missing(source):
        parts.append(labels.get(str(source), str(source)))
    for key in ("plan_file", "plan_version"):
        value = row.get(key)
        if not is_missing(value) and str(value).strip():
            parts.append(str(value))
    return " · ".join(parts)


def pct(value: Any) -> str:
    return format_pct(value)


def esc_or_blank(value: Any) -> Html:
    return esc("" if is_missing(value) else value)
