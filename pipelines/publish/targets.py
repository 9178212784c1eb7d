"""Every serving target of a night together: the DuckDB copy, the Parquet export, PostgreSQL.

- :func:`publish_night` puts the night ``kpi.duckdb`` serves (the last good build) on the other
  targets: ``kpi publish``, and the nightly run after its DuckDB publish.
- :func:`rollback_targets` moves every target to a kept night: PostgreSQL first (the one that can fail
  for reasons of its own — the server, the network), then Parquet, then the DuckDB link; a failure
  leaves the targets not yet moved where they were and says so.
- :func:`served_nights` says which night each target serves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from pipelines.publish._common import PublishError, mask_url
from pipelines.publish.parquet import export_parquet, read_manifest
from pipelines.publish.postgres import conninfo_from_url, publish_postgres
from pipelines.publish.serving import (
    SERVING_FILE,
    current_run_id,
    published_copies,
    resolve_night,
    rollback,
)

log = logging.getLogger(__name__)

PARQUET_LINK = "parquet"


@dataclass(frozen=True)
class ServingTargets:
    """Where a night is served. Built from the settings by the caller; holds secrets (never shown)."""

    serving_dir: Path
    pg_url: str | None = field(default=None, repr=False)
    reader_role: str = "kpi_reader"
    reader_password: str | None = field(default=None, repr=False)
    unit_roles: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    unit_role_prefix: str = "kpi_unit_"

    @property
    def parquet_dir(self) -> Path:
        return self.serving_dir / PARQUET_LINK


def night_file(serving_dir: Path, run_id: str) -> Path:
    """The DuckDB file of a kept night."""
    for entry in published_copies(serving_dir).get("history", []):
        if entry["run_id"] == run_id:
            return Path(serving_dir) / entry["file"]
    raise PublishError(f"night {run_id!r} is not a kept night of {serving_dir}")


def kept_runs(serving_dir: Path) -> list[str]:
    return [e["run_id"] for e in published_copies(serving_dir).get("history", [])]


def publish_parquet(targets: ServingTargets, run_id: str) -> dict:
    return export_parquet(night_file(targets.serving_dir, run_id), targets.parquet_dir,
                          keep_runs=kept_runs(targets.serving_dir))


def publish_pg(targets: ServingTargets, run_id: str):  # -> PublishResult | None
    if not targets.pg_url:
        return None
    return publish_postgres(night_file(targets.serving_dir, run_id), targets.pg_url,
                            readonly_role=targets.reader_role, readonly_password=targets.reader_password,
                            run_id=run_id, unit_roles=targets.unit_roles, unit_role_prefix=targets.unit_role_prefix)


def publish_night(targets: ServingTargets, night: str | None = None) -> dict[str, str | None]:
    """Put the night ``kpi.duckdb`` serves (or the kept night ``night``) on Parquet and PostgreSQL."""
    run_id = resolve_night(targets.serving_dir, night)
    publish_parquet(targets, run_id)
    publish_pg(targets, run_id)
    return served_nights(targets)


def rollback_targets(targets: ServingTargets, to: str | None = None) -> dict[str, str | None]:
    """Move every target to the kept night ``to`` (default: the one before the current DuckDB night)."""
    serving_dir = targets.serving_dir
    ids = kept_runs(serving_dir)
    if to is None:
        current = current_run_id(serving_dir)
        if current not in ids or ids.index(current) == 0:
            rollback(serving_dir)  # raises with the reason (nothing earlier, unknown current night)
        to = ids[ids.index(current) - 1]
    else:
        to = resolve_night(serving_dir, to)
    before = served_nights(targets)
    try:
        publish_pg(targets, to)
    except PublishError as exc:
        raise PublishError(f"roll-back to {to} stopped at PostgreSQL, nothing was moved: {exc}") from exc
    try:
        publish_parquet(targets, to)
        rollback(serving_dir, to=to)
    except Exception as exc:
        moved = "PostgreSQL" if targets.pg_url else "nothing"
        raise PublishError(f"roll-back to {to} stopped: {exc} (already moved: {moved}; "
                           f"before: {_describe(before)})") from exc
    return served_nights(targets)


def served_nights(targets: ServingTargets) -> dict[str, str | None]:
    """{"duckdb": run id, "parquet": run id, "postgres": run id | None | "unreachable: …"}."""
    nights: dict[str, str | None] = {
        "duckdb": current_run_id(targets.serving_dir) if (targets.serving_dir / SERVING_FILE).exists() else None,
        "parquet": read_manifest(targets.parquet_dir).get("run_id"),
    }
    if targets.pg_url:
        nights["postgres"] = postgres_night(targets.pg_url)
    return nights


def postgres_night(pg_url: str) -> str | None:
    """The run id of the night in PostgreSQL's schema ``marts`` (None: nothing published there)."""
    try:
        with psycopg.connect(conninfo_from_url(pg_url), autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass('marts._publish_info')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT max(run_id) FROM marts._publish_info").fetchone()
            return row[0] if row else None
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"unreachable ({mask_url(pg_url)}): {message}"


def _describe(nights: Mapping[str, str | None]) -> str:
    return ", ".join(f"{target} {night or '-'}" for target, night in nights.items())


def describe_nights(serving_dir: Path, nights: Mapping[str, str | None]) -> list[str]:
    """One line per target: ``  DuckDB (serving/kpi.duckdb)   night 3f2a1b9c (as of 2025-11-19)``."""
    names = {"duckdb": "DuckDB (serving/kpi.duckdb)", "parquet": "Parquet (serving/parquet/)",
             "postgres": "PostgreSQL (schema marts)"}
    as_of = {e["run_id"]: e.get("as_of_date") for e in published_copies(serving_dir).get("history", [])}
    lines = []
    for target, night in nights.items():
        if not night:
            shown = "not published"
        elif night.startswith("unreachable"):
            shown = night
        else:
            shown = f"night {night[:8]}" + (f" (as of {as_of[night]})" if as_of.get(night) else "")
        lines.append(f"  {names.get(target, target):<28} {shown}")
    return lines
