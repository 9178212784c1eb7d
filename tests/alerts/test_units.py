"""Fast checks of the pure parts: responsibility matrix, alert identity, payloads, settings parsing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from pipelines.alerts import (
    Channels,
    Recipient,
    ResponsibilityMatrix,
    SmtpConfig,
    alert_id,
    anomaly_alerts,
    mask_webhook_url,
    parse_webhooks,
    webhook_payload,
)
from pipelines.alerts.channels import DigestItem
from tests.alerts._marts import AS_OF, EMPLOYEES, KPI_DEFINITIONS, ORG_UNITS, anomaly


def _matrix(as_of: date = AS_OF, org_units: pd.DataFrame = ORG_UNITS) -> ResponsibilityMatrix:
    return ResponsibilityMatrix.from_marts(KPI_DEFINITIONS, org_units, EMPLOYEES, as_of_date=as_of)


def test_owner_is_the_person_else_the_owning_units_manager() -> None:
    matrix = _matrix()
    assert matrix.owner("net_revenue") == Recipient("E00002", "Bob Li", "bob@acme.example", "DIV-SALES")
    assert matrix.owner("complaint_rate") == Recipient("E00300", "Sam Wu", "sam@acme.example", "DEP-SVC")
    assert matrix.owner("unknown_kpi").key == "unassigned"
    assert matrix.kpi_name("complaint_rate") == "Complaint rate (v2)"
    assert _matrix(date(2025, 3, 1)).kpi_name("complaint_rate") == "Complaint rate"  # version valid then


def test_escalation_walks_up_past_the_owner_themself() -> None:
    matrix = _matrix()
    assert matrix.escalation_for(matrix.owner("net_revenue")).employee_id == "E00001"
    assert matrix.escalation_for(matrix.owner("complaint_rate")).employee_id == "E00200"
    assert matrix.escalation_for(matrix.owner("csat_avg")) is None  # top of the tree
    # Olga also manages DIV-OPS's parent for a while: skip her, go to the next manager up
    reorg = ORG_UNITS.copy()
    reorg.loc[reorg.org_unit_id == "DIV-OPS", "manager_employee_id"] = "E00300"
    assert _matrix(org_units=reorg).escalation_for(_matrix(org_units=reorg).owner("complaint_rate")).employee_id == (
        "E00001"
    )


def test_a_reorganisation_routes_by_the_unit_valid_on_the_day() -> None:
    moved = pd.concat(
        [
            ORG_UNITS[ORG_UNITS.org_unit_id != "DEP-SVC"],
            pd.DataFrame(
                [
                    ("DEP-SVC", "Service", "DIV-OPS", "E00300", date(2024, 1, 1), date(2025, 7, 1), False),
                    ("DEP-SVC", "Service", "DIV-SALES", "E00300", date(2025, 7, 1), None, True),
                ],
                columns=ORG_UNITS.columns,
            ),
        ]
    )
    owner = _matrix(org_units=moved).owner("complaint_rate")
    assert _matrix(org_units=moved).escalation_for(owner).employee_id == "E00002"
    before = _matrix(date(2025, 6, 30), moved)
    assert before.escalation_for(before.owner("complaint_rate")).employee_id == "E00200"


def test_alert_ids_are_deterministic_and_name_the_event_and_recipient() -> None:
    a = alert_id("net_revenue", "TM-SE-1", "spike", "day", AS_OF, "E00002")
    assert a == alert_id("net_revenue", "TM-SE-1", "spike", "day", AS_OF, "E00002") and a.startswith("al_")
    assert a != alert_id("net_revenue", "TM-SE-1", "spike", "day", AS_OF, "E00001")
    assert a != alert_id("net_revenue", "TM-SE-1", "spike", "day", AS_OF - timedelta(days=1), "E00002")
    rows = [anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]
    ids = [x.alert_id for x in anomaly_alerts(rows, _matrix(), as_of_date=AS_OF)]
    assert ids == [a]


def test_recent_means_the_lookback_window_of_the_grain() -> None:
    week = anomaly("net_revenue", "DIV-SALES", "dip", "high", AS_OF - timedelta(days=6), grain="week")
    stale_day = anomaly("net_revenue", "DIV-SALES", "dip", "high", AS_OF - timedelta(days=2))
    alerts = anomaly_alerts([week, stale_day], _matrix(), as_of_date=AS_OF)
    assert [a.grain for a in alerts] == ["week"]
    assert len(anomaly_alerts([stale_day], _matrix(), as_of_date=AS_OF, lookback_days=3)) == 1


def test_bad_rows_are_named() -> None:
    with pytest.raises(ValueError, match="kpi_anomalies row 1: missing field"):
        anomaly_alerts([{"kpi_id": "x"}], _matrix(), as_of_date=AS_OF)
    bad = anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF, start_date="19/11/2025")
    with pytest.raises(ValueError, match="kpi_anomalies row 1 start_date '19/11/2025' is not a date"):
        anomaly_alerts([bad], _matrix(), as_of_date=AS_OF)


def _items(n: int, body: str = "Actual 180 vs expected 100") -> list[DigestItem]:
    return [
        DigestItem(f"al_{i:020d}", "high", f"Spike <{i}> in *Net* revenue", body, "net_revenue", "TM-SE-1", "spike",
                   f"http://127.0.0.1:8765/ack/token{i}")
        for i in range(n)
    ]


def test_payload_shapes_and_escaping() -> None:
    slack = webhook_payload("slack", "KPI alerts", _items(1), {})
    assert list(slack) == ["text"] and "Spike &lt;0&gt; in *Net* revenue" in slack["text"]
    assert "<http://127.0.0.1:8765/ack/token0|Acknowledge>" in slack["text"]
    ding = webhook_payload("dingtalk", "KPI alerts", _items(1), {})
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "KPI alerts"
    assert "\\*Net\\*" in ding["markdown"]["text"] and "[Acknowledge](http://127.0.0.1:8765/ack/token0)" in (
        ding["markdown"]["text"]
    )
    wecom = webhook_payload("wecom", "KPI alerts", _items(200, "x" * 100), {})
    assert len(wecom["markdown"]["content"].encode()) <= 4096 and "truncated: 200 alerts" in wecom["markdown"]["content"]
    generic = webhook_payload("generic", "KPI alerts", _items(2), {"employee_id": "E1"})
    assert [a["ack_url"] for a in generic["alerts"]] == ["http://127.0.0.1:8765/ack/token0",
                                                         "http://127.0.0.1:8765/ack/token1"]


def test_webhook_settings_are_validated_without_echoing_urls() -> None:
    with pytest.raises(ValueError, match=r"webhooks\['E1'\]\.kind 'teams' is not one of"):
        parse_webhooks({"E1": {"kind": "teams", "url": "https://x/SECRET"}})
    with pytest.raises(ValueError, match=r"webhooks\['default'\]\.url must be an http\(s\) URL") as bad:
        parse_webhooks(json.dumps({"default": {"kind": "slack", "url": "file:///SECRETPATH"}}))
    assert "SECRETPATH" not in str(bad.value)
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_webhooks("{nope")
    targets = parse_webhooks('{"default": {"kind": "slack", "url": "https://hooks.slack.com/services/T/B/SECRET"}}')
    assert "SECRET" not in repr(targets) and targets["default"].masked == "slack webhook https://hooks.slack.com/***"
    assert mask_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=abc") == "https://oapi.dingtalk.com/***"


def test_channels_per_recipient() -> None:
    hooks = parse_webhooks({"E00002": {"kind": "slack", "url": "https://h/1"}, "default": {"kind": "wecom", "url": "https://h/2"}})
    smtp = SmtpConfig("127.0.0.1", password="pw")
    bob = Recipient("E00002", "Bob", "bob@x")
    nobody = Recipient(None)
    assert Channels(hooks, smtp).routes(bob) == [("webhook", "E00002", "slack"), ("email", "bob@x", None)]
    assert Channels(hooks, None).routes(Recipient("E9", "Eve", "eve@x")) == [("webhook", "default", "wecom")]
    assert Channels({}, smtp).routes(nobody) == [("outbox", "unassigned", None)]
    assert "pw" in Channels(hooks, smtp).secrets() and "pw" not in repr(smtp)
