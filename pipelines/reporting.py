"""The night's reports from a published serving copy, and how long report folders are kept.

Domain code: paths and values in, files out — no Dagster, no settings (the asset and the CLI pass
them in).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class ReportConfig:
    """Where reports go and what they read besides the serving copy."""

    reports_dir: Path
    quarantine_dir: Path
    catalog_dir: Path
    dbt_project_dir: Path
    lang: str = "en"
    show_person_names: bool = False


def published_as_of(serving_db: Path) -> date | None:
    """The as-of date a published serving copy records (None when it records none)."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        row = con.execute("select max(as_of_date) from marts._publish_info").fetchone()
    return row[0] if row and row[0] else None


def build_reports(night: Path, config: ReportConfig, *, as_of: date | None = None, org: str | None = None,
                  lang: str | None = None) -> list[Path]:
    """Every report from the published serving copy ``night`` into ``<reports>/<as-of>/`` (a scoped
    build into ``…/org-<unit>/``). An unknown org unit (``UnknownOrgUnit``) or a copy without an as-of
    date (``ValueError``) is said in one line naming it, before any report is written."""
    from pipelines.publish.scope import subtree
    from quality.catalog import lint_catalog
    from reports import build_all

    with duckdb.connect(str(night), read_only=True) as con:
        if org:
            subtree(con, org)  # an unknown org unit is said in one line, before any report is written
        as_of = as_of or published_as_of(night)
        if as_of is None:
            raise ValueError(f"{night} records no as-of date: pass --date")
        findings = lint_catalog(config.catalog_dir, config.dbt_project_dir, warehouse_path=None)
        out_dir = config.reports_dir / as_of.isoformat()
        if org:
            out_dir = out_dir / f"org-{org}"
        return build_all(
            con,
            out_dir,
            as_of=as_of,
            lang=lang or config.lang,
            org=org,
            quarantine_dir=config.quarantine_dir,
            lint_findings=[f.as_dict() for f in findings],
            show_person_names=config.show_person_names,
        )


def prune_reports(reports_dir: Path, keep: int, protect: date | None = None) -> list[str]:
    """Delete the report folders (``<reports>/<as-of date>/``) of all but the ``keep`` latest as-of
    dates (``protect`` is always kept); return the folders removed."""
    nights = []
    for folder in Path(reports_dir).glob("????-??-??"):
        try:
            nights.append((date.fromisoformat(folder.name), folder))
        except ValueError:
            continue
    nights.sort(reverse=True)
    removed = []
    for day, folder in nights[keep:]:
        if day != protect and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return sorted(removed)
