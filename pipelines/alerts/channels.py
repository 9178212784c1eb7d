"""Delivery channels: webhooks (Slack, DingTalk, WeCom, generic JSON) and email over SMTP.

Secrets (webhook URLs carry their token in the path or query; the SMTP password) come in as
arguments only. They are never written to the outbox — a row records the webhook *key* (owner id
or ``default``) and resolves the URL at send time — and every error message is scrubbed of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from pipelines.alerts.model import Recipient

WEBHOOK_KINDS = ("slack", "dingtalk", "wecom", "generic")
#: WeCom rejects markdown content over 4096 bytes; DingTalk and Slack allow more.
_MAX_BYTES = {"wecom": 4000, "dingtalk": 18000, "slack": 35000, "generic": 500_000}


def mask_webhook_url(url: str | None) -> str:
    """``https://hooks.slack.com/services/T0/B0/XYZ`` -> ``https://hooks.slack.com/***``."""
    if not url:
        return ""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/***" if parts.scheme else "***"


@dataclass(frozen=True)
class WebhookTarget:
    kind: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)  # DingTalk "sign" secret, optional

    @property
    def masked(self) -> str:
        return f"{self.kind} webhook {mask_webhook_url(self.url)}"

    def secrets(self) -> list[str]:
        parts = urllib.parse.urlsplit(self.url)
        found = [self.url, parts.path, parts.query, self.secret or ""]
        found += [v for values in urllib.parse.parse_qs(parts.query).values() for v in values]
        found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
        return [s for s in found if s and s != "/"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "kpi-warehouse@localhost"
    starttls: bool = False  # STARTTLS only when asked for
    use_ssl: bool = False  # SMTPS (port 465)
    timeout: float = 10.0


def parse_webhooks(value: str | Mapping[str, Any] | None) -> dict[str, WebhookTarget]:
    """Parse the ``webhooks`` setting: ``{"<owner id>|default": {"kind": ..., "url": ...}}``.

    Errors name the key and the field, never the URL.
    """
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr straight from settings
        value = value.get_secret_value()
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"webhooks setting is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, Mapping):
        raise ValueError("webhooks setting must be a JSON object {owner_id_or_default: {kind, url}}")
    targets: dict[str, WebhookTarget] = {}
    for key, entry in value.items():
        if isinstance(entry, WebhookTarget):
            targets[str(key)] = entry
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(f"webhooks[{key!r}] must be an object with 'kind' and 'url'")
        kind = str(entry.get("kind", "generic")).lower()
        if kind not in WEBHOOK_KINDS:
            raise ValueError(f"webhooks[{key!r}].kind {kind!r} is not one of {', '.join(WEBHOOK_KINDS)}")
        url = entry.get("url")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhooks[{key!r}].url must be an http(s) URL")
        secret = entry.get("secret")
        targets[str(key)] = WebhookTarget(kind, url, str(secret) if secret else None)
    return targets


@dataclass(frozen=True)
class Channels:
    """Which channels reach a recipient: their webhook (or the ``default`` one) and email when
    SMTP is configured and their address is known; only the outbox when nothing else is."""

    webhooks: Mapping[str, WebhookTarget] = field(default_factory=dict, repr=False)
    smtp: SmtpConfig | None = None

    def routes(self, recipient: Recipient) -> list[tuple[str, str, str | None]]:
        """``[(channel, address, webhook_kind)]``; the address of a webhook is its key, not its URL."""
        routes: list[tuple[str, str, str | None]] = []
        key = recipient.key if recipient.key in self.webhooks else ("default" if "default" in self.webhooks else None)
        if key is not None:
            routes.append(("webhook", key, self.webhooks[key].kind))
        if self.smtp is not None and recipient.email:
            routes.append(("email", recipient.email, None))
        return routes or [("outbox", recipient.key, None)]

    def secrets(self) -> list[str]:
        found: list[str] = []
        for target in self.webhooks.values():
            found += target.secrets()
        if self.smtp is not None and self.smtp.password:
            found.append(self.smtp.password)
        return found


# --- message bodies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestItem:
    alert_id: str
    severity: str
    subject: str
    body: str
    kpi_id: str
    org_unit_id: str
    kind: str
    ack_url: str | None


def digest_title(recipient_label: str, day: str, count: int) -> str:
    noun = "alert" if count == 1 else "alerts"
    return f"KPI {noun} for {recipient_label} — {day} ({count})"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_escape(text: str) -> str:
    for char in ("\\", "*", "_", "`", "[", "]", "#"):
        text = text.replace(char, "\\" + char)
    return text


def _ack_hint(item: DigestItem, link: str) -> str:
    return f"{link} · or run `kpi ack {item.alert_id}`" if item.ack_url else f"Acknowledge: `kpi ack {item.alert_id}`"


def webhook_payload(kind: str, title: str, items: list[DigestItem], recipient: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for one digest, in the format the webhook kind expects."""
    limit = _MAX_BYTES.get(kind, 35000)
    if kind == "generic":
        return {
            "title": title,
            "recipient": recipient,
            "alerts": [
                {
                    "alert_id": i.alert_id, "severity": i.severity, "kind": i.kind, "kpi_id": i.kpi_id,
                    "org_unit_id": i.org_unit_id, "subject": i.subject, "body": i.body, "ack_url": i.ack_url,
                }
                for i in items
            ],
        }
    if kind == "slack":
        lines = [f"*{_slack_escape(title)}*"]
        for n, item in enumerate(items, start=1):
            link = f"<{item.ack_url}|Acknowledge>" if item.ack_url else ""
            lines.append(
                f"{n}. *[{item.severity.upper()}] {_slack_escape(item.subject)}*\n"
                f"{_slack_escape(item.body)}\n{_ack_hint(item, link)}"
            )
        return {"text": _fit("\n\n".join(lines), limit, items)}
    lines = [f"### {_md_escape(title)}"]
    for n, item in enumerate(items, start=1):
        link = f"[Acknowledge]({item.ack_url})" if item.ack_url else ""
        body = "\n".join(f"> {_md_escape(line)}" for line in item.body.splitlines() if line.strip())
        lines.append(f"{n}. **[{item.severity.upper()}] {_md_escape(item.subject)}**\n{body}\n\n{_ack_hint(item, link)}")
    text = _fit("\n\n".join(lines), limit, items)
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    raise ValueError(f"webhook kind {kind!r} is not one of {', '.join(WEBHOOK_KINDS)}")


def _fit(text: str, limit: int, items: list[DigestItem]) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = f"\n\n… truncated: {len(items)} alerts in total, all listed in the outbox (`kpi status`)."
    room = limit - len(note.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + note


def email_text(title: str, items: list[DigestItem]) -> str:
    parts = [title, "=" * min(len(title), 72), ""]
    for n, item in enumerate(items, start=1):
        ack = f"Acknowledge: {item.ack_url}  (or: kpi ack {item.alert_id})" if item.ack_url else (
            f"Acknowledge: kpi ack {item.alert_id}"
        )
        parts += [f"{n}. [{item.severity.upper()}] {item.subject}", item.body, ack, ""]
    parts.append("-- \nSent by the KPI warehouse. Unacknowledged alerts escalate to the next manager.")
    return "\n".join(parts)


# --- sending --------------------------------------------------------------------------------------


class DeliveryError(RuntimeError):
    """A channel refused or could not be reached; the message is already scrubbed of secrets."""


def send_webhook(target: WebhookTarget, payload: Mapping[str, Any], *, timeout: float = 10.0) -> None:
    url = target.url
    if target.kind == "dingtalk" and target.secret:
        timestamp = str(int(time.time() * 1000))
        digest = hmac.new(
            target.secret.encode("utf-8"), f"{timestamp}\n{target.secret}".encode(), hashlib.sha256
        ).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(digest))
        url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "kpi-warehouse-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # http(s) only: checked by parse_webhooks
            status = response.status
            raw = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(_scrub(f"{target.masked}: HTTP {exc.code} {exc.reason}", target.secrets())) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(_scrub(f"{target.masked} unreachable: {reason}", target.secrets())) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{target.masked}: HTTP {status}")
    if target.kind in ("dingtalk", "wecom"):  # they answer 200 with an error code in the body
        try:
            answer = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) not in (0, "0"):
            message = f"{target.masked}: errcode {answer.get('errcode')} {answer.get('errmsg', '')}".strip()
            raise DeliveryError(_scrub(message, target.secrets()))


def send_email(config: SmtpConfig, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    where = f"SMTP {config.host}:{config.port}"
    try:
        if config.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            if config.starttls and not config.use_ssl:
                client.starttls(context=ssl.create_default_context())
            if config.user:
                client.login(config.user, config.password or "")
            refused = client.send_message(message)
        if refused:
            raise DeliveryError(f"{where} refused recipient {to}: {refused}")
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"{where} refused recipient {to}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(_scrub(f"{where}: {type(exc).__name__}: {exc}", [config.password])) from None


def _scrub(message: str, secrets: list[str | None]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
