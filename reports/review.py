"""The review report (复盘) of a closed month or quarter.

Met / missed per KPI and org unit; for each miss the gap attribution (child units, dimensions, and
for ratio KPIs the rate vs mix effect) as waterfalls whose bars add up to the gap; what changed
since the previous period; KPI definition, target and weight changes in the period; and the owners'
check-ins beside each KPI. Every number comes from the marts; attribution is `reports.attribution`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from reports import attention, charts, marts, svg, theme
from reports import attribution as attr
from reports.context import Context, esc_text, load_context, status_chip
from reports.formatting import format_pct, format_pct_delta, is_missing, to_float
from reports.html import Col, Html, Page, anchor_id, esc, safe_stem, tag, write_page
from reports.periods import period_end, period_start, previous_period, same_period_last_year

MISS_STATUSES = frozenset({"missed", "at_risk", "off_track"})
GOOD_STATUSES = frozenset({"met", "on_track"})
REVIEW_GRAINS = ("month", "quarter")
ATTRIBUTION_COLUMNS = ("org_unit_id", "kpi_id", "grain", "period_start", "decomposition", "method", "component",
                       "component_kind", "component_label", "actual", "expected", "contribution", "mix_effect",
                       "rate_effect", "weight", "baseline_weight", "gap", "kpi_actual", "kpi_target")
CHANGE_COLUMNS = ("org_unit_id", "org_unit", "kpi_id", "kpi", "status_before", "status", "verified_before", "verified",
                  "attainment_before", "attainment", "attainment_change", "actual_before", "actual")
TARGET_CHANGE_COLUMNS = ("what", "org_unit_id", "org_unit", "kpi_id", "kpi", "plan_before", "plan_after", "before",
                         "after", "valid_from")
DEFINITION_CHANGE_COLUMNS = ("kpi_id", "kpi", "version_before", "version_after", "valid_from", "reason", "field",
                             "before", "after")
MATRIX_COLUMNS = ("org_unit_id", "org_unit", "kpi_id", "kpi", "status", "is_verified", "attainment")
DEFINITION_FIELDS = ("name", "name_zh", "description", "unit", "direction", "measure_type", "measure_model",
                     "measure_expression", "measure_filter", "numerator", "denominator", "percentile", "formula",
                     "grains", "scope", "amber_threshold", "score_cap", "target_rule", "target_rule_value",
                     "measure_scale")


def _key_date(value: Any) -> date | None:
    return value if isinstance(value, date) else None


class _Data:
    def __init__(self, ctx: Context, grain: str, ps: date) -> None:
        self.grain, self.ps = grain, ps
        self.pe = period_end(ps, grain)
        self.prev = previous_period(ps, grain)
        self.ly = same_period_last_year(ps, grain)
        att = marts.records(ctx.read_scoped("kpi_attainment", "grain = ? and period_start in (?, ?)",
                                            [grain, ps, self.prev]))
        self.att = {(r["org_unit_id"], r["kpi_id"]): r for r in att if r["period_start"] == ps}
        self.att_prev = {(r["org_unit_id"], r["kpi_id"]): r for r in att if r["period_start"] == self.prev}
        acts = marts.records(ctx.read_scoped("kpi_actuals", "grain = ? and period_start in (?, ?)",
                                             [grain, ps, self.ly]))
        self.act = {(r["org_unit_id"], r["kpi_id"]): r for r in acts if r["period_start"] == ps}
        self.act_ly = {(r["org_unit_id"], r["kpi_id"]): r for r in acts if r["period_start"] == self.ly}
        dims = marts.records(ctx.read_scoped("kpi_actuals_by_dimension", "grain = ? and period_start in (?, ?)",
                                             [grain, ps, self.ly]))
        self.dims: dict[tuple[str, str], dict[str, dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]]] = (
            defaultdict(lambda: defaultdict(dict)))
        for r in dims:
            slot = self.dims[(r["org_unit_id"], r["kpi_id"])][r["dimension"]]
            value = str(r["dimension_value"]) if not is_missing(r["dimension_value"]) else "—"
            cur, ly = slot.get(value, (None, None))
            slot[value] = (r, ly) if r["period_start"] == ps else (cur, r)
        targets = marts.records(ctx.read_scoped("kpi_targets", "grain = ? and period_start in (?, ?)",
                                                [grain, ps, self.prev]))
        self.targets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.targets_prev: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in targets:
            (self.targets if r["period_start"] == ps else self.targets_prev)[(r["org_unit_id"], r["kpi_id"])].append(r)
        scores = marts.records(ctx.read_scoped("kpi_scorecard", "grain = ? and period_start in (?, ?)",
                                               [grain, ps, self.prev]))
        self.score = {r["org_unit_id"]: r for r in scores if r["period_start"] == ps}
        self.score_prev = {r["org_unit_id"]: r for r in scores if r["period_start"] == self.prev}
        checkins = marts.records(ctx.read_scoped("kpi_checkins", "grain = ? and period_start = ?", [grain, ps]))
        self.checkins: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in sorted(checkins, key=lambda r: str(r.get("created_at") or "")):
            self.checkins[(r["org_unit_id"], r["kpi_id"])].append(r)
        day_before = ps - timedelta(days=1)
        weights = marts.records(ctx.read_scoped(
            "kpi_weights", "(valid_from between ? and ?) or ((valid_from is null or valid_from <= ?) and "
            "(valid_to is null or valid_to > ?))", [ps, self.pe, day_before, day_before]))
        self.weight_changes = [w for w in weights if _key_date(w.get("valid_from")) and ps <= w["valid_from"] <= self.pe]
        self.weights_before = {(w["org_unit_id"], w["kpi_id"]): w for w in weights
                               if w not in self.weight_changes}

    def target(self, unit: str, kpi: str) -> dict[str, Any] | None:
        rows = self.targets.get((unit, kpi))
        return sorted(rows, key=lambda r: str(r.get("plan_version") or ""))[-1] if rows else None

    def kpis(self, ctx: Context) -> list[str]:
        return ctx.kpi_order([k for (_u, k) in self.att])


def build_review_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    grain: str,
    period_start: date,
    org: str | None = None,
    lang: str = "en",
    show_person_names: bool = False,
    interactive_depth: int = 0,
) -> Path:
    """Write `review_<grain>_<period>[_<org>][_zh].html` (+ tables) for the period starting on (or
    containing) `period_start`. Waterfalls of units down to `interactive_depth` below the scope's
    root are plotly charts; deeper ones are inline SVG (same numbers, lighter page)."""
    if grain not in REVIEW_GRAINS:
        raise ValueError(f"a review is by month or quarter, got grain {grain!r}")
    ps = _period_start(period_start, grain)
    pe = period_end(ps, grain)
    ctx = load_context(con, pe, org, lang, show_person_names=show_person_names)
    t = ctx.i18n
    data = _Data(ctx, grain, ps)
    page = Page(
        stem=safe_stem("review", grain, ps.strftime("%Y-%m") if grain == "month" else f"{ps.year}-Q{(ps.month - 1) // 3 + 1}",
                       org, None if lang == "en" else lang),
        title=f"{t('review_title')} · {t.period(ps, grain)}",
        i18n=t,
        meta=[(t("period"), f"{t.period(ps, grain)} ({ps.isoformat()} – {pe.isoformat()})"),
              (t("previous_period"), t.period(data.prev, grain)),
              (t("scope"), ", ".join(f"{ctx.unit_name(r)} ({r})" for r in ctx.scope.roots))],
    )
    page.nav = _nav(ctx, data)
    page.add(_summary(ctx, data, page))
    page.add(_period_changes(ctx, data, page))
    page.add(_since_previous(ctx, data, page))
    attribution_rows: list[dict[str, Any]] = []
    for unit in ctx.scope.ids:
        page.add(_unit_section(ctx, data, page, unit, attribution_rows, interactive_depth))
    page.export("attribution", pd.DataFrame(attribution_rows), ATTRIBUTION_COLUMNS)
    return write_page(page, Path(out_dir))


def _period_start(day: date, grain: str) -> date:
    return period_start(day, grain)


# --- navigation and summary ------------------------------------------------------------------


def _nav(ctx: Context, data: _Data) -> Html:
    t = ctx.i18n

    def item(unit: str) -> Html:
        misses = sum(1 for (u, _k), r in data.att.items() if u == unit and r.get("status") in MISS_STATUSES)
        extra = tag("span", f" · {misses} {t('missed_count')}", class_="sub") if misses else Html("")
        kids = ctx.scope.children(unit)
        return tag("li", ctx.unit_link(unit, with_id=False), extra,
                   tag("ul", *[item(k) for k in kids]) if kids else Html(""))

    links = tag("ul", tag("li", tag("a", t("summary"), href="#summary")),
                tag("li", tag("a", t("target_changes"), href="#changes")),
                tag("li", tag("a", t("changes_since"), href="#since")))
    return links + tag("ul", *[item(r) for r in ctx.scope.roots])


def _att(row: dict[str, Any] | None) -> float | None:
    if not row:
        return None
    complete = True if is_missing(row.get("is_complete")) else bool(row.get("is_complete"))
    value = row.get("attainment") if complete else row.get("attainment_to_date")
    return to_float(value if not is_missing(value) else row.get("attainment"))


def _verified(row: dict[str, Any] | None) -> bool:
    return True if not row or is_missing(row.get("is_verified")) else bool(row["is_verified"])


def _summary(ctx: Context, data: _Data, page: Page) -> Html:
    t = ctx.i18n
    counts: dict[str, int] = defaultdict(int)
    for row in data.att.values():
        if not _verified(row):
            counts["unverified"] += 1
        else:
            counts[row.get("status") or "none"] += 1
    stats = []
    for root in ctx.scope.roots:
        score, prev = data.score.get(root), data.score_prev.get(root)
        delta = None
        if score and prev:
            a, b = to_float(score.get("score")), to_float(prev.get("score"))
            delta = a - b if a is not None and b is not None else None
        stats.append(tag("div", tag("div", format_pct(score.get("score")) if score else "—", class_="v"),
                         tag("div", f"{t('score')} · {ctx.unit_name(root)} · {t('change')} {format_pct_delta(delta)}",
                             class_="l"), class_="stat"))
    for key, label in (("met", "st_met"), ("at_risk", "st_at_risk"), ("missed", "st_missed"),
                       ("unverified", "st_unverified"), ("none", "st_no_target")):
        n = counts.get(key, 0) + (counts.get({"met": "on_track", "missed": "off_track"}.get(key, ""), 0))
        stats.append(tag("div", tag("div", str(n), class_="v"), tag("div", t(label), class_="l"), class_="stat"))
    figs: list[Html] = []
    kpis = data.kpis(ctx)
    if kpis:
        order = (("met", theme.STATUS_COLORS["met"][0]), ("at_risk", theme.STATUS_COLORS["at_risk"][0]),
                 ("missed", theme.STATUS_COLORS["missed"][0]), ("unverified", "#9aa5b1"), ("none", "#d9dee4"))
        per_kpi: dict[str, dict[str, int]] = {k: defaultdict(int) for k in kpis}
        for (_u, k), row in data.att.items():
            status = "unverified" if not _verified(row) else (row.get("status") or "none")
            status = {"on_track": "met", "off_track": "missed"}.get(status, status)
            per_kpi[k][status] += 1
        label_keys = {"met": "st_met", "at_risk": "st_at_risk", "missed": "st_missed", "unverified": "st_unverified",
                      "none": "st_no_target"}
        stacks = [(t(label_keys[s]), [per_kpi[k].get(s, 0) for k in kpis], c) for s, c in order]
        fig = charts.stacked_bars([ctx.kpi_name(k) for k in kpis], stacks, title=f"{t('status')} · {t('org_units')}")
        figs.append(page.figure(fig, height=max(240, 80 + 34 * len(kpis))))
    for root in ctx.scope.roots:
        units = ctx.scope.children(root) or [root]
        units = [u for u in units if u in data.score or u in data.score_prev]
        if units:
            series = [(t.period(data.prev, data.grain), [to_float((data.score_prev.get(u) or {}).get("score")) for u in units]),
                      (t.period(data.ps, data.grain), [to_float((data.score.get(u) or {}).get("score")) for u in units])]
            fig = charts.grouped_bars([ctx.unit_name(u) for u in units], series, title=t("score_change"),
                                      x_title=t("score"))
            figs.append(page.figure(fig, height=max(220, 80 + 56 * len(units))))
    body = [tag("h2", t("summary")), tag("div", *stats, class_="kpis-row"), tag("div", *figs, class_="grid-wide"),
            tag("h3", t("status_matrix")), _matrix(ctx, data, page)]
    return tag("section", *body, id="summary")


def _matrix(ctx: Context, data: _Data, page: Page) -> Html:
    t = ctx.i18n
    kpis = data.kpis(ctx)
    export = []
    head = [tag("th", t("org_unit"))] + [tag("th", ctx.kpi_name(k), title=k) for k in kpis]
    body = []
    for unit in ctx.scope.ids:
        cells = [tag("td", Html("&nbsp;" * 3 * ctx.scope.depth(unit)), ctx.unit_link(unit, with_id=False),
                     class_="unitcell")]
        for kpi in kpis:
            row = data.att.get((unit, kpi))
            if row is None:
                cells.append(tag("td", ""))
                continue
            if not attention.has_data(row):
                cells.append(tag("td", t("no_data_value"), class_="st-none", title=t("no_data_note")))
                export.append({"org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi,
                               "kpi": ctx.kpi_name(kpi), "status": None, "is_verified": _verified(row),
                               "attainment": None})
                continue
            verified = _verified(row)
            cls = theme.status_class(row.get("status"), verified)
            colour, bg = theme.STATUS_COLORS[cls]
            cells.append(tag("td", format_pct(_att(row), 0), class_=f"st-{cls}",
                             style=f"background:{bg};color:{colour}",
                             title=f"{ctx.kpi_name(kpi)} · {ctx.unit_name(unit)}: {t.status(row.get('status'), verified=verified)}"))
            export.append({"org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
                           "status": row.get("status") if verified else None, "is_verified": verified,
                           "attainment": _att(row)})
        body.append(tag("tr", *cells))
    page.export("status_matrix", pd.DataFrame(export), MATRIX_COLUMNS)
    if not body or not kpis:
        return tag("p", t("no_data"), class_="empty")
    return Html('<div class="table-wrap" data-scroll="x"><table class="data matrix">') + tag("thead", tag("tr", *head)) + \
        tag("tbody", *body) + Html("</table></div>")


# --- changes in the period ---------------------------------------------------------------------


def _fmt_field(value: Any) -> str:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if is_missing(value):
        return "—"
    return str(value)


def _definition_changes(ctx: Context, data: _Data) -> list[dict[str, Any]]:
    """One row per definition field changed by a KPI version that took effect within the period."""
    in_scope_kpis = {k for (_u, k) in data.att} | {k for (_u, k) in data.act}
    versions = marts.normalise_dates(marts.read(ctx.con, "kpi_definitions", order_by=("kpi_id", "valid_from")),
                                     "valid_from", "valid_to")
    def_rows = []
    for kpi, group in versions.groupby("kpi_id", sort=True):
        if kpi not in in_scope_kpis:
            continue
        recs = marts.records(group)
        for before, after in zip(recs, recs[1:], strict=False):
            vf = after.get("valid_from")
            if not (isinstance(vf, date) and data.ps <= vf <= data.pe):
                continue
            for fld in DEFINITION_FIELDS:
                old, new = _fmt_field(before.get(fld)), _fmt_field(after.get(fld))
                if old != new:
                    def_rows.append({"kpi_id": kpi, "kpi": ctx.kpi_name(str(kpi)), "version_before": before.get("version"),
                                     "version_after": after.get("version"), "valid_from": vf,
                                     "reason": ctx.free_text(after.get("version_reason")), "field": fld,
                                     "before": ctx.free_text(old), "after": ctx.free_text(new)})
    return def_rows


def _target_and_weight_changes(ctx: Context, data: _Data) -> list[dict[str, Any]]:
    """Targets set by another plan version (within the period, or since the previous one) and
    weights that changed."""
    target_rows = []
    for (unit, kpi), rows in sorted(data.targets.items()):
        plans = sorted({str(r.get("plan_version")) for r in rows if not is_missing(r.get("plan_version"))})
        if len(rows) > 1 and len(plans) > 1:  # several plan versions of this period's target
            ordered = sorted(rows, key=lambda r: str(r.get("plan_version") or ""))
            target_rows.append(_target_change(ctx, unit, kpi, ordered[0], ordered[-1]))
            continue
        prev = data.targets_prev.get((unit, kpi))
        if prev and rows:
            old_plan = sorted({str(r.get("plan_version")) for r in prev if not is_missing(r.get("plan_version"))})
            if plans and old_plan and plans != old_plan:
                target_rows.append(_target_change(ctx, unit, kpi, sorted(prev, key=lambda r: str(r.get("plan_version")))[-1],
                                                  rows[-1], same_period=False))
    for w in data.weight_changes:
        before = data.weights_before.get((w["org_unit_id"], w["kpi_id"]))
        if before and to_float(before.get("weight")) == to_float(w.get("weight")):
            continue
        target_rows.append({
            "what": "weight", "org_unit_id": w["org_unit_id"], "org_unit": ctx.unit_name(w["org_unit_id"]),
            "kpi_id": w["kpi_id"], "kpi": ctx.kpi_name(w["kpi_id"]),
            "plan_before": before.get("plan_version") if before else None, "plan_after": w.get("plan_version"),
            "before": to_float(before.get("weight")) if before else None, "after": to_float(w.get("weight")),
            "valid_from": w.get("valid_from"),
        })
    return target_rows


def _period_changes(ctx: Context, data: _Data, page: Page) -> Html:
    t = ctx.i18n
    def_rows = _definition_changes(ctx, data)
    def_cols = [Col("kpi", t("kpi"), lambda r: ctx.kpi_title(r["kpi_id"])),
                Col("version_after", t("version"), lambda r: f"v{r['version_before']} → v{r['version_after']}"),
                Col("valid_from", t("valid_from")), Col("reason", t("reason"), wrap=True), Col("field", t("field")),
                Col("before", t("before"), wrap=True),
                Col("after", t("after"), wrap=True)]
    target_rows = _target_and_weight_changes(ctx, data)
    page.export("target_changes", pd.DataFrame(target_rows), TARGET_CHANGE_COLUMNS)
    grouped: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in target_rows:
        grouped[(r["what"], r["kpi_id"], str(r.get("plan_before") or "—"), str(r.get("plan_after") or "—"))].append(r)
    shown = []
    for (what, kpi, before, after), rows in grouped.items():
        units = [ctx.unit_name(r["org_unit_id"]) for r in rows]
        if what == "weight" or len(rows) == 1:
            for r in rows:
                shown.append({"what": t("weight") if what == "weight" else t("target"), "kpi_id": kpi,
                              "units": ctx.unit_name(r["org_unit_id"]), "plan": f"{before} → {after}",
                              "values": f"{_num_text(ctx, kpi, r['before'], what)} → {_num_text(ctx, kpi, r['after'], what)}"})
        else:
            listed = ", ".join(units[:8]) + (f" … (+{len(units) - 8})" if len(units) > 8 else "")
            shown.append({"what": t("target"), "kpi_id": kpi, "units": f"{listed} ({len(units)})",
                          "plan": f"{before} → {after}", "values": "—"})
    change_cols = [Col("what", t("what")), Col("kpi", t("kpi"), lambda r: ctx.kpi_title(r["kpi_id"])),
                   Col("units", t("org_units")), Col("plan", t("plan_version")), Col("values", f"{t('before')} → {t('after')}")]
    body = [tag("h2", t("target_changes")),
            tag("h3", t("definition_changes")),
            page.table("definition_changes", def_rows, def_cols,
                       export=pd.DataFrame(def_rows, columns=list(DEFINITION_CHANGE_COLUMNS))) if def_rows else tag("p", t("no_changes"), class_="empty"),
            tag("h3", t("target_changes")),
            page.table("target_changes_shown", shown, change_cols) if shown else tag("p", t("no_changes"), class_="empty")]
    if not def_rows:
        page.export("definition_changes", pd.DataFrame(def_rows), DEFINITION_CHANGE_COLUMNS)
    return tag("section", *body, id="changes")


def _num_text(ctx: Context, kpi: str, value: Any, what: str) -> str:
    if what == "weight":
        v = to_float(value)
        return f"{v:g}" if v is not None else "—"
    return ctx.fmt(kpi, value)


def _target_change(ctx: Context, unit: str, kpi: str, before: dict[str, Any], after: dict[str, Any],
                   *, same_period: bool = True) -> dict[str, Any]:
    return {
        "what": "target", "org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
        "plan_before": before.get("plan_version"), "plan_after": after.get("plan_version"),
        "before": to_float(before.get("target_value")) if same_period else None,
        "after": to_float(after.get("target_value")), "valid_from": None,
    }


# --- since the previous period ---------------------------------------------------------------


def _since_previous(ctx: Context, data: _Data, page: Page) -> Html:
    t = ctx.i18n
    rows = []
    for (unit, kpi), row in data.att.items():
        prev = data.att_prev.get((unit, kpi))
        a_now, a_prev = _att(row), _att(prev)
        rows.append({
            "org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
            "status_before": (prev or {}).get("status"), "status": row.get("status"),
            "verified_before": _verified(prev), "verified": _verified(row),
            "attainment_before": a_prev, "attainment": a_now,
            "attainment_change": (a_now - a_prev) if a_now is not None and a_prev is not None else None,
            "actual_before": to_float((prev or {}).get("actual_value")), "actual": to_float(row.get("actual_value")),
        })
    order = {u: i for i, u in enumerate(ctx.scope.ids)}
    rows.sort(key=lambda r: (order.get(r["org_unit_id"], 0), r["kpi_id"]))
    page.export("changes", pd.DataFrame(rows), CHANGE_COLUMNS)
    transitions = [r for r in rows if r["verified"] and r["verified_before"] and r["status_before"] and r["status"]
                   and ((r["status_before"] in GOOD_STATUSES) != (r["status"] in GOOD_STATUSES))]
    moves = sorted((r for r in rows if r["attainment_change"] is not None),
                   key=lambda r: -abs(r["attainment_change"]))[:12]

    def st(key: str, vkey: str):
        return lambda r: status_chip(ctx, r[key], r[vkey])

    trans_cols = [Col("org_unit", t("org_unit"), lambda r: ctx.unit_link(r["org_unit_id"], with_id=False)),
                  Col("kpi", t("kpi")),
                  Col("status_before", t("previous_period"), st("status_before", "verified_before")),
                  Col("status", t.period(data.ps, data.grain), st("status", "verified")),
                  Col("what", t("status_change"),
                      lambda r: t("recovered") if r["status"] in GOOD_STATUSES else t("newly_missed"))]
    move_cols = [Col("org_unit", t("org_unit"), lambda r: ctx.unit_link(r["org_unit_id"], with_id=False)),
                 Col("kpi", t("kpi")),
                 Col("actual_before", f"{t('actual')} · {t('previous_period')}", lambda r: ctx.fmt(r["kpi_id"], r["actual_before"]), num=True),
                 Col("actual", f"{t('actual')} · {t.period(data.ps, data.grain)}", lambda r: ctx.fmt(r["kpi_id"], r["actual"]), num=True),
                 Col("attainment_before", f"{t('attainment')} · {t('previous_period')}", lambda r: format_pct(r["attainment_before"]), num=True),
                 Col("attainment", t("attainment"), lambda r: format_pct(r["attainment"]), num=True),
                 Col("attainment_change", t("change"), lambda r: format_pct_delta(r["attainment_change"]), num=True)]
    score_rows = []
    for unit in ctx.scope.ids:
        now, before = data.score.get(unit), data.score_prev.get(unit)
        if not now and not before:
            continue
        a, b = to_float((now or {}).get("score")), to_float((before or {}).get("score"))
        has_parent = ctx.scope.unit(unit)["parent_org_unit_id"] is not None
        score_rows.append({"org_unit_id": unit, "org_unit": ctx.unit_name(unit), "score_before": b, "score": a,
                           "score_change": a - b if a is not None and b is not None else None,
                           "rank_before": _int((before or {}).get("rank_among_siblings")) if has_parent else None,
                           "rank": _int((now or {}).get("rank_among_siblings")) if has_parent else None})
    score_cols = [Col("org_unit", t("org_unit"), lambda r: ctx.unit_link(r["org_unit_id"])),
                  Col("score_before", t("previous_period"), lambda r: format_pct(r["score_before"]), num=True),
                  Col("score", t.period(data.ps, data.grain), lambda r: format_pct(r["score"]), num=True),
                  Col("score_change", t("change"), lambda r: format_pct_delta(r["score_change"]), num=True),
                  Col("rank", t("rank"), lambda r: "—" if r["rank"] is None else
                      (f"{r['rank_before']} → {r['rank']}" if r["rank_before"] is not None else str(r["rank"])), num=True)]
    body = [tag("h2", t("changes_since"), " ", tag("span", f"({t.period(data.prev, data.grain)} → {t.period(data.ps, data.grain)})", class_="sub")),
            tag("h3", t("status_change")),
            page.table("status_changes", transitions, trans_cols) if transitions else tag("p", t("no_changes"), class_="empty"),
            tag("h3", t("biggest_moves")), page.table("biggest_moves", moves, move_cols),
            tag("h3", t("score_change")), page.table("score_changes", score_rows, score_cols)]
    if not transitions:
        page.export("status_changes", pd.DataFrame(transitions), CHANGE_COLUMNS)
    return tag("section", *body, id="since")


def _int(value: Any) -> int | None:
    v = to_float(value)
    return None if v is None else int(v)


# --- one unit --------------------------------------------------------------------------------


def _unit_section(ctx: Context, data: _Data, page: Page, unit: str, attribution_rows: list[dict[str, Any]],
                  interactive_depth: int) -> Html:
    t = ctx.i18n
    crumbs = [ctx.unit_link(a, with_id=False) for a in ctx.scope.ancestors(unit)]
    score, prev = data.score.get(unit), data.score_prev.get(unit)
    delta = None
    if score and prev:
        a, b = to_float(score.get("score")), to_float(prev.get("score"))
        delta = a - b if a is not None and b is not None else None
    kpis = ctx.kpi_order([k for (u, k) in data.att if u == unit])
    head = [tag("div", *_sep(crumbs), class_="crumbs") if crumbs else Html(""),
            tag("h2", ctx.unit_name(unit), " ", tag("span", unit, class_="sub")),
            tag("p", f"{t('score')}: {format_pct((score or {}).get('score'))} "
                     f"({t('previous_period')} {format_pct((prev or {}).get('score'))}, {t('change')} {format_pct_delta(delta)})",
                class_="note")]
    rows = []
    for kpi in kpis:
        row = data.att[(unit, kpi)]
        prev_row = data.att_prev.get((unit, kpi))
        a_now, a_prev = _att(row), _att(prev_row)
        rows.append({"org_unit_id": unit, "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
                     "actual_value": to_float(row.get("actual_value")), "target_value": to_float(row.get("target_value")),
                     "target_low": to_float(row.get("target_low")), "target_high": to_float(row.get("target_high")),
                     "attainment": a_now, "status": row.get("status") if _verified(row) else None,
                     "is_verified": _verified(row), "attainment_before": a_prev,
                     "data_status": row.get("data_status"), "target_status": attention.target_state(row),
                     "target_note": ctx.free_text(row.get("target_note")) or None,
                     "unverified_reason": ctx.free_text(row.get("unverified_reason")) or None,
                     "attainment_change": a_now - a_prev if a_now is not None and a_prev is not None else None,
                     "checkins": " | ".join(f"{ctx.author(c.get('author'))}: {ctx.free_text(c.get('comment'))}"
                                            for c in data.checkins.get((unit, kpi), []))})

    def target_cell(r: dict[str, Any]) -> Html:
        row = data.att[(unit, r["kpi_id"])]
        state = attention.target_state(row)
        if state in ("rejected", "missing"):  # never a number: say so, and why
            key = "target_rejected_why" if state == "rejected" else "target_missing_why"
            return tag("span", t(f"st_target_{state}"), class_="chip st-missed" if state == "rejected" else "chip st-none",
                       title=t(key).format(note=ctx.free_text(row.get("target_note")) or "—"))
        if r["target_low"] is not None and r["target_high"] is not None:
            text = f"{ctx.fmt(r['kpi_id'], r['target_low'])} – {ctx.fmt(r['kpi_id'], r['target_high'])}"
        else:
            text = ctx.fmt(r["kpi_id"], r["target_value"])
        labels = {"set": t("src_set"), "allocated": t("src_allocated"), "catalog_rule": t("src_catalog_rule")}
        source = ctx.free_text(attention.target_source_text(row, labels))
        return tag("span", text, title=f"{t('target_source')}: {source}" if source else None)

    def actual_cell(r: dict[str, Any]) -> str:
        row = data.att[(unit, r["kpi_id"])]
        return ctx.fmt(r["kpi_id"], r["actual_value"]) if attention.has_data(row) else t("no_data_value")

    def status_cell(r: dict[str, Any]) -> Html:
        row = data.att[(unit, r["kpi_id"])]
        if not attention.has_data(row):
            return tag("span", t("st_no_data"), class_="chip st-none", title=t("no_data_note"))
        if attention.is_partial(row):
            return tag("span", t("st_partial"), class_="chip st-none", title=t("partial_note"))
        chip = status_chip(ctx, row.get("status"), r["is_verified"])
        if not r["is_verified"] and not is_missing(row.get("unverified_reason")):
            reason = ctx.free_text(row.get("unverified_reason"))
            links = attention.table_links(row.get("unverified_tables"), ctx.lang, link=not ctx.scope.is_scoped)
            return chip + tag("div", t("unverified_why").format(reason=reason), " ", links, class_="why")
        return chip

    cols = [Col("kpi", t("kpi"), lambda r: tag("a", r["kpi"], href="#" + anchor_id("miss", unit, r["kpi_id"]))
                if data.att[(unit, r["kpi_id"])].get("status") in MISS_STATUSES else esc(r["kpi"])),
            Col("actual_value", t("actual"), actual_cell, num=True),
            Col("target_value", t("target"), target_cell, num=True),
            Col("attainment", t("attainment"), lambda r: format_pct(r["attainment"]), num=True),
            Col("status", t("status"), status_cell),
            Col("attainment_before", t("previous_period"), lambda r: format_pct(r["attainment_before"]), num=True),
            Col("attainment_change", t("change"), lambda r: format_pct_delta(r["attainment_change"]), num=True),
            Col("checkins", t("checkins"), lambda r: _checkin_cell(ctx, data.checkins.get((unit, r["kpi_id"]), [])))]
    body: list[Html] = [*head, page.table("kpis", rows, cols)]
    misses = [k for k in kpis if data.att[(unit, k)].get("status") in MISS_STATUSES]
    if misses:
        body.append(tag("h3", t("gap_attribution"), " ", tag("span", t("gap_formula"), class_="sub")))
        body.append(tag("p", t("attribution_method"), class_="note"))
        interactive = ctx.scope.depth(unit) <= interactive_depth
        for kpi in misses:
            body.append(_miss(ctx, data, page, unit, kpi, attribution_rows, interactive))
    elif kpis:
        body.append(tag("p", t("no_misses"), class_="note"))
    level = min(ctx.scope.depth(unit) + 1, 4)
    return tag("section", *body, class_=f"unit level-{level}", id=anchor_id("u", unit))


def _sep(items: list[Html]) -> list[Html]:
    out: list[Html] = []
    for i, item in enumerate(items):
        if i:
            out.append(esc(" › "))
        out.append(item)
    return out


def _checkin_cell(ctx: Context, checkins: Sequence[dict[str, Any]]) -> Html:
    t = ctx.i18n
    out = []
    for c in checkins:
        override = c.get("status_override")
        chip = Html("")
        if not is_missing(override) and override:
            chip = Html(" ") + tag("span", f"{t('status_override')}: {t.status(str(override))}", class_="chip flag")
        created = c.get("created_at")
        when = str(created)[:10] if not is_missing(created) else ""
        out.append(tag("div", tag("div", f"{ctx.author(c.get('author'))} · {when}", chip, class_="who"),
                       esc_text(ctx.free_text(c.get("comment"))), class_="checkin"))
    return Html("".join(out))


def _good_sign(ctx: Context, kpi: str, actual: float, row: dict[str, Any]) -> int:
    direction = ctx.direction(kpi)
    if direction == "lower_is_better":
        return -1
    if direction == "target_range":
        high = to_float(row.get("target_high"))
        return -1 if high is not None and actual > high else 1
    return 1


def attributions_for(ctx: Context, data: _Data, unit: str, kpi: str) -> tuple[float | None, float | None, list[attr.Attribution]]:
    """(actual, reference target, decompositions) of one KPI × unit in the period."""
    row = data.att.get((unit, kpi)) or {}
    act = data.act.get((unit, kpi)) or {}
    actual = to_float(row.get("actual_value"))
    if actual is None:
        actual = to_float(act.get("actual_value"))
    target = attr.reference_target(actual, to_float(row.get("target_value")), to_float(row.get("target_low")),
                                   to_float(row.get("target_high")))
    if actual is None or target is None:
        return actual, target, []
    mtype = ctx.measure_type(kpi)
    out: list[attr.Attribution] = []
    kids = [k for k in ctx.scope.children(unit) if (k, kpi) in data.act or (k, kpi) in data.act_ly]
    ly = data.act_ly.get((unit, kpi)) or {}
    if mtype in attr.ADDITIVE_TYPES and kids:
        comps = []
        for k in kids:
            tgt = data.target(k, kpi)
            comps.append(attr.Component(
                key=k, actual=to_float((data.act.get((k, kpi)) or {}).get("actual_value")) or 0.0,
                target=to_float(tgt.get("target_value")) if tgt else None,
                last_year=to_float((data.act_ly.get((k, kpi)) or {}).get("actual_value"))))
        out.append(attr.additive_children(actual, target, comps, last_year=to_float(ly.get("actual_value"))))
    elif mtype in attr.RATIO_TYPES and kids:
        n, d = to_float(act.get("numerator")), to_float(act.get("denominator"))
        if n is not None and d:
            scale = attr.ratio_scale(actual, n, d)
            total = attr.RatioComponent(unit, n, d, to_float(ly.get("numerator")), to_float(ly.get("denominator")))
            comps_r = []
            for k in kids:
                ca, cl = data.act.get((k, kpi)) or {}, data.act_ly.get((k, kpi)) or {}
                comps_r.append(attr.RatioComponent(
                    k, to_float(ca.get("numerator")) or 0.0, to_float(ca.get("denominator")) or 0.0,
                    to_float(cl.get("numerator")), to_float(cl.get("denominator"))))
            out.append(attr.ratio_children(actual, target, total, comps_r, scale=scale))
    for dimension, values in sorted(data.dims.get((unit, kpi), {}).items()):
        if mtype in attr.ADDITIVE_TYPES:
            comps_a = [attr.Component(key=v, actual=to_float((cur or {}).get("actual_value")) or 0.0,
                                      last_year=to_float((ly_row or {}).get("actual_value")))
                       for v, (cur, ly_row) in sorted(values.items())]
            out.append(attr.additive_dimension(actual, target, comps_a, by=dimension))
        elif mtype in attr.RATIO_TYPES:
            n, d = to_float(act.get("numerator")), to_float(act.get("denominator"))
            scale = attr.ratio_scale(actual, n, d)
            comps_d = [attr.RatioComponent(v, to_float((cur or {}).get("numerator")) or 0.0,
                                           to_float((cur or {}).get("denominator")) or 0.0,
                                           to_float((ly_row or {}).get("numerator")),
                                           to_float((ly_row or {}).get("denominator")))
                       for v, (cur, ly_row) in sorted(values.items())]
            out.append(attr.ratio_mix_rate(actual, target, comps_d, by=dimension, scale=scale))
    return actual, target, out


def _part_label(ctx: Context, part: attr.Part) -> str:
    t = ctx.i18n
    if part.kind == "child":
        return ctx.unit_name(part.key)
    return {attr.OWN: t("own_direct"), attr.UNEXPLAINED: t("unexplained"), attr.OTHERS: t("others")}.get(
        part.key, t.dimension_value(part.key))


def _miss(ctx: Context, data: _Data, page: Page, unit: str, kpi: str, attribution_rows: list[dict[str, Any]],
          interactive: bool) -> Html:
    t = ctx.i18n
    row = data.att[(unit, kpi)]
    verified = _verified(row)
    actual, target, decompositions = attributions_for(ctx, data, unit, kpi)
    gap = actual - target if actual is not None and target is not None else None
    head = tag("h4", ctx.kpi_name(kpi), " ", status_chip(ctx, row.get("status"), verified), " ",
               tag("span", f"{t('actual')} {ctx.fmt(kpi, actual)} · {t('target')} {ctx.fmt(kpi, target)} · "
                           f"{t('gap')} {ctx.fmt_delta(kpi, gap)}", class_="sub"))
    parts: list[Html] = [head]
    if not verified:
        parts.append(tag("p", t("unverified_note"), class_="note"))
    for c in data.checkins.get((unit, kpi), []):
        parts.append(_checkin_cell(ctx, [c]))
    if not decompositions:
        parts.append(tag("p", t("not_decomposable") if ctx.measure_type(kpi) not in attr.ADDITIVE_TYPES | attr.RATIO_TYPES
                         else t("no_data"), class_="note"))
        return tag("div", *parts, class_="miss", id=anchor_id("miss", unit, kpi))
    good_sign = _good_sign(ctx, kpi, actual or 0.0, row)
    charts_html: list[Html] = []
    for dec in decompositions:
        by_label = t("by_org_unit") if dec.by == attr.ORG_UNIT else t("by_dimension").format(dimension=t.dimension(dec.by))
        for p in dec.parts:
            attribution_rows.append({
                "org_unit_id": unit, "kpi_id": kpi, "grain": data.grain, "period_start": data.ps,
                "decomposition": dec.by, "method": dec.method, "component": p.key, "component_kind": p.kind,
                "component_label": _part_label(ctx, p), "actual": p.actual, "expected": p.expected,
                "contribution": p.contribution, "mix_effect": p.mix_effect, "rate_effect": p.rate_effect,
                "weight": p.weight, "baseline_weight": p.baseline_weight, "gap": dec.gap, "kpi_actual": dec.actual,
                "kpi_target": dec.target,
            })
        folded = dec.folded(8)
        labels = [_part_label(ctx, p) for p in folded.parts]
        values = [p.contribution for p in folded.parts]
        title = f"{ctx.kpi_name(kpi)} · {by_label}"
        block: list[Html] = [] if interactive else [tag("div", by_label, class_="wf-title")]
        if interactive:
            fig = charts.waterfall(labels, values, [ctx.fmt_delta(kpi, v) for v in values], total_label=t("gap"),
                                   total_text=ctx.fmt_delta(kpi, dec.gap), good_sign=good_sign, title=title)
            block.append(page.figure(fig, height=300))
        else:
            steps = [svg.Step(lbl, v) for lbl, v in zip(labels, values, strict=True)] + [svg.Step(t("gap"), dec.gap, total=True)]
            block.append(svg.waterfall(steps, fmt=lambda v: ctx.fmt_delta(kpi, v), good_sign=good_sign, title=title))
        if dec.method == "ratio":
            mix, rate = dec.mix_effect or 0.0, dec.rate_effect or 0.0
            block.append(tag("div", tag("b", t("rate_vs_mix")), ": ", f"{t('mix_effect')} {ctx.fmt_delta(kpi, mix)} + "
                                    f"{t('rate_effect')} {ctx.fmt_delta(kpi, rate)} = {t('gap')} {ctx.fmt_delta(kpi, dec.gap)}",
                             class_="note"))
            block.append(svg.waterfall([svg.Step(t("mix_effect"), mix), svg.Step(t("rate_effect"), rate),
                                        svg.Step(t("gap"), dec.gap, total=True)],
                                       fmt=lambda v: ctx.fmt_delta(kpi, v), good_sign=good_sign,
                                       title=f"{title} · {t('rate_vs_mix')}"))
        if not math.isclose(dec.total, dec.gap, rel_tol=1e-9, abs_tol=1e-9):  # never expected: the method is exact
            block.append(tag("p", f"Σ = {ctx.fmt_delta(kpi, dec.total)}", class_="note"))
        charts_html.append(tag("div", *block, class_="wf"))
    parts.append(tag("div", *charts_html, class_="grid-wide"))
    return tag("div", *parts, class_="miss", id=anchor_id("miss", unit, kpi))
