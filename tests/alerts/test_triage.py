"""Alerts people read: related KPIs make one alert, a nightly budget per owner with a ranked digest,
and one summary on the first night of a new installation (real outbox files; real HTTP server)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.alerts import ResponsibilityMatrix, anomaly_alerts, rows, run_alerts
from pipelines.alerts.triage import (
    DIGEST_KIND,
    SUMMARY_KIND,
    apply_budget,
    kpi_families,
    merge_related,
    rank,
    weight_lookup,
)
from tests.alerts._marts import AS_OF, EMPLOYEES, ORG_UNITS, anomaly, attainment
from tests.alerts.conftest import HookServer

NOW = datetime(2025, 11, 19, 22, 0)

DEFINITIONS = pd.DataFrame(
    [
        ("nps", "NPS", "derived", "promoters_pct - detractors_pct", "DIV-SALES", "E00002"),
        ("promoters_pct", "Promoters", "ratio", None, "DIV-SALES", None),
        ("detractors_pct", "Detractors", "ratio", None, "DIV-SALES", None),
        ("net_revenue", "Net revenue", "sum", None, "DIV-SALES", "E00002"),
        ("new_contracts", "New contracts", "count", None, "DIV-SALES", "E00002"),
        ("complaint_rate", "Complaint rate", "ratio", None, "DEP-SVC", None),
    ],
    columns=["kpi_id", "name", "measure_type", "formula", "owner_org_unit_id", "owner_employee_id"],
).assign(version=1, valid_from=date(2024, 1, 1), valid_to=None, is_current=True)


def _matrix() -> ResponsibilityMatrix:
    return ResponsibilityMatrix.from_marts(DEFINITIONS, ORG_UNITS, EMPLOYEES, as_of_date=AS_OF)


def test_a_derived_kpi_and_its_components_are_one_family() -> None:
    fam = kpi_families(DEFINITIONS)
    assert fam["promoters_pct"] == fam["detractors_pct"] == fam["nps"] == "nps"
    assert fam["net_revenue"] == "net_revenue" and fam["complaint_rate"] == "complaint_rate"


def test_related_kpis_make_one_alert_for_the_heads_owner() -> None:
    day = [anomaly("nps", "TM-SE-1", "dip", "high", AS_OF), anomaly("promoters_pct", "TM-SE-1", "dip", "high", AS_OF),
           anomaly("detractors_pct", "TM-SE-1", "spike", "critical", AS_OF - timedelta(days=1), AS_OF),
           anomaly("promoters_pct", "DIV-SALES", "dip", "high", AS_OF),  # another unit: its own alert
           anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]  # not related
    alerts = anomaly_alerts(pd.DataFrame(day), _matrix(), as_of_date=AS_OF)
    assert len(alerts) == 5
    merged = merge_related(alerts, kpi_families(DEFINITIONS), _matrix())
    assert len(merged) == 3
    family = next(a for a in merged if len(a.members) == 3)
    assert family.kpi_id == "nps" and family.org_unit_id == "TM-SE-1"
    assert {m[0] for m in family.members} == {"nps", "promoters_pct", "detractors_pct"}
    assert family.severity == "critical"  # the most severe member
    assert family.recipient.employee_id == "E00002"  # the owner of NPS (the head)
    assert family.subject.startswith("NPS and related KPIs anomalies at Sales East 1")
    assert "Promoters" in family.body and "Detractors" in family.body
    alone = next(a for a in merged if a.org_unit_id == "DIV-SALES")
    assert alone.kpi_id == "promoters_pct" and alone.members == (("promoters_pct", "DIV-SALES", "day"),)


def test_the_budget_keeps_the_heaviest_alerts_and_digests_the_rest() -> None:
    units = [f"U{i}" for i in range(8)]
    day = [anomaly("net_revenue", u, "spike", "high", AS_OF) for u in units]
    day += [anomaly("new_contracts", u, "dip", "critical", AS_OF) for u in units[:3]]
    weights = pd.DataFrame({"kpi_id": ["net_revenue"] * 8 + ["new_contracts"] * 3, "org_unit_id": units + units[:3],
                            "weight": [10, 20, 30, 40, 50, 60, 70, 80, 5, 5, 90], "valid_from": date(2024, 1, 1),
                            "valid_to": None})
    alerts = anomaly_alerts(pd.DataFrame(day), _matrix(), as_of_date=AS_OF)
    w = weight_lookup(weights, AS_OF)
    kept, held = apply_budget(alerts, w, budget=4, as_of=AS_OF)
    assert len(kept) == 4  # one owner (Bob): 3 alerts on their own + 1 digest
    singles = [a for a in kept if a.kind != DIGEST_KIND]
    # weight × severity: 90 × 4 (critical), then 80 × 3 and 70 × 3
    assert [(a.kpi_id, a.org_unit_id) for a in singles] == [("new_contracts", "U2"), ("net_revenue", "U7"),
                                                           ("net_revenue", "U6")]
    [digest] = [a for a in kept if a.kind == DIGEST_KIND]
    assert digest.subject == "Digest: 8 more KPI alerts" and len(held[digest.alert_id]) == 8
    lines = [ln for ln in digest.body.splitlines() if ln[:2].strip(".").isdigit()]
    assert lines[0].startswith("1. [HIGH]") and "Sales East" not in lines[0]
    assert [rank(a, w) for a in singles] == [360.0, 240.0, 210.0]
    # everything fits: no digest
    assert apply_budget(alerts[:3], w, budget=4, as_of=AS_OF)[1] == {}


def _night(path: Path, day: date, anomalies: list, statuses: dict[str, str], hooks: HookServer | None = None,
           **kw: object):
    return run_alerts(path, as_of_date=day, anomalies=pd.DataFrame(anomalies) if anomalies else [],
                      attainment=attainment(statuses), kpi_definitions=DEFINITIONS, org_units=ORG_UNITS,
                      employees=EMPLOYEES, now=NOW + (day - AS_OF),
                      webhooks=json.dumps({"default": {"kind": "generic", "url": f"{hooks.base}/g"}}) if hooks else None,
                      **kw)


def test_the_first_night_sends_each_owner_one_summary_then_only_what_changes(
    outbox_path: Path, hook_server: HookServer
) -> None:
    units = ["ACME", "DIV-SALES", "TM-SE-1", "DIV-OPS", "DEP-SVC"]
    day = [anomaly("net_revenue", u, "spike", "high", AS_OF) for u in units]
    day += [anomaly("complaint_rate", "DEP-SVC", "dip", "critical", AS_OF)]
    first = _night(outbox_path, AS_OF, day, {u: "off_track" for u in units}, hook_server)
    assert first.first_night and first.status_changes == 5
    created = [r for r in rows(outbox_path) if r["channel"] == "webhook"]
    assert sorted((r["recipient"], r["kind"]) for r in created) == [("E00002", SUMMARY_KIND),
                                                                    ("E00300", SUMMARY_KIND)]
    bob = next(r for r in created if r["recipient"] == "E00002")
    assert bob["subject"] == "KPI baseline: 5 off track, 5 anomalies"
    assert "from tomorrow you get an alert when something changes" in bob["body"]
    assert first.digested == 11 and len(hook_server.hooks) == 2  # one message per owner
    # the second night: the same state is not news; a KPI that turns off track and a new anomaly are
    statuses = {u: "off_track" for u in units} | {"ACME": "on_track"}
    second = _night(outbox_path, AS_OF + timedelta(days=1), day, statuses, hook_server)
    assert second.created == [] and not second.first_night
    third = _night(outbox_path, AS_OF + timedelta(days=2),
                   day + [anomaly("new_contracts", "TM-SE-1", "level_shift", "high", AS_OF + timedelta(days=2))],
                   {u: "off_track" for u in units}, hook_server)
    kinds = sorted(r["kind"] for r in rows(outbox_path) if r["alert_id"] in third.created and r["channel"] == "webhook")
    assert kinds == ["level_shift", "off_track"]  # new_contracts shifted; ACME turned off track again
    # re-running the first night finds the same summaries: nothing new
    again = _night(outbox_path, AS_OF, day, {u: "off_track" for u in units}, hook_server)
    assert again.created == [] and again.first_night


def test_digested_alerts_do_not_come_back_the_next_night(outbox_path: Path) -> None:
    _night(outbox_path, AS_OF - timedelta(days=1), [], {})  # the installation's first night
    day = [anomaly("net_revenue", u, "spike", "high", AS_OF) for u in ("U1", "U2", "U3", "U4")]
    tonight = _night(outbox_path, AS_OF, day, {}, budget=2)
    assert len(tonight.created) == 2 and tonight.digested == 3
    kinds = sorted(r["kind"] for r in rows(outbox_path) if r["business_date"] == AS_OF.isoformat())
    assert kinds == [DIGEST_KIND, "spike"]
    # the same events still going on the next night: neither the sent one nor the digested ones return
    later = [dict(a, end_date=AS_OF + timedelta(days=1)) for a in day]
    assert _night(outbox_path, AS_OF + timedelta(days=1), later, {}, budget=2).created == []
