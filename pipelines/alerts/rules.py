"""Which events become alerts, and what they say.

- An anomaly (``marts.kpi_anomalies``) of severity >= the minimum whose event is still recent
  (its ``end_date`` within the look-back window of the as-of date; weekly series get whole weeks).
- A running period whose status turned ``off_track`` (see :func:`outbox.record_statuses`).

Every alert goes to the KPI's owner from the responsibility matrix, with the escalation target
resolved at the same time (so escalation does not need the warehouse any more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from pipelines.alerts.matrix import ResponsibilityMatrix
from pipelines.alerts.model import Alert, as_date, records, require_columns, severity_rank

_GRAIN_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


def _num(value: Any, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if percent:
        return f"{number:.1%}"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:,.4g}" if abs(number) < 1 else f"{number:,.2f}".rstrip("0").rstrip(".")


def anomaly_alerts(
    anomalies: Any,
    matrix: ResponsibilityMatrix,
    *,
    as_of_date: date,
    min_severity: str = "high",
    lookback_days: int = 1,
) -> list[Alert]:
    """Alerts for the anomalies that are severe and recent enough."""
    floor = severity_rank(min_severity)
    rows = records(anomalies)
    require_columns(rows, ["kpi_id", "org_unit_id", "grain", "start_date", "severity", "kind"], "kpi_anomalies")
    alerts = []
    for number, row in enumerate(rows, start=1):
        where = f"kpi_anomalies row {number}"
        if severity_rank(row["severity"]) < floor:
            continue
        start = as_date(row["start_date"], field_name=f"{where} start_date")
        end = as_date(row.get("end_date"), field_name=f"{where} end_date") or as_date(
            row.get("date"), field_name=f"{where} date"
        ) or start
        if start is None:
            raise ValueError(f"{where}: field start_date is empty")
        window = max(1, lookback_days) * _GRAIN_DAYS.get(str(row["grain"]), 1)
        if end < as_of_date - timedelta(days=window - 1) or start > as_of_date:
            continue
        alerts.append(_anomaly_alert(row, start, end, matrix, as_of_date))
    return alerts


def _anomaly_alert(row: Mapping[str, Any], start: date, end: date, matrix: ResponsibilityMatrix, day: date) -> Alert:
    kpi_id, unit = str(row["kpi_id"]), str(row["org_unit_id"])
    kpi_name, unit_name = matrix.kpi_name(kpi_id), matrix.unit_name(unit)
    severity, kind = str(row["severity"]).lower(), str(row["kind"])
    when = start.isoformat() if start == end else f"{start.isoformat()} to {end.isoformat()}"
    peak = as_date(row.get("date"))
    lines = [
        f"KPI {kpi_name} ({kpi_id}) at {unit_name} ({unit}), {row['grain']} series: {kind.replace('_', ' ')} "
        f"{when}" + (f", peak {peak.isoformat()}" if peak and peak != start else ""),
        f"Actual {_num(row.get('actual_value'))} vs expected {_num(row.get('expected_value'))} "
        f"(normal band {_num(row.get('lower'))} to {_num(row.get('upper'))})"
        + (f"; direction {row['direction']}" if row.get("direction") else "")
        + (f", impact {row['impact']}" if row.get("impact") else ""),
    ]
    if row.get("reason"):
        lines.append(f"Why flagged: {row['reason']}")
    if row.get("is_data_issue") in (True, 1):
        lines.append("Data issue: the data behind this value failed a quality check; check the feed first.")
    owner = matrix.owner(kpi_id)
    impact = f" ({row['impact']})" if row.get("impact") else ""
    return Alert(
        kpi_id=kpi_id,
        org_unit_id=unit,
        grain=str(row["grain"]),
        kind=kind,
        event_start=start,
        severity=severity,
        subject=f"{kind.replace('_', ' ').capitalize()}{impact} in {kpi_name}, {unit_name}",
        body="\n".join(lines),
        recipient=owner,
        escalation=matrix.escalation_for(owner),
        business_date=day,
        details={**{k: row.get(k) for k in ("actual_value", "expected_value", "lower", "upper", "score")},
                 "end_date": end.isoformat()},
    )


def status_change_alerts(
    changes: Iterable[Mapping[str, Any]],
    matrix: ResponsibilityMatrix,
    *,
    as_of_date: date,
    severity: str = "high",
) -> list[Alert]:
    """Alerts for running periods that turned ``off_track`` on ``as_of_date``."""
    severity_rank(severity)
    alerts = []
    for row in changes:
        kpi_id, unit, grain = str(row["kpi_id"]), str(row["org_unit_id"]), str(row["grain"])
        kpi_name, unit_name = matrix.kpi_name(kpi_id), matrix.unit_name(unit)
        period = as_date(row["period_start"])
        previous = row.get("previous_status") or "no status"
        lines = [
            f"KPI {kpi_name} ({kpi_id}) at {unit_name} ({unit}): the {grain} starting {period} is off track "
            f"(was {previous}).",
            f"Actual to date {_num(row.get('actual_value'))} vs expected to date "
            f"{_num(row.get('expected_to_date'))}; period target {_num(row.get('target_value'))}; "
            f"attainment to date {_num(row.get('attainment_to_date'), percent=True)}.",
        ]
        owner = matrix.owner(kpi_id)
        alerts.append(
            Alert(
                kpi_id=kpi_id,
                org_unit_id=unit,
                grain=grain,
                kind="off_track",
                event_start=as_of_date,
                severity=severity,
                subject=f"{kpi_name} off track at {unit_name} ({grain} from {period})",
                body="\n".join(lines),
                recipient=owner,
                escalation=matrix.escalation_for(owner),
                business_date=as_of_date,
                details={k: row.get(k) for k in ("actual_value", "expected_to_date", "target_value")},
            )
        )
    return alerts
