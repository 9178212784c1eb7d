"""Owner alerts (pure Python, no Dagster import).

The nightly entry point is :func:`run_alerts`: anomalies of at least the minimum severity and KPIs
that turned ``off_track`` become alerts for the KPI's owner (responsibility matrix); new ones are
added to the outbox (a SQLite file that survives the nightly rebuild; deterministic ids, so a
re-run sends nothing twice), overdue ones escalate to the next manager, and due ones are delivered
as one digest per owner and channel (webhook: Slack / DingTalk / WeCom / generic JSON; email over
SMTP), retried with backoff when a channel fails. :func:`acknowledge` backs ``kpi ack``;
:class:`AckServer` serves the link in a message (127.0.0.1 by default).
"""

from pipelines.alerts.ack_server import AckServer, serve_ack
from pipelines.alerts.channels import (
    Channels,
    SmtpConfig,
    WebhookTarget,
    mask_webhook_url,
    parse_webhooks,
    webhook_payload,
)
from pipelines.alerts.dispatch import (
    AlertRunReport,
    DeliveryReport,
    deliver_due,
    escalate_overdue,
    run_alerts,
)
from pipelines.alerts.matrix import ResponsibilityMatrix
from pipelines.alerts.model import SEVERITIES, Alert, Recipient, alert_id
from pipelines.alerts.outbox import acknowledge, record_statuses, rows
from pipelines.alerts.outbox import enqueue as enqueue_alerts
from pipelines.alerts.rules import anomaly_alerts, status_change_alerts

__all__ = [
    "SEVERITIES",
    "AckServer",
    "Alert",
    "AlertRunReport",
    "Channels",
    "DeliveryReport",
    "Recipient",
    "ResponsibilityMatrix",
    "SmtpConfig",
    "WebhookTarget",
    "acknowledge",
    "alert_id",
    "anomaly_alerts",
    "deliver_due",
    "enqueue_alerts",
    "escalate_overdue",
    "mask_webhook_url",
    "parse_webhooks",
    "record_statuses",
    "rows",
    "run_alerts",
    "serve_ack",
    "status_change_alerts",
    "webhook_payload",
]
