"""Every report of a nightly run, into one folder (the pipeline passes `<data dir>/reports/<run date>/`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from reports import marts
from reports.anomaly import SEVERITIES, build_anomaly_report
from reports.attainment import Headline, attainment_page
from reports.formatting import format_pct
from reports.html import Html, Page, safe_stem, tag, write_page
from reports.i18n import I18n
from reports.periods import GRAINS, latest_complete_period
from reports.quality import QualityInputs, build_quality_report, quality_inputs_from_warehouse, quality_stats
from reports.review import build_review_report
from reports.scope import resolve_scope

log = logging.getLogger(__name__)


@dataclass
class _Night:
    """What the index page says about the night, gathered while the reports are built."""

    attainment: Headline | None = None
    anomalies: dict[str, int] = field(default_factory=dict)
    quality: list[tuple[str, str, bool]] = field(default_factory=list)  # (label, value, is a problem)


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
    `index` page with the night's headline and links to them. Returns the HTML paths, index last."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    timings: dict[str, float] = {}
    night = _Night()

    def timed(name: str, build: Any) -> None:
        start = time.perf_counter()
        paths.append(build())
        timings[name] = time.perf_counter() - start

    def attainment() -> Path:
        page, night.attainment = attainment_page(con, as_of=as_of, org=org, lang=lang,
                                                 show_person_names=show_person_names)
        return write_page(page, out_dir)

    timed("attainment", attainment)
    for grain in review_grains:
        start = latest_complete_period(as_of, grain)
        timed(f"review_{grain}", lambda g=grain, s=start: build_review_report(
            con, out_dir, grain=g, period_start=s, org=org, lang=lang, show_person_names=show_person_names))
    timed("anomalies", lambda: build_anomaly_report(con, out_dir, as_of=as_of, org=org, lang=lang,
                                                    show_person_names=show_person_names))
    night.anomalies = _anomaly_counts(con, as_of, org)
    if org is None:
        inputs = quality_inputs_from_warehouse(con, quarantine_dir, lint_findings, until=as_of)
        timed("quality", lambda: build_quality_report(inputs, out_dir, run_date=as_of, lang=lang))
        night.quality = _quality_headline(inputs, I18n(lang))
    paths.append(_index(out_dir, paths, night, as_of=as_of, org=org, lang=lang))
    log.info("reports built in %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return paths


def _anomaly_counts(con: duckdb.DuckDBPyConnection, as_of: date, org: str | None) -> dict[str, int]:
    """Anomalies active on `as_of` by severity, in scope (the anomaly report's default window)."""
    scope = resolve_scope(con, as_of, org)
    frame = marts.read(con, "kpi_anomalies", columns=("org_unit_id", "severity"),
                       where="list_contains(?, org_unit_id) and coalesce(start_date, date) <= ? "
                             "and coalesce(end_date, date) >= ?",
                       params=[scope.ids, as_of, as_of])
    counts: dict[str, int] = {}
    for severity in frame["severity"]:
        counts[str(severity)] = counts.get(str(severity), 0) + 1
    return counts


def _quality_headline(inputs: QualityInputs, t: I18n) -> list[tuple[str, str, bool]]:
    stats = quality_stats(inputs, t)
    return [(label, value, value not in ("0", "—")) for label, value in stats if label != t("checks_passed")]


def _index(out_dir: Path, paths: list[Path], night: _Night, *, as_of: date, org: str | None, lang: str) -> Path:
    t = I18n(lang)
    titles = {"attainment": t("attainment_title"), "review": t("review_title"), "anomalies": t("anomaly_title"),
              "quality": t("quality_title")}
    descs = {"attainment": t("desc_attainment"), "review": t("desc_review"), "anomalies": t("desc_anomalies"),
             "quality": t("desc_quality")}
    page = Page(stem=safe_stem("index", org, None if lang == "en" else lang), title=t("index_title"), i18n=t,
                meta=[(t("as_of"), as_of.isoformat())] + ([(t("scope"), org)] if org else []))
    page.add(_headline(t, night, paths))
    cards = []
    for p in paths:
        kind = p.stem.split("_", 1)[0]
        label = titles.get(kind, p.stem)
        if kind == "review":
            label = f"{label} · {p.stem.split('_')[2]}"
        cards.append(tag("li", tag("a", label, href=p.name), " ", tag("span", p.name, class_="sub"),
                         tag("div", descs.get(kind, ""), class_="note")))
    page.add(tag("section", tag("h2", t("index_title")), tag("ul", *cards, class_="report-list")))
    return write_page(page, out_dir)


def _headline(t: I18n, night: _Night, paths: list[Path]) -> Html:
    """Scores, statuses, what needs attention, anomalies and data quality of the night, each linked."""
    parts: list[Html] = [tag("h2", t("headline"))]
    by_kind = {p.stem.split("_", 1)[0]: p.name for p in paths}
    head = night.attainment
    if head is not None:
        stats = []
        for root in head.roots:
            for grain in GRAINS:
                score = head.scores.get((root, grain))
                stats.append(tag("div", tag("div", format_pct(score), class_="v"),
                                 tag("div", f"{t('score')} · {root} · {t(grain)} · {t.period(head.periods[grain], grain)}",
                                     class_="l"), class_="stat"))
        month = head.counts.get("month", {})
        for key, label in (("met", "st_on_track"), ("at_risk", "st_at_risk"), ("missed", "st_off_track"),
                           ("unverified", "st_unverified"), ("none", "st_no_target")):
            stats.append(tag("div", tag("div", str(month.get(key, 0)), class_=f"v st-{key}"),
                             tag("div", f"{t(label)} · {t('month')}", class_="l"), class_="stat"))
        parts.append(tag("div", *stats, class_="kpis-row"))
        parts.append(tag("h3", tag("a", t("needs_attention"), href=f"{head.file}#attention"), " ",
                         tag("span", f"({head.attention_total})", class_="sub")))
        if head.attention:
            parts.append(tag("ol", *[tag("li", line) for line in head.attention], class_="attention-list"))
        else:
            parts.append(tag("p", t("nothing_needs_attention"), class_="empty"))
    if "anomalies" in by_kind:
        chips = [tag("span", f"{t.severity(s)} {night.anomalies.get(s, 0)}", class_=f"chip sev-{s}") for s in SEVERITIES]
        parts.append(tag("h3", tag("a", t("anomalies_today"), href=by_kind["anomalies"])))
        parts.append(tag("p", *[Html(" ") + c if i else c for i, c in enumerate(chips)]))
    if night.quality and "quality" in by_kind:
        stats = [tag("div", tag("div", value, class_="v"), tag("div", label, class_="l"),
                     class_="stat" + (" problem" if problem else "")) for label, value, problem in night.quality]
        parts.append(tag("h3", tag("a", t("quality_title"), href=by_kind["quality"])))
        parts.append(tag("div", *stats, class_="kpis-row"))
    return tag("section", *parts, id="headline", class_="attention")

