"""Real servers on loopback: an SMTP server (aiosmtpd) and an HTTP server receiving webhooks."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipelines.alerts import SmtpConfig

SMTP_USER = "alerts"
SMTP_PASSWORD = "Smtp-Pa55word-never-stored"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_content()


@dataclass
class SmtpSink:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def config(self, **overrides: Any) -> SmtpConfig:
        values = dict(host=self.host, port=self.port, user=SMTP_USER, password=SMTP_PASSWORD,
                      sender="kpi-warehouse@acme.example", timeout=5.0)
        values.update(overrides)
        return SmtpConfig(**values)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd API
        self.sink.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER and (
            auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            sink.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        _SmtpHandler(sink), hostname=sink.host, port=sink.port, authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Hook:
    path: str
    body: dict[str, Any]
    content_type: str


class HookServer:
    """Answers like the real services: Slack 'ok', DingTalk/WeCom {"errcode": 0}; '/refuse' -> errcode."""

    def __init__(self, port: int = 0):
        self.hooks: list[Hook] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hooks.append(Hook(self.path, json.loads(raw), self.headers.get("Content-Type", "")))
                if self.path.startswith("/refuse"):
                    answer = b'{"errcode": 310000, "errmsg": "keywords not in content"}'
                elif self.path.startswith("/slack"):
                    answer = b"ok"
                else:
                    answer = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> HookServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def to(self, prefix: str) -> list[Hook]:
        return [h for h in self.hooks if h.path.startswith(prefix)]


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    server = HookServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "alerts.sqlite"
