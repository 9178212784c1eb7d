"""Alerts end to end against a real SMTP server and a real HTTP server on loopback."""

from __future__ import annotations

import json
import logging
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.alerts import (
    AckServer,
    Channels,
    acknowledge,
    deliver_due,
    parse_webhooks,
    rows,
    run_alerts,
)
from tests.alerts._marts import (
    AS_OF,
    EMPLOYEES,
    KPI_DEFINITIONS,
    ORG_UNITS,
    anomaly,
    attainment,
    todays_anomalies,
)
from tests.alerts.conftest import SMTP_PASSWORD, HookServer, SmtpSink, free_port

pytestmark = pytest.mark.slow

NOW = datetime(2025, 11, 19, 22, 0, tzinfo=UTC)  # 06:00 the next morning in Asia/Shanghai


def _webhooks(base: str) -> dict[str, Any]:
    return {
        "E00002": {"kind": "slack", "url": f"{base}/slack/services/T000/B000/SLACKSECRETTOKEN"},
        "E00300": {"kind": "dingtalk", "url": f"{base}/dingtalk/robot/send?access_token=DINGSECRETTOKEN"},
        "default": {"kind": "wecom", "url": f"{base}/wecom/webhook/send?key=WECOMSECRETKEY"},
    }


def _baseline(outbox_path: Path, day: Any = None) -> None:
    """The first night of the installation (a week earlier, nothing to report): later nights are
    ordinary nights."""
    run_alerts(outbox_path, as_of_date=day or AS_OF - timedelta(days=7), anomalies=[], attainment=[],
               kpi_definitions=KPI_DEFINITIONS, org_units=ORG_UNITS, employees=EMPLOYEES, now=NOW - timedelta(days=7),
               deliver=False)


def _run(outbox_path: Path, hooks: HookServer, smtp: SmtpSink | None, *, now: datetime = NOW,
         anomalies: Any = None, webhooks: Any = None, baseline: bool = True, **kwargs: Any):
    if baseline:
        _baseline(outbox_path)
    return run_alerts(
        outbox_path,
        as_of_date=kwargs.pop("as_of_date", AS_OF),
        anomalies=todays_anomalies() if anomalies is None else anomalies,
        attainment=kwargs.pop("attainment", []),
        kpi_definitions=KPI_DEFINITIONS,
        org_units=ORG_UNITS,
        employees=EMPLOYEES,
        webhooks=json.dumps(_webhooks(hooks.base)) if webhooks is None else webhooks,
        smtp=smtp.config() if smtp is not None else None,
        now=now,
        **kwargs,
    )


def test_alerts_reach_the_owner_in_each_channel_format(
    outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink
) -> None:
    report = _run(outbox_path, hook_server, smtp_server, ack_base_url="http://127.0.0.1:8765")
    assert len(report.created) == 5  # 7 anomalies: one below the minimum severity, one too old
    assert report.delivery.messages_failed == 0 and report.delivery.errors == []

    # Slack (Bob's own webhook): {"text": ...}, mrkdwn-escaped, with the ack link
    [slack] = hook_server.to("/slack/services/T000/B000/SLACKSECRETTOKEN")
    assert set(slack.body) == {"text"} and slack.content_type.startswith("application/json")
    assert "Bob Li (E00002)" in slack.body["text"]
    assert "Dip (bad) in Net revenue, Sales" in slack.body["text"]
    assert "<http://127.0.0.1:8765/ack/" in slack.body["text"]
    # DingTalk (Sam's): {"msgtype": "markdown", "markdown": {"title", "text"}}
    [ding] = hook_server.to("/dingtalk/robot/send")
    assert ding.body["msgtype"] == "markdown" and set(ding.body["markdown"]) == {"title", "text"}
    assert "Sam Wu (E00300)" in ding.body["markdown"]["title"]
    assert "Complaint rate (v2)" in ding.body["markdown"]["text"]  # the KPI version valid on the day
    assert "3x the usual <complaints> & more" in ding.body["markdown"]["text"]
    # WeCom (the default, for Alice): {"msgtype": "markdown", "markdown": {"content"}}
    [wecom] = hook_server.to("/wecom/webhook/send")
    assert wecom.body["msgtype"] == "markdown" and set(wecom.body["markdown"]) == {"content"}
    assert "CSAT" in wecom.body["markdown"]["content"]
    assert "Data issue" in wecom.body["markdown"]["content"]
    assert len(hook_server.hooks) == 3

    # email: one per owner, to the owner's address, after logging in
    by_rcpt = {tuple(m.recipients): m for m in smtp_server.mails}
    assert set(by_rcpt) == {("bob@acme.example",), ("sam@acme.example",), ("alice@acme.example",)}
    assert smtp_server.logins == ["alerts"] * 3
    bob = by_rcpt[("bob@acme.example",)]
    assert bob.sender == "kpi-warehouse@acme.example"
    assert bob.subject == "KPI alerts for Bob Li (E00002) — 2025-11-19 (3)"
    assert "[CRITICAL] Dip (bad) in Net revenue, Sales" in bob.text and "kpi ack al_" in bob.text

    statuses = {(r["recipient"], r["channel"], r["status"]) for r in rows(outbox_path)}
    assert ("E00002", "webhook", "sent") in statuses and ("E00002", "email", "sent") in statuses
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in rows(outbox_path))


def test_a_re_run_sends_nothing_new(outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink) -> None:
    first = _run(outbox_path, hook_server, smtp_server, ack_hours=72)
    hooks, mails = len(hook_server.hooks), len(smtp_server.mails)
    again = _run(outbox_path, hook_server, smtp_server, now=NOW + timedelta(hours=1), ack_hours=72)
    assert again.created == [] and sorted(again.already_known) == sorted(first.created)
    assert again.delivery.messages_sent == 0
    assert (len(hook_server.hooks), len(smtp_server.mails)) == (hooks, mails)

    # the next night the dip is still going on (same start, later end): still the same alert
    continuing = todays_anomalies()
    continuing.loc[1, "end_date"] = AS_OF + timedelta(days=1)
    next_night = _run(outbox_path, hook_server, smtp_server, anomalies=continuing,
                      as_of_date=AS_OF + timedelta(days=1), now=NOW + timedelta(days=1), ack_hours=72)
    assert next_night.created == []
    assert (len(hook_server.hooks), len(smtp_server.mails)) == (hooks, mails)


def test_an_unreachable_channel_keeps_the_alert_pending_and_retries_later(
    outbox_path: Path, hook_server: HookServer
) -> None:
    port = free_port()  # nothing listens here yet
    hooks = {"default": {"kind": "slack", "url": f"http://127.0.0.1:{port}/slack/T1/B1/RETRYSECRETTOKEN"}}
    only_one = [anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]
    report = _run(outbox_path, hook_server, None, anomalies=only_one, webhooks=hooks)
    assert report.delivery.messages_failed == 1
    [row] = rows(outbox_path)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "unreachable" in row["last_error"] and f"127.0.0.1:{port}/***" in row["last_error"]
    assert "RETRYSECRETTOKEN" not in row["last_error"]
    assert row["next_attempt_at"] == (NOW + timedelta(minutes=5)).isoformat()

    channels = Channels(parse_webhooks(hooks))
    early = deliver_due(outbox_path, channels, now=NOW + timedelta(minutes=4))
    assert early.messages_sent == early.messages_failed == 0  # backing off: not due yet
    again = deliver_due(outbox_path, channels, now=NOW + timedelta(minutes=6))
    assert again.messages_failed == 1
    [row] = rows(outbox_path)
    assert row["attempts"] == 2 and row["next_attempt_at"] == (NOW + timedelta(minutes=16)).isoformat()

    late_server = HookServer(port).start()  # the channel comes back
    try:
        done = deliver_due(outbox_path, channels, now=NOW + timedelta(minutes=16))
    finally:
        late_server.stop()
    assert done.messages_sent == 1
    [row] = rows(outbox_path)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["last_error"] is None
    assert "Spike (bad) in Net revenue" in late_server.hooks[0].body["text"]


def test_a_channel_that_keeps_failing_ends_up_failed_but_visible(outbox_path: Path, hook_server: HookServer) -> None:
    hooks = {"default": {"kind": "dingtalk", "url": f"{hook_server.base}/refuse?access_token=REFUSEDTOKEN"}}
    only_one = [anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]
    _run(outbox_path, hook_server, None, anomalies=only_one, webhooks=hooks)
    channels = Channels(parse_webhooks(hooks))
    moment = NOW
    for _ in range(10):
        moment += timedelta(hours=7)
        deliver_due(outbox_path, channels, now=moment, max_attempts=4)
    [row] = rows(outbox_path)
    assert row["status"] == "failed" and row["attempts"] == 4
    assert "errcode 310000 keywords not in content" in row["last_error"]  # DingTalk's 200-with-error
    assert "REFUSEDTOKEN" not in row["last_error"]


def test_one_digest_per_owner_and_channel(outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink) -> None:
    _run(outbox_path, hook_server, smtp_server, webhooks={"default": {"kind": "generic", "url": f"{hook_server.base}/generic"}})
    generic = hook_server.to("/generic")
    per_owner = {h.body["recipient"]["employee_id"]: h.body for h in generic}
    assert sorted(per_owner) == ["E00001", "E00002", "E00300"]  # one message each, not one per alert
    bob = per_owner["E00002"]
    assert [a["kpi_id"] for a in bob["alerts"]] == ["net_revenue", "net_revenue", "new_contracts"]
    assert bob["alerts"][0]["severity"] == "critical"  # most severe first
    assert bob["title"] == "KPI alerts for Bob Li (E00002) — 2025-11-19 (3)"
    assert len(smtp_server.mails) == 3


def _nights_off_track(outbox_path: Path, hooks: HookServer, smtp: SmtpSink | None, statuses: list[str],
                      **kwargs: Any) -> list[Any]:
    """One night per status of net_revenue at ACME (owner Bob, escalation to Alice), a day apart,
    starting with the installation's first night; tonight's anomalies on the second night only."""
    reports = []
    for n, status in enumerate(statuses):
        day = AS_OF + timedelta(days=n - 1)
        reports.append(_run(outbox_path, hooks, smtp, baseline=False, as_of_date=day, now=NOW + timedelta(days=n - 1),
                            anomalies=todays_anomalies() if n == 1 else [], attainment=attainment({"ACME": status}),
                            ack_hours=24, **kwargs))
    return reports


def test_only_sustained_misses_escalate(outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink) -> None:
    first, second, third, fourth = _nights_off_track(
        outbox_path, hook_server, smtp_server, ["on_track", "off_track", "off_track", "off_track"])
    assert first.first_night and not second.first_night
    off = [r for r in rows(outbox_path) if r["kind"] == "off_track" and r["channel"] == "email"]
    assert len(off) == 1 and off[0]["recipient"] == "E00002"
    # the night after (24 h later) the miss has lasted two nights: not yet sustained; spikes and dips
    # never escalate, however long nobody acknowledges them
    assert third.escalated == []
    # three nights off track in a row: the miss goes to the next manager (Alice, above Bob's unit)
    assert len(fourth.escalated) == 1
    escalations = [r for r in rows(outbox_path) if r["escalation_of"]]
    assert {(r["recipient"], r["channel"]) for r in escalations} == {("E00001", "webhook"), ("E00001", "email")}
    original = next(r for r in rows(outbox_path) if r["alert_id"] == escalations[0]["escalation_of"])
    assert original["status"] == "escalated" and original["kind"] == "off_track"
    assert escalations[0]["subject"] == "Escalated: " + original["subject"]
    alice = [m for m in smtp_server.mails if m.recipients == ["alice@acme.example"]]
    assert any("Not acknowledged by Bob Li (E00002) within 24 h" in m.text for m in alice)
    # escalation happens once: the escalation itself does not escalate further
    later = _run(outbox_path, hook_server, smtp_server, baseline=False, as_of_date=AS_OF + timedelta(days=3),
                 now=NOW + timedelta(days=5), anomalies=[], attainment=attainment({"ACME": "off_track"}))
    assert later.escalated == []
    # the manager acknowledging the escalation closes the original too
    assert acknowledge(outbox_path, escalations[0]["ack_token"], now=NOW + timedelta(days=5))
    closed = {r["status"] for r in rows(outbox_path)
              if r["alert_id"] in (escalations[0]["alert_id"], escalations[0]["escalation_of"])}
    assert closed == {"acknowledged"}


def test_a_miss_that_recovers_does_not_escalate_and_ack_stops_escalation(
    outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink
) -> None:
    *_, last = _nights_off_track(outbox_path, hook_server, smtp_server, ["on_track", "off_track", "on_track",
                                                                         "off_track"])
    assert last.escalated == []  # off, back on track, off again: not three nights in a row
    _baseline(outbox_path.with_name("other.sqlite"))
    other = outbox_path.with_name("other.sqlite")
    reports = _nights_off_track(other, hook_server, smtp_server, ["on_track", "off_track"])
    [off] = [r for r in rows(other) if r["kind"] == "off_track" and r["channel"] == "email"]
    assert acknowledge(other, off["alert_id"], now=NOW + timedelta(hours=2))
    assert not acknowledge(other, "al_doesnotexist")
    more = [_run(other, hook_server, smtp_server, baseline=False, as_of_date=AS_OF + timedelta(days=n),
                 now=NOW + timedelta(days=n), anomalies=[], attainment=attainment({"ACME": "off_track"}))
            for n in (1, 2, 3)]
    assert all(r.escalated == [] for r in reports + more)  # acknowledged: nobody above hears of it


def test_the_ack_link_acknowledges_on_post_only(outbox_path: Path, hook_server: HookServer) -> None:
    with AckServer(outbox_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        _run(outbox_path, hook_server, None, ack_base_url=server.url)
        text = hook_server.to("/slack")[0].body["text"]
        link = next(part.split("|")[0] for part in text.split("<") if part.startswith(server.url))
        token = link.rsplit("/", 1)[1]
        alert = next(r for r in rows(outbox_path) if r["ack_token"] == token)

        with urllib.request.urlopen(link) as response:  # a link preview must not acknowledge
            page = response.read().decode()
        assert "<form method='post'" in page and alert["subject"] in page
        assert {r["status"] for r in rows(outbox_path) if r["alert_id"] == alert["alert_id"]} == {"sent"}

        with urllib.request.urlopen(urllib.request.Request(link, data=b"", method="POST")) as response:
            assert response.status == 200 and "Acknowledged" in response.read().decode()
        acked = [r for r in rows(outbox_path) if r["alert_id"] == alert["alert_id"]]
        assert {r["status"] for r in acked} == {"acknowledged"} and acked[0]["acknowledged_by"] == "ack link"

        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(urllib.request.Request(f"{server.url}/ack/{'x' * 24}", data=b"", method="POST"))
        assert missing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as by_id:  # the guessable alert id is not accepted
            urllib.request.urlopen(f"{server.url}/ack/{alert['alert_id']}")
        assert by_id.value.code == 404


def test_no_secret_is_stored_logged_or_reported(
    outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = {"E00300": {"kind": "wecom", "url": f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key=DEADSECRETKEY"}}
    hooks = {**_webhooks(hook_server.base), **dead}
    first = _run(outbox_path, hook_server, smtp_server, webhooks=hooks)
    assert first.delivery.messages_failed == 1  # the dead webhook left an error behind
    other = outbox_path.with_name("escalating.sqlite")
    later = _nights_off_track(other, hook_server, smtp_server, ["on_track", "off_track", "off_track", "off_track"],
                              webhooks=hooks)[-1]
    assert later.escalated  # escalation messages went out too
    con = sqlite3.connect(other)
    try:
        dump_escalating = "\n".join(con.iterdump())
    finally:
        con.close()
    secrets = ["SLACKSECRETTOKEN", "DINGSECRETTOKEN", "WECOMSECRETKEY", "DEADSECRETKEY", SMTP_PASSWORD,
               "/slack/services/T000", "access_token="]
    con = sqlite3.connect(outbox_path)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert "unreachable" in dump
    for secret in secrets:
        assert secret not in dump and secret not in dump_escalating, secret
        assert secret not in caplog.text, secret
        assert secret not in repr(first.to_dict()) + repr(later.to_dict()), secret
    assert "WECOMSECRETKEY" not in repr(parse_webhooks(hooks)) and SMTP_PASSWORD not in repr(smtp_server.config())


def test_kpis_that_turn_off_track_alert_once(outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink) -> None:
    day1, day2, day3 = AS_OF - timedelta(days=1), AS_OF, AS_OF + timedelta(days=1)
    none: list[dict[str, Any]] = []
    first = _run(outbox_path, hook_server, smtp_server, anomalies=none, ack_hours=1000, as_of_date=day1,
                 attainment=attainment({"ACME": "on_track", "DIV-SALES": "at_risk"}))
    assert first.created == [] and first.status_changes == 0
    second = _run(outbox_path, hook_server, smtp_server, anomalies=none, ack_hours=1000, as_of_date=day2, now=NOW,
                  attainment=attainment({"ACME": "off_track", "DIV-SALES": "at_risk"}))
    assert second.status_changes == 1 and len(second.created) == 1
    [row] = [r for r in rows(outbox_path) if r["channel"] == "email"]
    assert row["kind"] == "off_track" and row["recipient"] == "E00002" and row["org_unit_id"] == "ACME"
    assert "Net revenue off track at Acme Group (month from 2025-11-01)" == row["subject"]
    assert "attainment to date 62.5%" in row["body"] and "(was on_track)" in row["body"]
    # still off track the next day: not a change
    third = _run(outbox_path, hook_server, smtp_server, anomalies=none, ack_hours=1000, as_of_date=day3, now=NOW + timedelta(days=1),
                 attainment=attainment({"ACME": "off_track", "DIV-SALES": "at_risk"}))
    assert third.status_changes == 0 and third.created == []
    # a backfill of day 2 finds the same change, and the outbox already has it
    backfill = _run(outbox_path, hook_server, smtp_server, anomalies=none, ack_hours=1000, as_of_date=day2,
                    now=NOW + timedelta(days=2), attainment=attainment({"ACME": "off_track", "DIV-SALES": "at_risk"}))
    assert backfill.status_changes == 1 and backfill.created == [] and len(backfill.already_known) == 1
    assert len([m for m in smtp_server.mails if "off track" in m.text]) == 1


def test_minimum_severity_is_a_setting(outbox_path: Path, hook_server: HookServer) -> None:
    medium = _run(outbox_path, hook_server, None, min_severity="medium", deliver=False)
    assert len(medium.created) == 6
    with pytest.raises(ValueError, match="severity 'urgent' is not one of low, medium, high, critical"):
        _run(outbox_path, hook_server, None, min_severity="urgent")


def test_without_any_channel_the_outbox_keeps_the_alert(outbox_path: Path, hook_server: HookServer) -> None:
    report = _run(outbox_path, hook_server, None, webhooks={})
    assert len(report.created) == 5 and report.delivery.messages_sent == 0
    assert {(r["channel"], r["status"]) for r in rows(outbox_path)} == {("outbox", "sent")}
    assert not hook_server.hooks


def test_smtp_problems_stay_pending_with_the_reason_and_no_password(
    outbox_path: Path, hook_server: HookServer, smtp_server: SmtpSink
) -> None:
    only_one = [anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]
    wrong = smtp_server.config(password="Wrong-Pa55-XYZ", timeout=1.0)  # aiosmtpd stalls failed logins
    _baseline(outbox_path)
    run_alerts(
        outbox_path, as_of_date=AS_OF, anomalies=only_one, attainment=[], kpi_definitions=KPI_DEFINITIONS,
        org_units=ORG_UNITS, employees=EMPLOYEES, smtp=wrong, now=NOW,
    )
    [row] = rows(outbox_path)
    assert row["channel"] == "email" and row["status"] == "pending"
    assert row["last_error"].startswith(f"SMTP 127.0.0.1:{smtp_server.port}: ") and row["attempts"] == 1
    assert "Wrong-Pa55-XYZ" not in row["last_error"] and smtp_server.mails == []
    tls = Channels({}, smtp_server.config(starttls=True))  # the test server offers no STARTTLS
    report = deliver_due(outbox_path, tls, now=NOW + timedelta(hours=1))
    assert report.messages_failed == 1 and "STARTTLS" in rows(outbox_path)[0]["last_error"]
    assert deliver_due(outbox_path, Channels({}, smtp_server.config()), now=NOW + timedelta(hours=2)).messages_sent == 1
    assert [m.recipients for m in smtp_server.mails] == [["bob@acme.example"]]


def test_signed_dingtalk_webhooks_carry_timestamp_and_sign(outbox_path: Path, hook_server: HookServer) -> None:
    hooks = {"default": {"kind": "dingtalk", "url": f"{hook_server.base}/dingtalk/robot/send?access_token=TOK12345678",
                         "secret": "SECsigningsecret"}}
    only_one = [anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF)]
    _run(outbox_path, hook_server, None, anomalies=only_one, webhooks=hooks)
    [hook] = hook_server.hooks
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(hook.path).query)
    assert set(query) == {"access_token", "timestamp", "sign"}
    con = sqlite3.connect(outbox_path)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert "SECsigningsecret" not in dump and "TOK12345678" not in dump
