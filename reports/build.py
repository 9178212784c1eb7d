"""Every report of a nightly run, into one folder (the pipeline passes `<data dir>/reports/<run date>/`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from reports.anomaly import build_anomaly_report
from reports.attainment import build_attainment_report
from reports.html import Page, safe_stem, tag, write_page
from reports.i18n import I18n
from reports.periods import latest_complete_period
from reports.quality import build_quality_report, quality_inputs_from_warehouse
from reports.review import build_review_report

log = logging.getLogger(__name__)


def build_all(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    as_of: date,
    lang: str = "en",
    org: str | None = None,
    quarantine_dir: Path | None = None,
    lint_findings: Any = None,
    review_grains: Sequence[str] = ("month", "quarter"),
    show_person_names: bool = False,
) -> list[Path]:
    """Attainment (as of `as_of`), reviews of the latest closed month and quarter, anomalies of the
    day, and — for the whole company only (it is not about org units) — the quality report; plus an
    `index` page linking them. Returns the HTML paths, index last."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    timings: dict[str, float] = {}

    def timed(name: str, build: Any) -> None:
        start = time.perf_counter()
        paths.append(build())
        timings[name] = time.perf_counter() - start

    timed("attainment", lambda: build_attainment_report(con, out_dir, as_of=as_of, org=org, lang=lang,
                                                        show_person_names=show_person_names))
    for grain in review_grains:
        start = latest_complete_period(as_of, grain)
        timed(f"review_{grain}", lambda g=grain, s=start: build_review_report(
            con, out_dir, grain=g, period_start=s, org=org, lang=lang, show_person_names=show_person_names))
    timed("anomalies", lambda: build_anomaly_report(con, out_dir, as_of=as_of, org=org, lang=lang,
                                                    show_person_names=show_person_names))
    if org is None:
        inputs = quality_inputs_from_warehouse(con, quarantine_dir, lint_findings, until=as_of)
        timed("quality", lambda: build_quality_report(inputs, out_dir, run_date=as_of, lang=lang))
    paths.append(_index(out_dir, paths, as_of=as_of, org=org, lang=lang))
    log.info("reports built in %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return paths


def _index(out_dir: Path, paths: list[Path], *, as_of: date, org: str | None, lang: str) -> Path:
    t = I18n(lang)
    titles = {"attainment": t("attainment_title"), "review": t("review_title"), "anomalies": t("anomaly_title"),
              "quality": t("quality_title")}
    items = []
    for p in paths:
        kind = p.stem.split("_", 1)[0]
        label = titles.get(kind, p.stem)
        items.append(tag("li", tag("a", label, href=p.name), " ", tag("span", p.name, class_="sub")))
    page = Page(stem=safe_stem("index", org, None if lang == "en" else lang), title=t("index_title"), i18n=t,
                meta=[(t("as_of"), as_of.isoformat())] + ([(t("scope"), org)] if org else []))
    page.add(tag("section", tag("ul", *items)))
    return write_page(page, out_dir)
