"""The data-quality report of a run: checks passed/failed by layer, quarantined rows by source and
rule with examples, the reconciliation (rows read = loaded + quarantined), freshness, and the
catalog lint findings.

Inputs are plain frames (`QualityInputs`) so the pipeline can pass what it has in hand;
`quality_inputs_from_warehouse` assembles them from `marts.dq_*` and the quarantine Parquet files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from reports import charts, marts, theme
from reports.formatting import format_number, is_missing
from reports.html import Col, Html, Page, anchor_id, esc, safe_stem, tag, write_page
from reports.i18n import I18n

QUARANTINE_COLUMNS = ("source", "table", "rule", "field", "rows", "example_value", "example_reason",
                      "partitions", "first_partition", "last_partition")
LINT_COLUMNS = ("kpi_id", "field", "rule", "severity", "message")
LAYERS = ("source", "staging", "marts", "kpi", "catalog")
CHECK_STATUSES = ("passed", "failed", "warn", "skipped")
MAX_EXAMPLE = 120


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class QualityInputs:
    """What the quality report shows. Every frame may be empty."""

    load_log: pd.DataFrame = field(default_factory=lambda: _empty(marts.COLUMNS["dq_load_log"]))
    check_results: pd.DataFrame = field(default_factory=lambda: _empty(marts.COLUMNS["dq_check_results"]))
    freshness: pd.DataFrame = field(default_factory=lambda: _empty(marts.COLUMNS["dq_freshness"]))
    quarantine_summary: pd.DataFrame = field(default_factory=lambda: _empty(QUARANTINE_COLUMNS))
    lint_findings: pd.DataFrame = field(default_factory=lambda: _empty(LINT_COLUMNS))


def quarantine_summary(quarantine_dir: Path | None, *, until: date | None = None) -> pd.DataFrame:
    """Quarantined rows grouped by source, table, rule and field, with one example each, read from
    `<quarantine_dir>/<source>/<table>/date=*/part-0.parquet` (partitions up to `until`, and the
    `date=unplaced` store of database rows no partition can hold yet)."""
    if quarantine_dir is None:
        return _empty(QUARANTINE_COLUMNS)
    files = sorted(Path(quarantine_dir).glob("*/*/date=*/part-0.parquet"))
    if until is not None:
        files = [f for f in files if f.parent.name == "date=unplaced"
                 or f.parent.name.removeprefix("date=") <= until.isoformat()]
    if not files:
        return _empty(QUARANTINE_COLUMNS)
    con = duckdb.connect()
    try:
        frame = con.sql(
            "select _rule, _field, cast(_value as varchar) as _value, _reason, filename "
            "from read_parquet(?, union_by_name = true, filename = true, hive_partitioning = false)",
            params=[[str(f) for f in files]],
        ).to_arrow_table().to_pandas()
    finally:
        con.close()
    parts = frame["filename"].map(lambda p: Path(p).parts[-4:-1])
    frame["source"] = [p[0] for p in parts]
    frame["table"] = [p[1] for p in parts]
    frame["partition"] = [p[2].removeprefix("date=") for p in parts]
    rows = []
    for (source, table, rule, fld), group in frame.groupby(["source", "table", "_rule", "_field"], dropna=False, sort=True):
        first = group.iloc[0]
        rows.append({
            "source": source, "table": table, "rule": None if is_missing(rule) else rule,
            "field": None if is_missing(fld) else fld, "rows": len(group),
            "example_value": _clip(first["_value"]), "example_reason": _clip(first["_reason"]),
            "partitions": group["partition"].nunique(), "first_partition": group["partition"].min(),
            "last_partition": group["partition"].max(),
        })
    return pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))


def _clip(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = str(value)
    return text if len(text) <= MAX_EXAMPLE else text[: MAX_EXAMPLE - 1] + "…"


def lint_frame(findings: Any) -> pd.DataFrame:
    """Lint findings (a DataFrame, or a list of dicts / dataclasses / objects with the fields) as a frame."""
    if findings is None:
        return _empty(LINT_COLUMNS)
    if isinstance(findings, pd.DataFrame):
        frame = findings.copy()
    else:
        rows = []
        for f in findings:
            if isinstance(f, Mapping):
                rows.append({c: f.get(c) for c in LINT_COLUMNS})
            elif dataclasses.is_dataclass(f) and not isinstance(f, type):
                d = dataclasses.asdict(f)
                rows.append({c: d.get(c) for c in LINT_COLUMNS})
            else:
                rows.append({c: getattr(f, c, None) for c in LINT_COLUMNS})
        frame = pd.DataFrame(rows, columns=list(LINT_COLUMNS))
    for c in LINT_COLUMNS:
        if c not in frame.columns:
            frame[c] = None
    return frame[list(LINT_COLUMNS)]


def quality_inputs_from_warehouse(
    con: duckdb.DuckDBPyConnection,
    quarantine_dir: Path | None,
    lint_findings: Any = None,
    *,
    run_id: str | None = None,
    until: date | None = None,
) -> QualityInputs:
    """The inputs from `marts.dq_*` (check results of `run_id`, default: the latest run) and the lake."""
    checks = marts.read(con, "dq_check_results")
    if not checks.empty:
        if run_id is None and checks["checked_at"].notna().any():
            latest = checks.loc[checks["checked_at"].idxmax(), "run_id"]
            run_id = None if is_missing(latest) else str(latest)
        if run_id is not None:
            checks = checks[checks["run_id"] == run_id].reset_index(drop=True)
    load_log = marts.read(con, "dq_load_log")
    if until is not None and not load_log.empty:
        dates = marts.normalise_dates(load_log[["partition_date"]].copy(), "partition_date")["partition_date"]
        load_log = load_log[[d is None or d <= until for d in dates]].reset_index(drop=True)
    return QualityInputs(
        load_log=load_log,
        check_results=checks,
        freshness=marts.read(con, "dq_freshness"),
        quarantine_summary=quarantine_summary(quarantine_dir, until=until),
        lint_findings=lint_frame(lint_findings),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return marts.records(frame)


def _int(value: Any) -> int:
    if is_missing(value):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def build_quality_report(inputs: QualityInputs, out_dir: Path, *, run_date: date, lang: str = "en") -> Path:
    """Write `quality[_zh].html` (+ tables) to `out_dir`; return its path."""
    t = I18n(lang)
    page = Page(stem=safe_stem("quality", None if lang == "en" else lang), title=t("quality_title"), i18n=t,
                meta=[(t("run_date"), run_date.isoformat())])
    checks = _records(inputs.check_results)
    recon = _reconciliation(inputs.load_log)
    attention = [r for r in _records(inputs.load_log)
                 if str(r.get("status")) == "rejected"
                 or _int(r.get("rows_read")) != _int(r.get("rows_loaded")) + _int(r.get("rows_quarantined"))]
    attention.sort(key=lambda r: (str(r.get("partition_date")), str(r.get("source")), str(r.get("table"))), reverse=True)
    fresh = _records(inputs.freshness)
    lint = _records(inputs.lint_findings)
    quarantine = _records(inputs.quarantine_summary)

    stats = quality_stats(inputs, t)
    page.add(tag("section", tag("h2", t("summary")),
                 tag("div", *[tag("div", tag("div", v, class_="v"), tag("div", k, class_="l"), class_="stat")
                              for k, v in stats], class_="kpis-row"), id="summary"))
    page.add(_checks_section(t, page, checks))
    page.add(_quarantine_section(t, page, quarantine))
    page.add(_reconciliation_section(t, page, recon, attention))
    page.add(_freshness_section(t, page, fresh))
    page.add(_lint_section(t, page, lint))
    page.nav = tag("ul", *[tag("li", tag("a", label, href=f"#{anchor}")) for anchor, label in (
        ("summary", t("summary")), ("checks", t("checks_by_layer")), ("quarantine", t("quarantine")),
        ("reconciliation", t("reconciliation")), ("freshness", t("freshness")), ("lint", t("lint")))])
    return write_page(page, Path(out_dir))


def quality_stats(inputs: QualityInputs, t: I18n) -> list[tuple[str, str]]:
    """The summary figures (label, value) of the quality report (also shown on the index page)."""
    checks = _records(inputs.check_results)
    recon = _reconciliation(inputs.load_log)
    fresh = _records(inputs.freshness)
    lint = _records(inputs.lint_findings)
    quarantine = _records(inputs.quarantine_summary)
    return [
        (t("checks_passed"), str(sum(1 for c in checks if c.get("status") == "passed"))),
        (t("checks_failed"), str(sum(1 for c in checks if c.get("status") == "failed"))),
        (t("rows_quarantined_total"), format_number(sum(_int(q.get("rows")) for q in quarantine))),
        (t("unbalanced"), str(sum(1 for r in recon if not r["balanced"]))),
        (t("rejected"), str(sum(_int(r.get("rejected")) for r in recon))),
        (t("stale_sources"), str(sum(1 for f in fresh if str(f.get("status")) not in ("ok", "fresh", "passed")))),
        (t("lint_errors"), str(sum(1 for f in lint if str(f.get("severity")) == "error"))),
    ]


def _status_chip(t: I18n, status: Any) -> Html:
    cls = {"passed": "met", "ok": "met", "failed": "missed", "stale": "missed", "warn": "at_risk",
           "warning": "at_risk", "error": "missed", "skipped": "none", "info": "none"}.get(str(status), "none")
    label = t.check_status(str(status)) if str(status) in CHECK_STATUSES else (
        t(str(status)) if str(status) in ("ok", "stale", "error", "warning", "info") else str(status))
    return tag("span", label, class_=f"chip st-{cls}")


def _checks_section(t: I18n, page: Page, checks: list[dict[str, Any]]) -> Html:
    layers = [la for la in LAYERS if any(c.get("layer") == la for c in checks)]
    layers += sorted({str(c.get("layer")) for c in checks} - set(layers))
    table_rows = []
    for layer in layers:
        row: dict[str, Any] = {"layer": layer}
        for s in CHECK_STATUSES:
            row[s] = sum(1 for c in checks if str(c.get("layer")) == layer and c.get("status") == s)
        row["blocking_failed"] = sum(1 for c in checks if str(c.get("layer")) == layer and c.get("status") == "failed"
                                     and bool(c.get("blocking")))
        table_rows.append(row)
    colours = {"passed": theme.STATUS_COLORS["met"][0], "failed": theme.STATUS_COLORS["missed"][0],
               "warn": theme.STATUS_COLORS["at_risk"][0], "skipped": "#b8c0c8"}
    parts: list[Html] = [tag("h2", t("checks_by_layer"))]
    if table_rows:
        fig = charts.stacked_bars([t.layer(la) for la in layers], [(t.check_status(s), [r[s] for r in table_rows], colours[s])
                                           for s in CHECK_STATUSES], title=t("checks_by_layer"))
        parts.append(page.figure(fig, height=max(220, 80 + 40 * len(layers))))
    cols = [Col("layer", t("layer"), lambda r: t.layer(r["layer"]))] + [Col(s, t.check_status(s), num=True) for s in CHECK_STATUSES] + [
        Col("blocking_failed", f"{t('blocking')} · {t.check_status('failed')}", num=True)]
    parts.append(page.table("checks_by_layer", table_rows, cols))
    failing = [c for c in checks if c.get("status") in ("failed", "warn")]
    failing.sort(key=lambda c: (c.get("status") != "failed", not bool(c.get("blocking")), str(c.get("layer"))))
    fcols = [Col("status", t("status"), lambda r: _status_chip(t, r.get("status"))),
             Col("layer", t("layer"), lambda r: t.layer(r.get("layer"))),
             Col("asset", t("asset"), wrap=True), Col("check_name", t("check"), wrap=True),
             Col("blocking", t("blocking"), lambda r: t.yes_no(r.get("blocking"))),
             Col("message", t("message"), wrap=True), Col("failing_rows", t("failing_rows"), num=True)]
    parts.append(tag("h3", t("failed_checks")))
    parts.append(page.table("failed_checks", failing, fcols) if failing else tag("p", t("no_data"), class_="empty"))
    if not failing:
        page.export("failed_checks", pd.DataFrame(failing))
    return tag("section", *parts, id="checks")


def _quarantine_section(t: I18n, page: Page, quarantine: list[dict[str, Any]]) -> Html:
    parts: list[Html] = [tag("h2", t("quarantine"))]
    if quarantine:
        ordered = sorted(quarantine, key=lambda q: -_int(q.get("rows")))
        labels = [f"{q['source']}.{q['table']} · {q.get('rule') or '—'}" for q in ordered]
        fig = charts.stacked_bars(labels, [(t("rows"), [_int(q.get("rows")) for q in ordered], theme.BAD)],
                                  title=t("quarantine"))
        parts.append(page.figure(fig, height=max(200, 70 + 30 * len(ordered))))
    cols = [Col("source", t("source")), Col("table", t("table")), Col("rule", t("rule"), wrap=True),
            Col("field", t("field"), wrap=True),
            Col("rows", t("rows"), num=True), Col("example_value", t("example_value"),
                                                  lambda r: tag("code", esc(r.get("example_value") or "")), wrap=True),
            Col("example_reason", t("example_reason"), wrap=True), Col("last_partition", t("latest_partition"))]
    parts.append(page.table("quarantine", quarantine, cols))
    return tag("section", *parts, id="quarantine")


def _reconciliation(load_log: pd.DataFrame) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in _records(load_log):
        key = (str(r.get("source")), str(r.get("table")))
        agg = rows.setdefault(key, {"source": key[0], "table": key[1], "partitions": 0, "rows_read": 0,
                                    "rows_loaded": 0, "rows_quarantined": 0, "rejected": 0, "unbalanced": 0,
                                    "latest_partition": None})
        read, loaded, quarantined = _int(r.get("rows_read")), _int(r.get("rows_loaded")), _int(r.get("rows_quarantined"))
        agg["partitions"] += 1
        agg["rows_read"] += read
        agg["rows_loaded"] += loaded
        agg["rows_quarantined"] += quarantined
        agg["rejected"] += 1 if str(r.get("status")) == "rejected" else 0
        agg["unbalanced"] += 1 if read != loaded + quarantined else 0
        part = str(r.get("partition_date"))[:10] if not is_missing(r.get("partition_date")) else None
        if part and (agg["latest_partition"] is None or part > agg["latest_partition"]):
            agg["latest_partition"] = part
    out = sorted(rows.values(), key=lambda r: (r["source"], r["table"]))
    for r in out:
        r["balanced"] = r["unbalanced"] == 0
    return out


def _reconciliation_section(t: I18n, page: Page, recon: list[dict[str, Any]], attention: list[dict[str, Any]]) -> Html:
    cols = [Col("source", t("source")), Col("table", t("table")), Col("partitions", t("partitions"), num=True),
            Col("rows_read", t("rows_read"), lambda r: format_number(r["rows_read"]), num=True),
            Col("rows_loaded", t("rows_loaded"), lambda r: format_number(r["rows_loaded"]), num=True),
            Col("rows_quarantined", t("rows_quarantined"), lambda r: format_number(r["rows_quarantined"]), num=True),
            Col("rejected", t("rejected"), num=True),
            Col("balanced", t("balanced"), lambda r: _status_chip(t, "passed" if r["balanced"] else "failed")),
            Col("latest_partition", t("latest_partition"))]
    acols = [Col("source", t("source")), Col("table", t("table")), Col("partition_date", t("partition_date"),
                                                                         lambda r: str(r.get("partition_date"))[:10]),
             Col("status", t("status"), lambda r: t.load_status(r.get("status"))),
             Col("rows_read", t("rows_read"), num=True),
             Col("rows_loaded", t("rows_loaded"), num=True), Col("rows_quarantined", t("rows_quarantined"), num=True),
             Col("message", t("message"), wrap=True)]
    shown = attention[:500]
    # one anchor per source table (`#src-<source>-<table>`): the reports link unverified values here
    row_id = lambda r: anchor_id("src", r["source"], r["table"])  # noqa: E731
    return tag("section", tag("h2", t("reconciliation")), page.table("reconciliation", recon, cols, row_id=row_id),
               tag("h3", t("attention")),
               page.table("attention", shown, acols) if shown else tag("p", t("no_data"), class_="empty"),
               id="reconciliation")


def _freshness_section(t: I18n, page: Page, fresh: list[dict[str, Any]]) -> Html:
    fresh = sorted(fresh, key=lambda f: (str(f.get("status")) in ("ok", "fresh"), str(f.get("source")), str(f.get("table"))))
    cols = [Col("source", t("source")), Col("table", t("table")),
            Col("latest_partition", t("latest_partition"), lambda r: str(r.get("latest_partition") or "")[:10]),
            Col("age_days", t("age_days"), num=True), Col("max_age_days", t("max_age_days"), num=True),
            Col("status", t("status"), lambda r: _status_chip(t, r.get("status")))]
    return tag("section", tag("h2", t("freshness")), page.table("freshness", fresh, cols), id="freshness")


def _lint_section(t: I18n, page: Page, lint: list[dict[str, Any]]) -> Html:
    order = {"error": 0, "warning": 1, "warn": 1, "info": 2}
    lint = sorted(lint, key=lambda f: (order.get(str(f.get("severity")), 3), str(f.get("kpi_id")), str(f.get("rule"))))
    cols = [Col("severity", t("severity"), lambda r: _status_chip(t, r.get("severity"))), Col("kpi_id", t("kpi_id")),
            Col("field", t("field")), Col("rule", t("rule"), wrap=True), Col("message", t("message"), wrap=True)]
    return tag("section", tag("h2", t("lint")), page.table("lint", lint, cols), id="lint")
