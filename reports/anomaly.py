"""The anomaly report: the day's anomalies (marts.kpi_anomalies) by severity, each with its chart
(the KPI series, the expected band over the event, the flagged points) and its owner."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from reports import charts, marts, theme
from reports.context import Context, load_context
from reports.formatting import format_number, format_pct, is_missing, to_float
from reports.html import Col, Html, Page, anchor_id, safe_stem, tag, write_page

SEVERITIES = ("critical", "high", "medium", "low")


def build_anomaly_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    as_of: date,
    org: str | None = None,
    lang: str = "en",
    days: int = 1,
    history_days: int = 90,
    show_person_names: bool = False,
) -> Path:
    """Write `anomalies[_<org>][_zh].html` (+ tables): anomalies active in the `days` up to `as_of`."""
    ctx = load_context(con, as_of, org, lang, show_person_names=show_person_names)
    t = ctx.i18n
    window_start = as_of - timedelta(days=max(days, 1) - 1)
    anomalies = marts.records(ctx.read_scoped(
        "kpi_anomalies", "coalesce(start_date, date) <= ? and coalesce(end_date, date) >= ?", [as_of, window_start]))
    sev_rank = {s: i for i, s in enumerate(SEVERITIES)}
    anomalies.sort(key=lambda a: (sev_rank.get(str(a.get("severity")), 99), -(to_float(a.get("score")) or 0),
                                  str(a["kpi_id"]), str(a["org_unit_id"])))
    page = Page(
        stem=safe_stem("anomalies", org, None if lang == "en" else lang),
        title=t("anomaly_title"),
        i18n=t,
        meta=[(t("as_of"), as_of.isoformat()),
              (t("window"), f"{window_start.isoformat()} – {as_of.isoformat()}"),
              (t("scope"), ", ".join(f"{ctx.unit_name(r)} ({r})" for r in ctx.scope.roots))],
    )
    series, history = _series(ctx, anomalies, as_of, history_days)
    counts = defaultdict(int)
    for a in anomalies:
        counts[str(a.get("severity"))] += 1
    stats = [tag("div", tag("div", str(counts.get(s, 0)), class_="v"),
                 tag("div", tag("span", t.severity(s), class_=f"chip sev-{s}"), class_="l"), class_="stat")
             for s in SEVERITIES]
    rows = [_row(ctx, a) for a in anomalies]
    cols = [Col("severity", t("severity"), lambda r: tag("span", t.severity(r["severity"]), class_=f"chip sev-{r['severity']}")),
            Col("kpi", t("kpi"), lambda r: tag("a", r["kpi"], href="#" + r["anchor"])),
            Col("org_unit", t("org_unit")), Col("kind", t("kind"), lambda r: t.kind(r["kind"])),
            Col("impact", t("impact"), lambda r: _impact(ctx, r["impact"])),
            Col("date", t("peak")),
            Col("actual_value", t("actual"), lambda r: ctx.fmt(r["kpi_id"], r["actual_value"]), num=True),
            Col("expected_value", t("expected_value"), lambda r: ctx.fmt(r["kpi_id"], r["expected_value"]), num=True),
            Col("owner", t("owner"))]
    export = pd.DataFrame([{k: v for k, v in r.items() if k != "anchor"} for r in rows])
    summary = [tag("h2", t("anomaly_list")), tag("div", *stats, class_="kpis-row"),
               page.table("anomalies", rows, cols, export=export) if rows else
               tag("p", t("no_anomalies"), class_="empty")]
    if not rows:
        page.export("anomalies", pd.DataFrame(columns=list(marts.COLUMNS["kpi_anomalies"])))
    page.add(tag("section", *summary, id="summary"))
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for a, r in zip(anomalies, rows, strict=True):
        groups[str(a.get("severity"))].append((a, r))
    order = [s for s in SEVERITIES if s in groups] + [s for s in groups if s not in SEVERITIES]
    for sev in order:
        cards = [_card(ctx, page, a, r, series, history) for a, r in groups[sev]]
        page.add(tag("section", tag("h2", tag("span", t.severity(sev), class_=f"chip sev-{sev}"), " ",
                                    t("severity"), " ", tag("span", f"({len(cards)})", class_="sub")),
                     *cards, id=anchor_id("sev", sev)))
    return write_page(page, Path(out_dir))


def _impact(ctx: Context, impact: Any) -> str:
    t = ctx.i18n
    key = f"impact_{impact}"
    return t(key) if impact in ("good", "bad") else str(impact or "—")


def _owner(ctx: Context, a: dict[str, Any]) -> str:
    kpi = ctx.kpi(a["kpi_id"])
    parts = []
    person = kpi.get("owner_employee_id")
    if not is_missing(person) and person:
        parts.append(ctx.person(person))
    owner_unit = kpi.get("owner_org_unit_id")
    if not is_missing(owner_unit) and owner_unit in ctx.scope:
        parts.append(ctx.unit_name(str(owner_unit)))
    return " · ".join(parts) if parts else "—"


def _row(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    unit = a["org_unit_id"]
    manager = ctx.scope.unit(unit).get("manager_employee_id")
    actual, expected = to_float(a.get("actual_value")), to_float(a.get("expected_value"))
    return {
        "anchor": anchor_id("a", str(a["kpi_id"]), unit, str(a.get("date") or a.get("start_date"))),
        "severity": a.get("severity"), "kpi_id": a["kpi_id"], "kpi": ctx.kpi_name(a["kpi_id"]),
        "org_unit_id": unit, "org_unit": ctx.unit_name(unit), "grain": a.get("grain"), "kind": a.get("kind"),
        "direction": a.get("direction"), "impact": a.get("impact"), "start_date": a.get("start_date"),
        "end_date": a.get("end_date"), "date": a.get("date"), "actual_value": actual, "expected_value": expected,
        "lower": to_float(a.get("lower")), "upper": to_float(a.get("upper")), "score": to_float(a.get("score")),
        "deviation": (actual - expected) / abs(expected) if actual is not None and expected else None,
        "reason": ctx.free_text(a.get("reason")), "is_data_issue": bool(a.get("is_data_issue")) if not is_missing(a.get("is_data_issue")) else False,
        "is_verified": bool(a.get("is_verified")) if not is_missing(a.get("is_verified")) else True,
        "owner": _owner(ctx, a), "unit_manager": ctx.person(manager) if not is_missing(manager) else "",
    }


def _series(ctx: Context, anomalies: list[dict[str, Any]], as_of: date, history_days: int
            ) -> tuple[dict[tuple[str, str, str], list[tuple[date, float | None]]], dict[tuple[str, str, str], list[dict[str, Any]]]]:
    """The KPI series behind each anomaly (kpi_actuals at the anomaly's grain) and earlier anomalies on it."""
    if not anomalies:
        return {}, {}
    keys = {(a["kpi_id"], a["org_unit_id"], str(a.get("grain") or "day")) for a in anomalies}
    grains = sorted({k[2] for k in keys})
    longest = max(history_days, 7 * 52 if "week" in grains else history_days)
    start = as_of - timedelta(days=longest)
    frame = ctx.read_scoped(
        "kpi_actuals", "list_contains(?, kpi_id) and list_contains(?, grain) and period_start between ? and ?",
        [sorted({k[0] for k in keys}), grains, start, as_of],
        columns=("kpi_id", "org_unit_id", "grain", "period_start", "actual_value"))
    series: dict[tuple[str, str, str], list[tuple[date, float | None]]] = defaultdict(list)
    for r in marts.records(frame.sort_values("period_start") if not frame.empty else frame):
        key = (r["kpi_id"], r["org_unit_id"], r["grain"])
        if key in keys:
            window = history_days if r["grain"] != "week" else 7 * 52
            if r["period_start"] >= as_of - timedelta(days=window):
                series[key].append((r["period_start"], to_float(r["actual_value"])))
    earlier = marts.records(ctx.read_scoped(
        "kpi_anomalies", "list_contains(?, kpi_id) and coalesce(end_date, date) >= ?",
        [sorted({k[0] for k in keys}), start]))
    history: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in earlier:
        key = (a["kpi_id"], a["org_unit_id"], str(a.get("grain") or "day"))
        if key in keys:
            history[key].append(a)
    return series, history


def _card(ctx: Context, page: Page, a: dict[str, Any], row: dict[str, Any],
          series: dict[tuple[str, str, str], list[tuple[date, float | None]]],
          history: dict[tuple[str, str, str], list[dict[str, Any]]]) -> Html:
    t = ctx.i18n
    kpi, unit, grain = a["kpi_id"], a["org_unit_id"], str(a.get("grain") or "day")
    badges = [tag("span", t.severity(row["severity"]), class_=f"chip sev-{row['severity']}")]
    if row["is_data_issue"]:
        badges.append(tag("span", t("data_issue"), class_="chip flag"))
    if not row["is_verified"]:
        badges.append(tag("span", t("st_unverified"), class_="chip st-unverified", title=t("unverified_note")))
    head = tag("h3", *badges, " ", ctx.kpi_name(kpi), " · ", ctx.unit_name(unit), " ",
               tag("span", f"{kpi} · {unit}", class_="sub"))

    def fact(label: str, value: Any) -> Html:
        return tag("span", tag("b", label), value)

    span = f"{row['start_date']} – {row['end_date']}" if row["start_date"] != row["end_date"] else str(row["start_date"])
    facts = tag("div",
                fact(t("kind"), t.kind(row["kind"])),
                fact(t("direction"), t(f"dir_{row['direction']}") if row["direction"] in ("up", "down") else "—"),
                fact(t("impact"), _impact(ctx, row["impact"])),
                fact(t("period"), span), fact(t("peak"), str(row["date"])),
                fact(t("actual"), ctx.fmt(kpi, row["actual_value"])),
                fact(t("expected_value"), ctx.fmt(kpi, row["expected_value"])),
                fact(t("expected_band"), f"{ctx.fmt(kpi, row['lower'])} – {ctx.fmt(kpi, row['upper'])}"),
                fact(t("deviation"), format_pct(row["deviation"])),
                fact(t("anomaly_score"), format_number(row["score"], 2)),
                fact(t("owner"), row["owner"]),
                fact(t("manager"), row["unit_manager"] or "—"),
                class_="facts")
    reason = tag("p", tag("b", t("reason"), ": "), row["reason"] or "—", class_="note")
    points = series.get((kpi, unit, grain), [])
    chart = Html("")
    if points:
        half = timedelta(hours=12) if grain == "day" else timedelta(days=3, hours=12)
        start, end = a.get("start_date") or a.get("date"), a.get("end_date") or a.get("date")
        band_x = [_ts(start) - half, _ts(end) + half]
        flagged_x, flagged_y = [], []
        for event in history.get((kpi, unit, grain), []) + [a]:
            s, e = event.get("start_date") or event.get("date"), event.get("end_date") or event.get("date")
            for d, v in points:
                if s <= d <= e and d not in flagged_x:
                    flagged_x.append(d)
                    flagged_y.append(v)
        peak_value = dict(points).get(a.get("date"), row["actual_value"])
        colour = theme.SEVERITY_COLORS.get(str(row["severity"]), theme.BAD)
        fig = charts.anomaly_chart(
            x=[d for d, _ in points], y=[v for _, v in points], band_x=band_x,
            lower=[row["lower"]] * 2, upper=[row["upper"]] * 2, expected=[row["expected_value"]] * 2,
            flagged_x=flagged_x, flagged_y=flagged_y, peak=(a.get("date"), peak_value),
            labels={"band": t("expected_band"), "expected": t("expected_value"), "series": ctx.kpi_name(kpi),
                    "flagged": t("flagged"), "peak": t("peak")},
            colour=colour)
        chart = page.figure(fig, height=280)
    return tag("div", head, facts, reason, chart, class_="card", id=row["anchor"])


def _ts(day: date) -> datetime:
    return datetime.combine(day, time())
