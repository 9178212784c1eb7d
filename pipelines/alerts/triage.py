"""Alerts people read: related KPIs make one alert, a nightly budget per owner, a ranked digest for
the rest, and a single summary on the first night of a new installation.

* **Families** — a derived KPI and the KPIs its formula is made of (NPS = promoters − detractors;
  bug rate = bugs / test cases) are one family. Alerts of one family about the same org unit, grain
  and kind of problem — off track, or anomalies whose windows overlap — become one alert about the
  family's head (the derived KPI), listing every member: three messages saying the same thing in
  three ways are one message.
* **Rank** — ``weight × severity``: the KPI's weight at the org unit (``kpi_weights``, the plan's
  weights, 1 when unknown) times 1 / 2 / 3 / 4 for low / medium / high / critical.
* **Budget** — an owner gets at most ``budget`` alerts a night: the ``budget − 1`` highest ranked
  ones on their own, the rest in one **digest** alert that lists them by rank. A digested alert is
  remembered (as if it had been sent): the same event does not come back the next night.
* **First night** — when the outbox has never recorded a night (a new installation), everything
  found is the baseline, not news: each owner gets one **summary** of what is off track and
  anomalous (counts and the top of the ranking), and the individual alerts are remembered as
  digested.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from pipelines.alerts.matrix import ResponsibilityMatrix
from pipelines.alerts.model import Alert, Recipient, as_date, records, severity_rank

SEVERITY_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0}
#: kinds of alert that stand for a problem that lasts (the only ones that escalate)
SUSTAINED_KINDS = ("off_track",)
DIGEST_KIND = "digest"
SUMMARY_KIND = "baseline_summary"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- families -------------------------------------------------------------------------------------


def kpi_families(kpi_definitions: Any) -> dict[str, str]:
    """{kpi_id: head} — the head of a family is its derived KPI (the one built from the others; of
    nested derived KPIs, the outermost); a KPI in no formula is its own family."""
    rows = records(kpi_definitions)
    current: dict[str, dict[str, Any]] = {}
    for row in rows:
        kid = row.get("kpi_id")
        if kid is None:
            continue
        if kid not in current or row.get("is_current") in (True, 1):
            current[str(kid)] = row
    ids = set(current)
    parent: dict[str, str] = {}
    for kid, row in current.items():
        formula = row.get("formula")
        if row.get("measure_type") != "derived" or not formula:
            continue
        for ref in set(_IDENT.findall(str(formula))) & ids:
            if ref != kid:
                parent.setdefault(ref, kid)
    heads = {}
    for kid in ids:
        head, seen = kid, {kid}
        while head in parent and parent[head] not in seen:
            head = parent[head]
            seen.add(head)
        heads[kid] = head
    return heads


def _kind_class(alert: Alert) -> str:
    return "off_track" if alert.kind == "off_track" else "anomaly"


def merge_related(alerts: list[Alert], families: Mapping[str, str], matrix: ResponsibilityMatrix) -> list[Alert]:
    """One alert per family, org unit, grain and kind of problem (anomalies: windows overlapping
    within a day), routed to the owner of the family's head KPI."""
    groups: dict[tuple[str, str, str, str], list[Alert]] = defaultdict(list)
    for a in alerts:
        groups[(families.get(a.kpi_id, a.kpi_id), a.org_unit_id, a.grain, _kind_class(a))].append(a)
    out: list[Alert] = []
    for (head, unit, grain, cls), members in groups.items():
        for cluster in _clusters(members, cls):
            if len({a.kpi_id for a in cluster}) == 1:  # one KPI: nothing related to merge
                out += [replace(a, members=((a.kpi_id, unit, grain),)) for a in cluster]
                continue
            out.append(_merged(head, unit, grain, cls, cluster, matrix))
    return out


def _clusters(members: list[Alert], cls: str) -> list[list[Alert]]:
    if cls == "off_track":
        return [members]
    members = sorted(members, key=lambda a: (a.event_start, a.kpi_id))
    clusters: list[list[Alert]] = []
    end = None
    for a in members:
        a_end = as_date((a.details or {}).get("end_date")) or a.event_start
        if clusters and end is not None and a.event_start <= end + timedelta(days=1):
            clusters[-1].append(a)
            end = max(end, a_end)
        else:
            clusters.append([a])
            end = a_end
    return clusters


def _merged(head: str, unit: str, grain: str, cls: str, cluster: list[Alert], matrix: ResponsibilityMatrix) -> Alert:
    cluster = sorted(cluster, key=lambda a: (a.kpi_id != head, -severity_rank(a.severity), a.kpi_id))
    top = max(cluster, key=lambda a: severity_rank(a.severity))
    lead = cluster[0]
    names = [matrix.kpi_name(a.kpi_id) for a in cluster]
    what = "off track" if cls == "off_track" else "anomalies"
    subject = f"{matrix.kpi_name(head)} and related KPIs {what} at {matrix.unit_name(unit)} ({', '.join(names)})"
    body = "\n\n".join(f"[{a.severity.upper()}] {a.subject}\n{a.body}" for a in cluster)
    owner = matrix.owner(head)
    if owner.employee_id is None:
        owner = lead.recipient
    return Alert(
        kpi_id=head, org_unit_id=unit, grain=grain, kind="off_track" if cls == "off_track" else "related_anomalies",
        event_start=min(a.event_start for a in cluster), severity=top.severity, subject=subject, body=body,
        recipient=owner, business_date=lead.business_date, escalation=matrix.escalation_for(owner),
        details={"members": [a.kpi_id for a in cluster]}, members=tuple((a.kpi_id, unit, grain) for a in cluster),
    )


# --- ranking, budget, digest, first-night summary -------------------------------------------------------


def weight_lookup(kpi_weights: Any, as_of: date) -> dict[tuple[str, str], float]:
    """{(kpi_id, org_unit_id): weight} valid on ``as_of`` (``valid_to`` exclusive)."""
    out: dict[tuple[str, str], float] = {}
    for row in records(kpi_weights):
        start = as_date(row.get("valid_from")) or date.min
        end = as_date(row.get("valid_to"))
        if start <= as_of and (end is None or as_of < end) and row.get("weight") is not None:
            out[(str(row["kpi_id"]), str(row["org_unit_id"]))] = float(row["weight"])
    return out


def rank(alert: Alert, weights: Mapping[tuple[str, str], float]) -> float:
    """weight × severity (the heaviest member's weight for a family alert)."""
    keys = [(k, u) for k, u, _ in alert.members] or [(alert.kpi_id, alert.org_unit_id)]
    w = max((weights.get(k, 0.0) for k in keys), default=0.0) or 1.0
    return w * SEVERITY_WEIGHT.get(alert.severity.lower(), 1.0)


def _line(n: int, a: Alert, weights: Mapping[tuple[str, str], float]) -> str:
    return f"{n}. [{a.severity.upper()}] {a.subject} (rank {rank(a, weights):g})"


def apply_budget(alerts: list[Alert], weights: Mapping[tuple[str, str], float], *, budget: int,
                 as_of: date) -> tuple[list[Alert], dict[str, list[str]]]:
    """Per recipient, the ``budget − 1`` highest ranked alerts and one digest of the rest (all of them
    when they fit). Returns (alerts to enqueue, {digest alert id: ids of the alerts it holds})."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    by_owner: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_owner[a.recipient.key].append(a)
    out: list[Alert] = []
    digested: dict[str, list[str]] = {}
    for group in by_owner.values():
        group = sorted(group, key=lambda a: (-rank(a, weights), a.kpi_id, a.org_unit_id))
        if len(group) <= budget:
            out += group
            continue
        keep, rest = group[: budget - 1], group[budget - 1:]
        digest = _digest(rest, weights, as_of)
        out += keep + [digest]
        digested[digest.alert_id] = [a.alert_id for a in rest]
    return out, digested


def _digest(rest: list[Alert], weights: Mapping[tuple[str, str], float], as_of: date) -> Alert:
    owner = rest[0].recipient
    lines = [f"{len(rest)} more alerts tonight, ranked by weight × severity:"]
    lines += [_line(n, a, weights) for n, a in enumerate(rest, start=1)]
    top = max(rest, key=lambda a: severity_rank(a.severity))
    return Alert(kpi_id="*", org_unit_id="", grain="", kind=DIGEST_KIND, event_start=as_of,
                 severity=top.severity, subject=f"Digest: {len(rest)} more KPI alerts", body="\n".join(lines),
                 recipient=owner, business_date=as_of, escalation=None)


def baseline_summaries(alerts: list[Alert], weights: Mapping[tuple[str, str], float], *, as_of: date,
                       top: int = 10, owners: Iterable[Recipient] = ()) -> tuple[list[Alert], dict[str, list[str]]]:
    """The first night: one summary per owner (``owners`` get one even with nothing to report),
    holding every alert found. Returns (summaries, {summary id: ids of the alerts it holds})."""
    by_owner: dict[str, list[Alert]] = defaultdict(list)
    people: dict[str, Recipient] = {o.key: o for o in owners}
    for a in alerts:
        by_owner[a.recipient.key].append(a)
        people[a.recipient.key] = a.recipient
    out: list[Alert] = []
    held: dict[str, list[str]] = {}
    for key, person in sorted(people.items()):
        group = sorted(by_owner.get(key, []), key=lambda a: (-rank(a, weights), a.kpi_id, a.org_unit_id))
        off = sum(1 for a in group if a.kind == "off_track")
        lines = [
            "The KPI warehouse starts watching your KPIs tonight. What it finds now is the baseline: from "
            "tomorrow you get an alert when something changes (a KPI turns off track, a new anomaly).",
            f"Right now: {off} KPI × unit × period off track, {len(group) - off} anomaly alert(s).",
        ]
        if group:
            lines.append(f"Highest ranked (weight × severity), {min(top, len(group))} of {len(group)}:")
            lines += [_line(n, a, weights) for n, a in enumerate(group[:top], start=1)]
        summary = Alert(kpi_id="*", org_unit_id="", grain="", kind=SUMMARY_KIND, event_start=as_of,
                        severity="low", subject=f"KPI baseline: {off} off track, {len(group) - off} anomalies",
                        body="\n".join(lines), recipient=person, business_date=as_of, escalation=None)
        out.append(summary)
        held[summary.alert_id] = [a.alert_id for a in group]
    return out, held
