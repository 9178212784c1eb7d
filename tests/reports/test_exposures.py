"""Every report is a dbt exposure (dbt_project/models/exposures.yml) whose ``depends_on``
lists exactly the marts the report reads — recorded here by watching ``reports.marts.read`` while
each report is built on the synthetic marts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

import reports
from reports import marts
from reports.anomaly import build_anomaly_report
from reports.attainment import build_attainment_report
from reports.periods import latest_complete_period
from reports.quality import build_quality_report, quality_inputs_from_warehouse
from reports.review import build_review_report
from tests.fixtures.synthetic_marts import AS_OF

EXPOSURES = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "exposures.yml"


def _exposures() -> dict[str, set[str]]:
    doc = yaml.safe_load(EXPOSURES.read_text(encoding="utf-8"))
    found = {}
    for exposure in doc["exposures"]:
        assert exposure["type"] in ("dashboard", "analysis") and exposure["owner"]["name"], exposure["name"]
        assert not exposure["url"].startswith(("/", "http")), exposure["url"]  # relative to the data folder
        refs = [re.fullmatch(r"ref\('(\w+)'\)", d) for d in exposure["depends_on"]]
        assert all(refs), exposure["depends_on"]
        found[exposure["name"]] = {m.group(1) for m in refs if m}
    return found


def _reads(monkeypatch: pytest.MonkeyPatch, build: Callable[[], object]) -> set[str]:
    read = marts.read
    seen: set[str] = set()

    def watched(con: duckdb.DuckDBPyConnection, table: str, **kwargs: object):
        seen.add(table)
        return read(con, table, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(marts, "read", watched)
        build()
    return seen


def test_every_report_is_an_exposure_of_the_marts_it_reads(
    marts_con: duckdb.DuckDBPyConnection, quarantine_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports"
    names = {"show_person_names": True}  # the employee dimension is read only to show names
    builds: dict[str, Callable[[], object]] = {
        "attainment_report": lambda: build_attainment_report(marts_con, out, as_of=AS_OF, **names),
        "review_report": lambda: [
            build_review_report(marts_con, out, grain=g, period_start=latest_complete_period(AS_OF, g), **names)
            for g in ("month", "quarter")],
        "anomaly_report": lambda: build_anomaly_report(marts_con, out, as_of=AS_OF, **names),
        "data_quality_report": lambda: build_quality_report(
            quality_inputs_from_warehouse(marts_con, quarantine_dir, None, until=AS_OF), out, run_date=AS_OF),
        # the index summarises the night: everything build_all reads
        "reports_index": lambda: reports.build_all(marts_con, out, as_of=AS_OF, quarantine_dir=quarantine_dir,
                                                   **names),
    }
    exposures = _exposures()
    assert set(exposures) == set(builds)
    read = {name: _reads(monkeypatch, build) for name, build in builds.items()}
    assert read == exposures
    html = {p.name for p in out.glob("*.html")}
    assert {"attainment.html", "anomalies.html", "quality.html", "index.html"} <= html
    assert any(n.startswith("review_month_") for n in html) and any(n.startswith("review_quarter_") for n in html)
