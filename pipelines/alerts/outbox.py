"""The outbox: a SQLite file that outlives the nightly warehouse rebuild (e.g. ``<data>/state/alerts.sqlite``).

Table ``outbox`` — one row per alert and channel (``webhook`` | ``email`` | ``outbox`` when no
channel reaches the recipient); ``alert_id`` is a hash of (kpi, org unit, kind, grain, event start,
recipient), so inserting the same alert again is a no-op: re-runs and backfills never create or
send an alert twice. Status: ``pending`` (waiting or retrying with exponential backoff; the last
error stays visible) -> ``sent`` -> ``acknowledged`` | ``escalated``; ``failed`` after the last
attempt. No secret is stored: a webhook row keeps the key of its target (owner id or ``default``),
never the URL.

Table ``attainment_status`` — yesterday's statuses of running periods, to tell which KPIs *turned*
``off_track`` (the warehouse is rebuilt each night and keeps no memory of its own), and whether a
miss is sustained (only those escalate).

Tables ``alert_members`` (the KPIs an alert speaks for: several for a family alert), ``digested``
(alerts held in a digest or a first-night summary instead of being sent on their own — the same
event is not alerted again) and ``nights`` (the nights that ran: the first one is the baseline).
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.alerts.model import Alert, Recipient, as_date, iso, records, utc

STATUSES = ("pending", "sent", "failed", "acknowledged", "escalated")
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    alert_id             TEXT NOT NULL,
    channel              TEXT NOT NULL CHECK (channel IN ('webhook', 'email', 'outbox')),
    created_at           TEXT NOT NULL,
    business_date        TEXT NOT NULL,
    kpi_id               TEXT NOT NULL,
    org_unit_id          TEXT,
    grain                TEXT,
    kind                 TEXT NOT NULL,
    event_start          TEXT NOT NULL,
    recipient            TEXT NOT NULL,
    recipient_name       TEXT,
    address              TEXT,
    webhook_kind         TEXT,
    severity             TEXT NOT NULL,
    subject              TEXT NOT NULL,
    body                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'acknowledged', 'escalated')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    next_attempt_at      TEXT,
    sent_at              TEXT,
    ack_token            TEXT NOT NULL,
    acknowledged_at      TEXT,
    acknowledged_by      TEXT,
    escalation_recipient TEXT,
    escalation_name      TEXT,
    escalation_email     TEXT,
    escalation_unit      TEXT,
    escalated_to         TEXT,
    escalated_at         TEXT,
    escalation_of        TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_token ON outbox (ack_token);
CREATE TABLE IF NOT EXISTS alert_members (
    alert_id     TEXT NOT NULL,
    kpi_id       TEXT NOT NULL,
    org_unit_id  TEXT NOT NULL,
    grain        TEXT NOT NULL,
    PRIMARY KEY (alert_id, kpi_id, org_unit_id, grain)
);
CREATE TABLE IF NOT EXISTS digested (
    alert_id      TEXT NOT NULL PRIMARY KEY,
    held_by       TEXT NOT NULL,
    business_date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nights (
    as_of_date TEXT NOT NULL PRIMARY KEY,
    run_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attainment_status (
    as_of_date   TEXT NOT NULL,
    kpi_id       TEXT NOT NULL,
    org_unit_id  TEXT NOT NULL,
    grain        TEXT NOT NULL,
    period_start TEXT NOT NULL,
    status       TEXT NOT NULL,
    PRIMARY KEY (as_of_date, kpi_id, org_unit_id, grain, period_start)
);
"""
#: statuses of running periods are kept this long (backfills compare with the day before)
STATUS_HISTORY_DAYS = 400


@contextlib.contextmanager
def connect(outbox_path: Path) -> Iterator[sqlite3.Connection]:
    """Open (and create or migrate) the outbox. Autocommit; callers open ``BEGIN IMMEDIATE`` blocks."""
    outbox_path = Path(outbox_path)
    outbox_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(outbox_path, timeout=30, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise RuntimeError(f"outbox {outbox_path} has schema version {version}; this code knows {_SCHEMA_VERSION}")
        if version < _SCHEMA_VERSION:  # every statement is CREATE … IF NOT EXISTS: migrating is re-running it
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- writing alerts ---------------------------------------------------------------------------------


def enqueue(
    outbox_path: Path,
    alerts: Iterable[Alert],
    routes: Callable[[Recipient], list[tuple[str, str, str | None]]],
    *,
    now: datetime | None = None,
) -> tuple[list[str], list[str]]:
    """Insert new alerts, one row per channel from ``routes(recipient)``; return (new ids, known ids).

    An alert whose id is already in the outbox (any channel, any status) is left alone.
    """
    moment = iso(utc(now))
    new: list[str] = []
    known: list[str] = []
    with connect(outbox_path) as conn, transaction(conn):
        for alert in alerts:
            aid = alert.alert_id
            if aid in new or conn.execute("SELECT 1 FROM outbox WHERE alert_id = ? LIMIT 1", [aid]).fetchone():
                known.append(aid)
                continue
            token = secrets.token_urlsafe(18)
            esc = alert.escalation
            for channel, address, webhook_kind in routes(alert.recipient):
                status = "sent" if channel == "outbox" else "pending"
                conn.execute(
                    """
                    INSERT INTO outbox (alert_id, channel, created_at, business_date, kpi_id, org_unit_id, grain,
                        kind, event_start, recipient, recipient_name, address, webhook_kind, severity, subject,
                        body, status, attempts, next_attempt_at, sent_at, ack_token, escalation_recipient,
                        escalation_name, escalation_email, escalation_unit, escalation_of)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        aid, channel, moment, alert.business_date.isoformat(), alert.kpi_id, alert.org_unit_id,
                        alert.grain, alert.kind, alert.event_start.isoformat(), alert.recipient.key,
                        alert.recipient.name, address, webhook_kind, alert.severity, alert.subject, alert.body,
                        status, None if status == "sent" else moment, moment if status == "sent" else None, token,
                        esc.employee_id if esc else None, esc.name if esc else None,
                        esc.email if esc else None, esc.org_unit_id if esc else None, alert.escalation_of,
                    ],
                )
            new.append(aid)
            members = alert.members or ((alert.kpi_id, alert.org_unit_id or "", alert.grain or ""),)
            conn.executemany(
                "INSERT OR IGNORE INTO alert_members VALUES (?, ?, ?, ?)", [(aid, k, u, g) for k, u, g in members]
            )
    return new, known


def known_ids(outbox_path: Path, ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that were already enqueued or held in a digest / summary."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    with connect(outbox_path) as conn:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i: i + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("outbox", "digested"):
                found |= {r[0] for r in conn.execute(
                    f"SELECT DISTINCT alert_id FROM {table} WHERE alert_id IN ({marks})", chunk)}  # noqa: S608
    return found


def record_digested(outbox_path: Path, held: Mapping[str, list[str]], *, business_date: date) -> None:
    """Remember the alerts a digest or summary holds (``{holder id: [alert ids]}``)."""
    with connect(outbox_path) as conn, transaction(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO digested VALUES (?, ?, ?)",
            [(aid, holder, business_date.isoformat()) for holder, ids in held.items() for aid in ids],
        )


def is_first_night(outbox_path: Path, as_of_date: date) -> bool:
    """No earlier night ran on this outbox (a new installation; re-running the first night stays
    the first night)."""
    with connect(outbox_path) as conn:
        earlier = conn.execute("SELECT 1 FROM nights WHERE as_of_date < ? LIMIT 1", [as_of_date.isoformat()]).fetchone()
    return earlier is None


def record_night(outbox_path: Path, as_of_date: date, *, now: datetime | None = None) -> None:
    with connect(outbox_path) as conn, transaction(conn):
        conn.execute("INSERT OR IGNORE INTO nights VALUES (?, ?)", [as_of_date.isoformat(), iso(utc(now))])


def is_sustained(outbox_path: Path, alert_id: str, *, nights: int) -> bool:
    """Every one of the last ``nights`` status snapshots has one of the alert's KPI × unit × grain
    off track (a miss that lasts, not a blip)."""
    with connect(outbox_path) as conn:
        members = conn.execute("SELECT kpi_id, org_unit_id, grain FROM alert_members WHERE alert_id = ?",
                               [alert_id]).fetchall()
        days = [r[0] for r in conn.execute(
            "SELECT DISTINCT as_of_date FROM attainment_status ORDER BY as_of_date DESC LIMIT ?", [nights])]
        if not members or len(days) < nights:
            return False
        for day in days:
            hit = any(conn.execute(
                "SELECT 1 FROM attainment_status WHERE as_of_date = ? AND kpi_id = ? AND org_unit_id = ? AND grain = ? "
                "AND status = 'off_track' LIMIT 1", [day, k, u, g]).fetchone() for k, u, g in members)
            if not hit:
                return False
    return True


def acknowledge(
    outbox_path: Path, alert_id_or_token: str, *, now: datetime | None = None, by: str | None = None
) -> bool:
    """Mark an alert acknowledged (by its id or its ack token); stops retries and escalation.

    Acknowledging an escalated alert also acknowledges its escalation, and vice versa.
    Returns False when no alert has that id or token; True otherwise (also when already acknowledged).
    """
    key = (alert_id_or_token or "").strip()
    if not key:
        return False
    moment = iso(utc(now))
    with connect(outbox_path) as conn, transaction(conn):
        row = conn.execute(
            "SELECT alert_id, escalation_of FROM outbox WHERE alert_id = ? OR ack_token = ? LIMIT 1", [key, key]
        ).fetchone()
        if row is None:
            return False
        ids = {row["alert_id"]}
        if row["escalation_of"]:
            ids.add(row["escalation_of"])
        for (child,) in conn.execute(
            f"SELECT DISTINCT alert_id FROM outbox WHERE escalation_of IN ({','.join('?' * len(ids))})",  # noqa: S608
            sorted(ids),
        ).fetchall():
            ids.add(child)
        marks = ",".join("?" * len(ids))
        conn.execute(
            f"UPDATE outbox SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, "  # noqa: S608
            f"next_attempt_at = NULL WHERE alert_id IN ({marks}) AND status <> 'acknowledged'",
            [moment, by, *sorted(ids)],
        )
    return True


def alert_by_token(outbox_path: Path, token: str) -> dict[str, Any] | None:
    with connect(outbox_path) as conn:
        row = conn.execute(
            "SELECT alert_id, subject, status, acknowledged_at FROM outbox WHERE ack_token = ? LIMIT 1", [token]
        ).fetchone()
    return dict(row) if row else None


def rows(outbox_path: Path, *, status: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows (for ``kpi status`` and tests), oldest first."""
    with connect(outbox_path) as conn:
        if status is None:
            found = conn.execute("SELECT * FROM outbox ORDER BY created_at, alert_id, channel").fetchall()
        else:
            found = conn.execute(
                "SELECT * FROM outbox WHERE status = ? ORDER BY created_at, alert_id, channel", [status]
            ).fetchall()
    return [dict(r) for r in found]


# --- status changes -----------------------------------------------------------------------------------


def record_statuses(outbox_path: Path, attainment: Any, *, as_of_date: date) -> list[dict[str, Any]]:
    """Store today's statuses of running periods; return the rows that *turned* ``off_track``
    (off_track now, something else — or nothing — in the latest earlier snapshot).

    Re-running a day replaces that day's snapshot, so it finds the same changes again (and the
    outbox's dedup keeps them from being sent twice).
    """
    current: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for number, row in enumerate(records(attainment), start=1):
        status = row.get("status")
        if status is None or row.get("is_complete") in (True, 1):
            continue
        for needed in ("kpi_id", "org_unit_id", "grain", "period_start"):
            if row.get(needed) is None:
                raise ValueError(f"kpi_attainment row {number}: field {needed} is empty")
        start = as_date(row["period_start"], field_name=f"kpi_attainment row {number} period_start")
        key = (str(row["kpi_id"]), str(row["org_unit_id"]), str(row["grain"]), start.isoformat())
        current[key] = {**row, "period_start": start, "status": str(status)}
    day = as_of_date.isoformat()
    with connect(outbox_path) as conn, transaction(conn):
        previous_day = conn.execute(
            "SELECT max(as_of_date) FROM attainment_status WHERE as_of_date < ?", [day]
        ).fetchone()[0]
        previous: dict[tuple[str, str, str, str], str] = {}
        if previous_day is not None:
            for r in conn.execute(
                "SELECT kpi_id, org_unit_id, grain, period_start, status FROM attainment_status WHERE as_of_date = ?",
                [previous_day],
            ):
                previous[(r[0], r[1], r[2], r[3])] = r[4]
        conn.execute("DELETE FROM attainment_status WHERE as_of_date = ?", [day])
        conn.executemany(
            "INSERT INTO attainment_status VALUES (?, ?, ?, ?, ?, ?)",
            [(day, *key, row["status"]) for key, row in current.items()],
        )
        latest = conn.execute("SELECT max(as_of_date) FROM attainment_status").fetchone()[0]
        if latest is not None:
            horizon = (date.fromisoformat(latest) - timedelta(days=STATUS_HISTORY_DAYS)).isoformat()
            conn.execute("DELETE FROM attainment_status WHERE as_of_date < ?", [horizon])
    changes = []
    for key, row in current.items():
        if row["status"] == "off_track" and previous.get(key) != "off_track":
            changes.append({**row, "previous_status": previous.get(key)})
    return changes


# --- delivery bookkeeping ---------------------------------------------------------------------------


def claim_due(outbox_path: Path, *, now: datetime, lease_seconds: int = 300) -> list[dict[str, Any]]:
    """Pending rows whose next attempt is due, leased for ``lease_seconds`` so that a concurrent
    deliverer skips them (a deliverer that dies mid-send is retried after the lease)."""
    moment = utc(now)
    with connect(outbox_path) as conn, transaction(conn):
        due = [
            dict(r)
            for r in conn.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND channel <> 'outbox' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY created_at, alert_id",
                [iso(moment)],
            ).fetchall()
        ]
        lease = iso(moment + timedelta(seconds=lease_seconds))
        conn.executemany(
            "UPDATE outbox SET next_attempt_at = ? WHERE alert_id = ? AND channel = ? AND status = 'pending'",
            [(lease, r["alert_id"], r["channel"]) for r in due],
        )
    return due


def mark_sent(outbox_path: Path, keys: list[tuple[str, str]], *, now: datetime) -> None:
    with connect(outbox_path) as conn, transaction(conn):
        conn.executemany(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL, "
            "next_attempt_at = NULL WHERE alert_id = ? AND channel = ? AND status = 'pending'",
            [(iso(now), aid, channel) for aid, channel in keys],
        )


def mark_failed(
    outbox_path: Path,
    keys: list[tuple[str, str]],
    error: str,
    *,
    now: datetime,
    base_seconds: int,
    max_seconds: int,
    max_attempts: int,
) -> None:
    """Record a failed attempt: stays ``pending`` with the error and the next attempt after
    ``base * 2^(attempts-1)`` seconds (capped); ``failed`` after ``max_attempts``."""
    moment = utc(now)
    with connect(outbox_path) as conn, transaction(conn):
        for aid, channel in keys:
            row = conn.execute(
                "SELECT attempts FROM outbox WHERE alert_id = ? AND channel = ? AND status = 'pending'", [aid, channel]
            ).fetchone()
            if row is None:
                continue  # acknowledged meanwhile
            attempts = row["attempts"] + 1
            delay = min(max_seconds, base_seconds * 2 ** (attempts - 1))
            if attempts >= max_attempts:
                conn.execute(
                    "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ?, next_attempt_at = NULL "
                    "WHERE alert_id = ? AND channel = ?",
                    [attempts, error, aid, channel],
                )
            else:
                conn.execute(
                    "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? "
                    "WHERE alert_id = ? AND channel = ?",
                    [attempts, error, iso(moment + timedelta(seconds=delay)), aid, channel],
                )


def overdue_for_escalation(outbox_path: Path, *, now: datetime, ack_hours: float) -> list[dict[str, Any]]:
    """Delivered, unacknowledged originals whose first delivery is older than ``ack_hours``."""
    deadline = iso(utc(now) - timedelta(hours=ack_hours))
    with connect(outbox_path) as conn:
        found = conn.execute(
            """
            SELECT alert_id, min(sent_at) AS first_sent FROM outbox
            WHERE escalation_of IS NULL AND escalation_recipient IS NOT NULL
            GROUP BY alert_id
            HAVING sum(status = 'sent') > 0
               AND sum(status IN ('acknowledged', 'escalated')) = 0
               AND min(sent_at) <= ?
            ORDER BY alert_id
            """,
            [deadline],
        ).fetchall()
        result = []
        for r in found:
            row = conn.execute("SELECT * FROM outbox WHERE alert_id = ? LIMIT 1", [r["alert_id"]]).fetchone()
            result.append({**dict(row), "first_sent": r["first_sent"]})
    return result


def mark_escalated(outbox_path: Path, alert_id: str, escalated_to: str, *, now: datetime) -> None:
    with connect(outbox_path) as conn, transaction(conn):
        conn.execute(
            "UPDATE outbox SET status = 'escalated', escalated_to = ?, escalated_at = ?, next_attempt_at = NULL "
            "WHERE alert_id = ? AND status IN ('pending', 'sent', 'failed')",
            [escalated_to, iso(now), alert_id],
        )


def counts(outbox_path: Path) -> Mapping[str, int]:
    with connect(outbox_path) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT status, count(*) FROM outbox GROUP BY status")}
