"""A tiny HTTP endpoint so the link in an alert acknowledges it.

``GET /ack/<token>`` shows the alert and a button; ``POST /ack/<token>`` acknowledges it. (A GET
alone never acknowledges: chat tools fetch links to preview them.) Only the random ack token is
accepted here, never the guessable alert id. Binds 127.0.0.1 by default; to reach it from other
machines, put it behind a reverse proxy with authentication and set ``ack_base_url`` to the
proxy's address.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines.alerts import outbox

log = logging.getLogger(__name__)
_PATH = re.compile(r"^/ack/([A-Za-z0-9_-]{16,64})/?$")


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title></head><body style='font-family:sans-serif;max-width:40em;margin:2em auto'>"
        f"{body}</body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _AckHTTPServer
    server_version = "kpi-ack"
    sys_version = ""

    def do_GET(self) -> None:  # http.server API
        token = self._token()
        if token is None:
            return
        alert = outbox.alert_by_token(self.server.outbox_path, token)
        if alert is None:
            self._send(404, _page("Unknown alert", "<p>This alert link is unknown or has expired.</p>"))
            return
        subject = html.escape(alert["subject"])
        if alert["status"] == "acknowledged":
            self._send(200, _page("Acknowledged", f"<h1>Already acknowledged</h1><p>{subject}</p>"))
            return
        form = (
            f"<h1>Acknowledge this alert?</h1><p>{subject}</p>"
            f"<form method='post' action='/ack/{html.escape(token)}'><button type='submit'>Acknowledge</button></form>"
        )
        self._send(200, _page("Acknowledge alert", form))

    def do_POST(self) -> None:  # http.server API
        token = self._token()
        if token is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 4096))
        if not outbox.acknowledge(self.server.outbox_path, token, by="ack link"):
            self._send(404, _page("Unknown alert", "<p>This alert link is unknown or has expired.</p>"))
            return
        alert = outbox.alert_by_token(self.server.outbox_path, token) or {"subject": ""}
        self._send(200, _page("Acknowledged", f"<h1>Acknowledged</h1><p>{html.escape(alert['subject'])}</p>"))

    def _token(self) -> str | None:
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._send(404, _page("Not found", "<p>Not found.</p>"))
            return None
        return match.group(1)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # http.server API
        # the request line holds the token: log without it
        log.info("ack endpoint: %s", _PATH.sub("/ack/<token>", str(args[0]) if args else "").strip())


class _AckHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], outbox_path: Path):
        super().__init__(address, _Handler)
        self.outbox_path = outbox_path


class AckServer:
    """``with AckServer(outbox_path) as server: server.url`` — serves in a background thread."""

    def __init__(self, outbox_path: Path, host: str = "127.0.0.1", port: int = 0):
        self._httpd = _AckHTTPServer((host, port), Path(outbox_path))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kpi-ack", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AckServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AckServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_ack(outbox_path: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted (for a ``kpi ack-server`` command)."""
    httpd = _AckHTTPServer((host, port), Path(outbox_path))
    log.info("ack endpoint listening on http://%s:%d", host, port)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
