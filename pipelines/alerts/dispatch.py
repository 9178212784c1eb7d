"""Deliver the outbox (one digest per owner and channel), escalate what nobody acknowledged, and
the one-call nightly entry point :func:`run_alerts`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipelines.alerts import outbox
from pipelines.alerts.channels import (
    Channels,
    DeliveryError,
    DigestItem,
    SmtpConfig,
    WebhookTarget,
    digest_title,
    email_text,
    parse_webhooks,
    send_email,
    send_webhook,
    webhook_payload,
)
from pipelines.alerts.matrix import ResponsibilityMatrix
from pipelines.alerts.model import Alert, Recipient, severity_rank, utc
from pipelines.alerts.rules import anomaly_alerts, status_change_alerts
from pipelines.alerts.triage import (
    SUSTAINED_KINDS,
    apply_budget,
    baseline_summaries,
    kpi_families,
    merge_related,
    weight_lookup,
)

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    messages_sent: int = 0
    alerts_sent: int = 0
    messages_failed: int = 0
    errors: list[str] = field(default_factory=list)  # scrubbed: no URL token, no password


@dataclass
class AlertRunReport:
    created: list[str] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)
    status_changes: int = 0
    escalated: list[str] = field(default_factory=list)
    #: the first night of a new installation: one summary per owner, nothing else
    first_night: bool = False
    #: alerts found tonight that are held in a digest or a summary instead of being sent on their own
    digested: int = 0
    delivery: DeliveryReport | None = None
    outbox_counts: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deliver_due(
    outbox_path: Path,
    channels: Channels,
    *,
    now: datetime | None = None,
    ack_base_url: str | None = None,
    retry_base_seconds: int = 300,
    retry_max_seconds: int = 6 * 3600,
    max_attempts: int = 8,
    timeout: float = 10.0,
) -> DeliveryReport:
    """Send every due pending row: one digest message per (channel, address, recipient).

    A failure leaves the rows ``pending`` with the (scrubbed) error and a next attempt after an
    exponential backoff; after ``max_attempts`` they become ``failed`` and stay in the outbox.
    """
    moment = utc(now)
    report = DeliveryReport()
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in outbox.claim_due(outbox_path, now=moment):
        groups[(row["channel"], row["address"] or "", row["recipient"])].append(row)
    for (channel, address, recipient), group in sorted(groups.items()):
        group.sort(key=lambda r: (-severity_rank(r["severity"]), r["created_at"], r["alert_id"]))
        keys = [(r["alert_id"], r["channel"]) for r in group]
        name = group[0]["recipient_name"]
        label = f"{name} ({recipient})" if name else recipient
        day = max(r["business_date"] for r in group)
        title = digest_title(label, day, len(group))
        items = [
            DigestItem(
                alert_id=r["alert_id"], severity=r["severity"], subject=r["subject"], body=r["body"],
                kpi_id=r["kpi_id"], org_unit_id=r["org_unit_id"] or "", kind=r["kind"],
                ack_url=f"{ack_base_url.rstrip('/')}/ack/{r['ack_token']}" if ack_base_url else None,
            )
            for r in group
        ]
        try:
            if channel == "webhook":
                target = channels.webhooks.get(address)
                if target is None:
                    raise DeliveryError(f"no webhook is configured for key {address!r} (settings: webhooks)")
                payload = webhook_payload(target.kind, title, items, {"employee_id": recipient, "name": name})
                send_webhook(target, payload, timeout=timeout)
            elif channel == "email":
                if channels.smtp is None:
                    raise DeliveryError("SMTP is not configured (settings: smtp_host)")
                send_email(channels.smtp, address, title, email_text(title, items))
            else:
                raise DeliveryError(f"unknown channel {channel!r}")
        except DeliveryError as exc:
            error = _scrub(str(exc), channels.secrets())
            outbox.mark_failed(
                outbox_path, keys, error, now=moment, base_seconds=retry_base_seconds,
                max_seconds=retry_max_seconds, max_attempts=max_attempts,
            )
            report.messages_failed += 1
            report.errors.append(f"{channel} to {recipient}: {error}")
            log.warning("alert delivery failed (%s to %s, %d alerts): %s", channel, recipient, len(group), error)
            continue
        outbox.mark_sent(outbox_path, keys, now=moment)
        report.messages_sent += 1
        report.alerts_sent += len(group)
        log.info("sent %d alerts to %s by %s", len(group), recipient, channel)
    return report


def escalate_overdue(
    outbox_path: Path, channels: Channels, *, now: datetime | None = None, ack_hours: float = 24,
    sustained_nights: int = 3,
) -> list[str]:
    """Sustained misses delivered more than ``ack_hours`` ago and not acknowledged go, once, to the
    manager of the owner's parent unit (a new outbox alert); the original is marked ``escalated``.

    Only a miss that lasts escalates: an ``off_track`` alert whose KPI × unit is still off track in
    each of the last ``sustained_nights`` nightly snapshots. A spike, a dip, a digest or a summary
    never escalates — a manager hears about what keeps going wrong, not about every blip."""
    moment = utc(now)
    created: list[str] = []
    for row in outbox.overdue_for_escalation(outbox_path, now=moment, ack_hours=ack_hours):
        if row["kind"] not in SUSTAINED_KINDS or not outbox.is_sustained(
                outbox_path, row["alert_id"], nights=sustained_nights):
            continue
        target = Recipient(
            row["escalation_recipient"], row["escalation_name"], row["escalation_email"], row["escalation_unit"]
        )
        owner = f"{row['recipient_name']} ({row['recipient']})" if row["recipient_name"] else row["recipient"]
        hours = f"{ack_hours:g}"
        alert = Alert(
            kpi_id=row["kpi_id"],
            org_unit_id=row["org_unit_id"] or "",
            grain=row["grain"] or "",
            kind=f"escalation:{row['kind']}",
            event_start=date.fromisoformat(row["event_start"]),
            severity=row["severity"],
            subject=f"Escalated: {row['subject']}",
            body=(
                f"{row['body']}\nNot acknowledged by {owner} within {hours} h "
                f"(first delivered {row['first_sent']}); escalated to you as the next manager."
            ),
            recipient=target,
            business_date=date.fromisoformat(row["business_date"]),
            escalation=None,  # escalates once
            escalation_of=row["alert_id"],
        )
        new, _known = outbox.enqueue(outbox_path, [alert], channels.routes, now=moment)
        outbox.mark_escalated(outbox_path, row["alert_id"], target.key, now=moment)
        created += new
        log.info("escalated alert %s to %s", row["alert_id"], target.key)
    return created


def run_alerts(
    outbox_path: Path,
    *,
    as_of_date: date,
    anomalies: Any,
    attainment: Any,
    kpi_definitions: Any,
    org_units: Any,
    employees: Any,
    webhooks: str | Mapping[str, Any] | None = None,
    smtp: SmtpConfig | None = None,
    min_severity: str = "high",
    ack_hours: float = 24,
    ack_base_url: str | None = None,
    lookback_days: int = 1,
    now: datetime | None = None,
    deliver: bool = True,
    kpi_weights: Any = None,
    budget: int = 10,
    sustained_nights: int = 3,
) -> AlertRunReport:
    """The nightly step: find today's alerts, add the new ones to the outbox, escalate overdue ones,
    deliver what is due. Safe to re-run: nothing already in the outbox is created or sent again.

    Alerts people read (:mod:`pipelines.alerts.triage`): related KPIs (a derived KPI and the KPIs it
    is made of) make one alert; an owner gets at most ``budget`` alerts a night, the rest in one
    digest ranked by weight (``kpi_weights``) × severity; the first night of a new installation
    sends each owner one summary (the baseline) instead; only sustained misses escalate.

    ``anomalies`` / ``attainment`` / ``kpi_definitions`` / ``org_units`` / ``employees`` /
    ``kpi_weights``: rows of the marts (DataFrames or iterables of mappings). ``webhooks``: the
    settings value (JSON text or a mapping ``{owner_id|"default": {"kind", "url"}}``); ``smtp``: None
    disables email.
    """
    moment = utc(now)
    severity_rank(min_severity)
    targets: dict[str, WebhookTarget] = parse_webhooks(webhooks)
    channels = Channels(targets, smtp)
    matrix = ResponsibilityMatrix.from_marts(kpi_definitions, org_units, employees, as_of_date=as_of_date)
    first_night = outbox.is_first_night(outbox_path, as_of_date)
    changes = outbox.record_statuses(outbox_path, attainment, as_of_date=as_of_date)
    alerts = anomaly_alerts(
        anomalies, matrix, as_of_date=as_of_date, min_severity=min_severity, lookback_days=lookback_days
    ) + status_change_alerts(changes, matrix, as_of_date=as_of_date)
    alerts = merge_related(alerts, kpi_families(kpi_definitions), matrix)
    seen = outbox.known_ids(outbox_path, [a.alert_id for a in alerts])
    fresh = [a for a in alerts if a.alert_id not in seen]
    weights = weight_lookup(kpi_weights, as_of_date)
    if first_night:
        to_send, held = baseline_summaries(fresh, weights, as_of=as_of_date)
    else:
        to_send, held = apply_budget(fresh, weights, budget=budget, as_of=as_of_date)
    created, known = outbox.enqueue(outbox_path, to_send, channels.routes, now=moment)
    outbox.record_digested(outbox_path, held, business_date=as_of_date)
    outbox.record_night(outbox_path, as_of_date, now=moment)
    report = AlertRunReport(created=created, already_known=sorted(seen) + known, status_changes=len(changes),
                            first_night=first_night, digested=sum(len(v) for v in held.values()))
    report.escalated = escalate_overdue(outbox_path, channels, now=moment, ack_hours=ack_hours,
                                        sustained_nights=sustained_nights)
    if deliver:
        report.delivery = deliver_due(outbox_path, channels, now=moment, ack_base_url=ack_base_url)
    report.outbox_counts = dict(outbox.counts(outbox_path))
    return report


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
