"""Shared fixtures: a real PostgreSQL server started for the test session."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    pytest.skip(f"PostgreSQL binary {name!r} is not installed")


def _as_unprivileged(cmd: list[str], user: str | None) -> list[str]:
    """initdb and postgres refuse to run as root: drop to an unprivileged user when we are root."""
    if user is None:
        return cmd
    return ["runuser", "-u", user, "--", *cmd]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throw-away PostgreSQL server on loopback; yield a superuser SQLAlchemy URL."""
    user = None
    if os.geteuid() == 0:
        for candidate in ("postgres", "nobody"):
            try:
                pwd.getpwnam(candidate)
                user = candidate
                break
            except KeyError:
                continue
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="kpi-pg-"))
    datadir = root / "data"
    if user is not None:
        info = pwd.getpwnam(user)
        os.chown(root, info.pw_uid, info.pw_gid)
    port = _free_port()
    subprocess.run(
        _as_unprivileged([initdb, "-D", str(datadir), "-U", "kpi", "--auth=trust", "-E", "UTF8"], user),
        check=True,
        capture_output=True,
    )
    log = root / "server.log"
    subprocess.run(
        _as_unprivileged(
            [pg_ctl, "-D", str(datadir), "-l", str(log), "-w", "-o",
             f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off", "start"],
            user,
        ),
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://kpi@127.0.0.1:{port}/postgres"
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    try:
        yield url
    finally:
        subprocess.run(
            _as_unprivileged([pg_ctl, "-D", str(datadir), "-m", "immediate", "stop"], user),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
