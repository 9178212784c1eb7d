"""Fixtures of the report tests: the synthetic marts warehouse and every report built from it once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

import reports
from reports.html import plotly_js
from tests.fixtures.synthetic_marts import AS_OF, build_synthetic_marts, write_synthetic_quarantine

SCOPED = "DEP-SALES-EAST"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
LINT = [
    {"kpi_id": "grow_things", "field": "description", "rule": "specific", "severity": "error",
     "message": "only a vague verb: <b>improve</b> 提升"},
    {"kpi_id": "net_revenue", "field": "weights", "rule": "weights_sum", "severity": "warning",
     "message": "weights of TM-SE-2 sum to 90"},
]


@dataclass(frozen=True)
class Built:
    out_dir: Path
    company_en: list[Path]
    company_zh: list[Path]
    scoped_en: list[Path]
    scoped_zh: list[Path]

    @property
    def all(self) -> list[Path]:
        return self.company_en + self.company_zh + self.scoped_en + self.scoped_zh


@pytest.fixture(scope="session")
def marts_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic_marts(tmp_path_factory.mktemp("marts") / "kpi.duckdb")


@pytest.fixture(scope="session")
def quarantine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake") / "quarantine"
    write_synthetic_quarantine(root)
    return root


@pytest.fixture(scope="session")
def marts_con(marts_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(marts_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def built(marts_con: duckdb.DuckDBPyConnection, quarantine_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("reports") / AS_OF.isoformat()
    common = {"as_of": AS_OF, "quarantine_dir": quarantine_dir, "lint_findings": LINT}
    return Built(
        out_dir=out,
        company_en=reports.build_all(marts_con, out, **common),
        company_zh=reports.build_all(marts_con, out, lang="zh", **common),
        scoped_en=reports.build_all(marts_con, out, org=SCOPED, **common),
        scoped_zh=reports.build_all(marts_con, out, org=SCOPED, lang="zh", **common),
    )


def page_text(path: Path) -> str:
    """The HTML of a report without the embedded plotly.js bundle (which is not ours to search)."""
    return path.read_text(encoding="utf-8").replace(plotly_js(), "")


def tables_of(path: Path) -> list[Path]:
    """The CSV files written beside a report."""
    return sorted(path.parent.glob(f"{path.stem}__*.csv"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium (Debian's, through Playwright) for every browser test of the session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest) -> Path:
    out = request.config.rootpath / "tests" / "_artifacts" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out
