"""The attainment report (the daily view): overview of the scope's root, then every org unit.

For the running month, quarter and year, each KPI is a tile with actual, target, attainment, status,
a bullet chart (actual vs target over the status bands, with the expected-to-date pace tick) and a
trend line (this year, last year, target). The overview has the goal tree (objectives → KPIs → org
units, coloured by attainment), the scorecard and a leaderboard of sub-units with the weights shown.
Values with `is_verified = false` are labelled "unverified" and never get a status colour.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from reports import charts, svg, theme
from reports.context import Context, load_context, status_chip
from reports.formatting import format_pct, is_missing, to_float
from reports.html import Col, Html, Page, anchor_id, esc, safe_stem, tag, write_page
from reports.periods import GRAINS, period_end, running_periods

TILE_COLUMNS = ("org_unit_id", "org_unit", "kpi_id", "kpi", "grain", "period_start", "period_end", "actual_value",
                "target_value", "target_low", "target_high", "attainment", "expected_to_date", "attainment_to_date",
                "status", "is_complete", "is_verified", "weight", "forecast_value", "probability_on_target")


def _effective_attainment(row: dict[str, Any]) -> float | None:
    """The attainment the status is based on: to date for a running period."""
    if row is None:
        return None
    complete = bool(row.get("is_complete")) if not is_missing(row.get("is_complete")) else True
    value = row.get("attainment") if complete else row.get("attainment_to_date")
    if is_missing(value):
        value = row.get("attainment")
    return to_float(value)


def _verified(row: dict[str, Any] | None) -> bool:
    if row is None:
        return True
    value = row.get("is_verified")
    return True if is_missing(value) else bool(value)


class _Data:
    """The marts the report reads, already scoped, indexed for lookups."""

    def __init__(self, ctx: Context, as_of: date) -> None:
        self.periods = running_periods(as_of)
        year = self.periods["year"]
        ly_year = date(year.year - 1, 1, 1)
        att = ctx.read_scoped(
            "kpi_attainment",
            "(grain = 'month' and period_start = ?) or (grain = 'quarter' and period_start = ?) "
            "or (grain = 'year' and period_start = ?)",
            [self.periods["month"], self.periods["quarter"], self.periods["year"]],
        )
        self.current: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in _records(att):
            if self.periods.get(row["grain"]) == row["period_start"]:
                self.current[(row["org_unit_id"], row["kpi_id"], row["grain"])] = row
        monthly = ctx.read_scoped(
            "kpi_actuals", "grain = 'month' and period_start >= ? and period_start <= ?", [ly_year, as_of],
            columns=("kpi_id", "org_unit_id", "period_start", "actual_value", "is_verified"),
        )
        self.monthly_actual: dict[tuple[str, str], dict[date, float | None]] = defaultdict(dict)
        for row in _records(monthly):
            self.monthly_actual[(row["org_unit_id"], row["kpi_id"])][row["period_start"]] = to_float(row["actual_value"])
        targets = ctx.read_scoped(
            "kpi_targets", "grain = 'month' and period_start >= ? and period_start <= ?", [year, period_end(year, "year")],
            columns=("kpi_id", "org_unit_id", "period_start", "target_value", "target_low", "target_high"),
        )
        self.monthly_target: dict[tuple[str, str], dict[date, tuple[Any, Any, Any]]] = defaultdict(dict)
        for row in _records(targets):
            self.monthly_target[(row["org_unit_id"], row["kpi_id"])][row["period_start"]] = (
                to_float(row["target_value"]), to_float(row["target_low"]), to_float(row["target_high"]))
        score = ctx.read_scoped("kpi_scorecard", "period_start >= ?", [year])
        self.scores: dict[tuple[str, str], dict[str, Any]] = {}
        for row in _records(score):
            if self.periods.get(row["grain"]) == row["period_start"]:
                self.scores[(row["org_unit_id"], row["grain"])] = row
        weights = ctx.read_scoped(
            "kpi_weights", "(valid_from is null or valid_from <= ?) and (valid_to is null or valid_to > ?)",
            [as_of, as_of],
        )
        self.weights: dict[str, dict[str, float]] = defaultdict(dict)
        for row in _records(weights):
            w = to_float(row["weight"])
            if w is not None:
                self.weights[row["org_unit_id"]][row["kpi_id"]] = w
        forecast = ctx.read_scoped("kpi_forecast", "period_start >= ?", [year])
        self.forecast: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in _records(forecast):
            if self.periods.get(row["grain"]) == row["period_start"]:
                self.forecast[(row["org_unit_id"], row["kpi_id"], row["grain"])] = row
        checkins = ctx.read_scoped("kpi_checkins", "period_start >= ?", [year])
        self.checkins: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in sorted(_records(checkins), key=lambda r: str(r.get("created_at") or "")):
            if self.periods.get(row["grain"]) == row["period_start"]:
                self.checkins[(row["org_unit_id"], row["kpi_id"])].append(row)

    def kpis_of(self, ctx: Context, unit: str) -> list[str]:
        present = {k for (u, k, _g) in self.current if u == unit}
        weights = self.weights.get(unit, {})
        ordered = ctx.kpi_order(list(present))
        return sorted(ordered, key=lambda k: -(weights.get(k) or 0))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from reports.marts import records

    return records(frame)


def build_attainment_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    as_of: date,
    org: str | None = None,
    lang: str = "en",
    show_person_names: bool = False,
) -> Path:
    """Write `attainment[_<org>][_zh].html` (+ CSV/Parquet of its tables) to `out_dir`; return its path."""
    ctx = load_context(con, as_of, org, lang, show_person_names=show_person_names)
    t = ctx.i18n
    data = _Data(ctx, as_of)
    page = Page(
        stem=safe_stem("attainment", org, None if lang == "en" else lang),
        title=t("attainment_title"),
        i18n=t,
        meta=[(t("as_of"), as_of.isoformat()),
              (t("scope"), ", ".join(f"{ctx.unit_name(r)} ({r})" for r in ctx.scope.roots))]
        + [(t(g), t.period(ps, g)) for g, ps in data.periods.items()],
    )
    page.nav = _nav(ctx, data)
    tile_rows: list[dict[str, Any]] = []
    for root in ctx.scope.roots:
        page.add(_overview(ctx, data, page, root))
    for unit in ctx.scope.ids:
        page.add(_unit_section(ctx, data, page, unit, tile_rows))
    page.export("kpis", pd.DataFrame(tile_rows, columns=list(TILE_COLUMNS)))
    return write_page(page, Path(out_dir))


# --- navigation ------------------------------------------------------------------------------


def _nav(ctx: Context, data: _Data) -> Html:
    def item(unit: str) -> Html:
        score = data.scores.get((unit, "year"))
        label = ctx.unit_link(unit, with_id=False)
        extra = Html("")
        if score is not None:
            extra = Html(" ") + tag("span", format_pct(score.get("score")), class_="sub")
        kids = ctx.scope.children(unit)
        sub = tag("ul", *[item(k) for k in kids]) if kids else Html("")
        return tag("li", label, extra, sub)

    return tag("ul", *[item(r) for r in ctx.scope.roots])


# --- overview --------------------------------------------------------------------------------


def _overview(ctx: Context, data: _Data, page: Page, root: str) -> Html:
    t = ctx.i18n
    parts: list[Html] = [tag("h2", t("overview"), " — ", ctx.unit_name(root))]
    parts.append(_score_stats(ctx, data, root))
    # status counts over every unit × KPI in scope, per period
    counts: dict[str, dict[str, int]] = {g: defaultdict(int) for g in GRAINS}
    for (_u, _k, grain), row in data.current.items():
        key = "unverified" if not _verified(row) else (row.get("status") or "none")
        key = {"on_track": "met", "off_track": "missed"}.get(key, key)
        counts[grain][key] += 1
    order = (("met", "st_met", theme.STATUS_COLORS["met"][0]), ("at_risk", "st_at_risk", theme.STATUS_COLORS["at_risk"][0]),
             ("missed", "st_missed", theme.STATUS_COLORS["missed"][0]), ("unverified", "st_unverified", "#9aa5b1"),
             ("none", "st_no_target", "#d9dee4"))
    cats = [f"{t(g)} · {t.period(data.periods[g], g)}" for g in GRAINS]
    running_alias = {"met": "st_on_track", "missed": "st_off_track"}
    stacks = [
        (f"{t(label)} / {t(running_alias[key])}" if key in running_alias else t(label),
         [counts[g].get(key, 0) for g in GRAINS], colour)
        for key, label, colour in order
    ]
    figs: list[Html] = []
    tree = _goal_tree(ctx, data, root)
    if tree is not None:
        figs.append(tag("div", page.figure(tree, height=520), tag("p", t("goal_tree_note"), class_="note")))
    figs.append(tag("div", page.figure(charts.stacked_bars(cats, stacks, title=t("status_counts")), height=260),
                    _leaderboard_chart(ctx, data, page, root)))
    parts.append(tag("div", *figs, class_="grid-wide"))
    return tag("section", *parts, class_="overview", id=anchor_id("overview", root))


def _score_stats(ctx: Context, data: _Data, unit: str) -> Html:
    t = ctx.i18n
    stats = []
    has_parent = ctx.scope.unit(unit)["parent_org_unit_id"] is not None
    for grain in GRAINS:
        row = data.scores.get((unit, grain))
        value = format_pct(row.get("score")) if row else "—"
        sub = t.period(data.periods[grain], grain)
        if row and has_parent and not is_missing(row.get("rank_among_siblings")):
            sub += f" · {t('rank')} {int(row['rank_among_siblings'])}"
        stats.append(tag("div", tag("div", value, class_="v"), tag("div", f"{t('score')} · {t(grain)} · {sub}", class_="l"),
                         class_="stat"))
    return tag("div", *stats, class_="kpis-row")


def _goal_tree(ctx: Context, data: _Data, root: str) -> dict[str, Any] | None:
    t = ctx.i18n
    views = []
    for grain in GRAINS:
        nodes: list[charts.TreeNode] = []
        kpis = ctx.kpi_order([k for (u, k, g) in data.current if g == grain])
        objectives_used: dict[str, str] = {}
        for kpi in kpis:
            obj = ctx.kpi(kpi).get("objective_id") or "_none"
            objectives_used.setdefault(obj, ctx.objective_name(obj if obj != "_none" else None))
        for obj, name in objectives_used.items():
            nodes.append(charts.TreeNode(id=f"o:{obj}", parent="", label=name, colour="#eef2f6",
                                         hover=(f"{t('objective')}: {name}",)))
        for kpi in kpis:
            obj = ctx.kpi(kpi).get("objective_id") or "_none"
            root_row = data.current.get((root, kpi, grain))
            nodes.append(_tree_node(ctx, f"k:{kpi}", f"o:{obj}", ctx.kpi_name(kpi), kpi, root, root_row))
            for unit in ctx.scope.ids:
                if unit == root or (unit, kpi, grain) not in data.current:
                    continue
                parent = f"k:{kpi}"
                for anc in reversed(ctx.scope.ancestors(unit)):
                    if anc != root and (anc, kpi, grain) in data.current:
                        parent = f"k:{kpi}/{anc}"
                        break
                nodes.append(_tree_node(ctx, f"k:{kpi}/{unit}", parent, ctx.unit_name(unit), kpi, unit,
                                        data.current[(unit, kpi, grain)]))
        if nodes:
            views.append((f"{t(grain)}", nodes))
    if not views:
        return None
    return charts.goal_tree(views, title=t("goal_tree"))


def _tree_node(ctx: Context, node_id: str, parent: str, label: str, kpi: str, unit: str,
               row: dict[str, Any] | None) -> charts.TreeNode:
    t = ctx.i18n
    att = _effective_attainment(row) if row else None
    verified = _verified(row)
    colour = theme.attainment_color(att, ctx.amber(kpi), verified)
    hover = [f"{ctx.kpi_name(kpi)} · {ctx.unit_name(unit)}"]
    if row:
        hover.append(f"{t('actual')}: {ctx.fmt(kpi, row.get('actual_value'))} · {t('target')}: {_target_text(ctx, kpi, row)}")
        hover.append(f"{t('attainment')}: {format_pct(att)} · {t.status(row.get('status'), verified=verified)}")
    return charts.TreeNode(id=node_id, parent=parent, label=label, colour=colour, hover=tuple(hover))


def _leaderboard_chart(ctx: Context, data: _Data, page: Page, unit: str) -> Html:
    t = ctx.i18n
    kids = [k for k in ctx.scope.children(unit) if any((k, g) in data.scores for g in GRAINS)]
    if not kids:
        return Html("")
    kids.sort(key=lambda k: -(to_float((data.scores.get((k, "year")) or {}).get("score")) or 0))
    series = [(t(g), [to_float((data.scores.get((k, g)) or {}).get("score")) for k in kids]) for g in GRAINS]
    fig = charts.grouped_bars([ctx.unit_name(k) for k in kids], series, title=t("leaderboard"), x_title=t("score"))
    return page.figure(fig, height=max(220, 70 + 60 * len(kids)))


# --- one unit --------------------------------------------------------------------------------


def _target_text(ctx: Context, kpi: str, row: dict[str, Any]) -> str:
    low, high = to_float(row.get("target_low")), to_float(row.get("target_high"))
    if low is not None and high is not None:
        return f"{ctx.fmt(kpi, low)} – {ctx.fmt(kpi, high)}"
    return ctx.fmt(kpi, row.get("target_value"))


def _unit_section(ctx: Context, data: _Data, page: Page, unit: str, tile_rows: list[dict[str, Any]]) -> Html:
    t = ctx.i18n
    info = ctx.scope.unit(unit)
    crumbs = [ctx.unit_link(a, with_id=False) for a in ctx.scope.ancestors(unit)]
    head = [
        tag("div", *_joined(crumbs, " › "), class_="crumbs") if crumbs else Html(""),
        tag("h2", ctx.unit_name(unit), " ", tag("span", f"{unit} · {t.unit_type(info.get('unit_type'))}", class_="sub")),
        _score_stats(ctx, data, unit),
    ]
    kids = ctx.scope.children(unit)
    if kids:
        head.append(tag("div", tag("b", t("children"), ": "), *_joined([ctx.unit_link(k, with_id=False) for k in kids], " · "),
                        class_="note"))
    tiles = [_tile(ctx, data, unit, kpi, tile_rows) for kpi in data.kpis_of(ctx, unit)]
    body: list[Html] = [*head]
    body.append(tag("div", *tiles, class_="grid") if tiles else tag("p", t("no_data"), class_="empty"))
    body.append(_breakdown_table(ctx, data, page, unit))
    if kids:
        body.append(_leaderboard_table(ctx, data, page, unit))
    body.append(tag("p", tag("a", "↑ " + t("back_to_top"), href="#top"), class_="note noprint"))
    level = min(ctx.scope.depth(unit) + 1, 4)
    return tag("section", *body, class_=f"unit level-{level}", id=anchor_id("u", unit))


def _joined(items: list[Html], sep: str) -> list[Html]:
    out: list[Html] = []
    for i, item in enumerate(items):
        if i:
            out.append(esc(sep))
        out.append(item)
    return out


def _tile(ctx: Context, data: _Data, unit: str, kpi: str, tile_rows: list[dict[str, Any]]) -> Html:
    t = ctx.i18n
    weight = data.weights.get(unit, {}).get(kpi)
    year_row = data.current.get((unit, kpi, "year"))
    head_row = year_row or data.current.get((unit, kpi, "quarter")) or data.current.get((unit, kpi, "month"))
    verified_all = all(_verified(data.current.get((unit, kpi, g))) for g in GRAINS)
    cls = theme.status_class(head_row.get("status") if head_row else None, _verified(head_row) and verified_all)
    rows_html: list[Html] = []
    for grain in GRAINS:
        row = data.current.get((unit, kpi, grain))
        if row is None:
            continue
        rows_html.append(_period_block(ctx, data, unit, kpi, grain, row))
        fc = data.forecast.get((unit, kpi, grain)) or {}
        tile_rows.append({
            "org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
            "grain": grain, "period_start": row.get("period_start"), "period_end": row.get("period_end"),
            "actual_value": to_float(row.get("actual_value")), "target_value": to_float(row.get("target_value")),
            "target_low": to_float(row.get("target_low")), "target_high": to_float(row.get("target_high")),
            "attainment": to_float(row.get("attainment")), "expected_to_date": to_float(row.get("expected_to_date")),
            "attainment_to_date": to_float(row.get("attainment_to_date")),
            "status": None if not _verified(row) else row.get("status"),
            "is_complete": row.get("is_complete"), "is_verified": _verified(row), "weight": weight,
            "forecast_value": to_float(fc.get("forecast_value")),
            "probability_on_target": to_float(fc.get("probability_on_target")),
        })
    weight_badge = tag("span", f"{t('weight')} {weight:g}" if weight is not None else t("unweighted"), class_="wt")
    header = tag("header", tag("div", tag("h4", ctx.kpi_name(kpi)), tag("span", kpi, class_="kid")), weight_badge)
    trend = _trend(ctx, data, unit, kpi)
    checkin = Html("")
    notes = data.checkins.get((unit, kpi))
    if notes:
        last = notes[-1]
        who = f"{t('latest_checkin')} · {ctx.author(last.get('author'))}"
        checkin = tag("div", tag("div", who, class_="who"), ctx.free_text(last.get("comment")), class_="checkin")
    title = None if verified_all else t("unverified_note")
    return tag("article", header, *rows_html, trend, checkin, class_=f"tile st-{cls}", id=anchor_id("u", unit, "k", kpi),
               title=title)


def _period_block(ctx: Context, data: _Data, unit: str, kpi: str, grain: str, row: dict[str, Any]) -> Html:
    t = ctx.i18n
    verified = _verified(row)
    complete = bool(row.get("is_complete")) if not is_missing(row.get("is_complete")) else True
    att = to_float(row.get("attainment"))
    label = tag("span", f"{t(grain)} · {t.period(row['period_start'], grain)}", class_="pl")
    running = Html("") if complete else tag("span", f" ({t('running')})", class_="sub")
    line1 = tag("div", tag("span", label, running), status_chip(ctx, row.get("status"), verified), class_="line")
    expected = to_float(row.get("expected_to_date")) if not complete else None
    if expected is not None and ctx.direction(kpi) != "target_range" and to_float(row.get("target_value")) == expected:
        expected = None  # non-additive running KPIs: the target itself, no pace tick
    target = to_float(row.get("target_value"))
    pace = expected is not None and target is not None
    bullet = svg.bullet(
        actual=to_float(row.get("actual_value")), target=expected if pace else target,
        full_target=target if pace else None,
        low=to_float(row.get("target_low")), high=to_float(row.get("target_high")), direction=ctx.direction(kpi),
        amber=ctx.amber(kpi), verified=verified,
        title=f"{ctx.kpi_name(kpi)} · {t(grain)}: {t('actual')} {ctx.fmt(kpi, row.get('actual_value'))}, "
              + (f"{t('expected_to_date')} {ctx.fmt(kpi, expected)}, " if pace else "")
              + f"{t('target')} {_target_text(ctx, kpi, row)}",
    )
    nums = tag("div", tag("span", f"{t('actual')} ", tag("b", ctx.fmt(kpi, row.get("actual_value"))), class_="nums"),
               tag("span", f"{t('target_range') if ctx.direction(kpi) == 'target_range' else t('target')} ",
                   _target_text(ctx, kpi, row)),
               tag("span", f"{t('attainment')} ", tag("b", format_pct(att))), class_="line")
    extra: list[Html] = []
    if not complete and expected is not None:
        extra.append(tag("div", f"{t('pace')}: {t('actual_to_date')} {ctx.fmt(kpi, row.get('actual_value'))} · "
                                f"{t('expected_to_date')} {ctx.fmt(kpi, expected)} · "
                                f"{format_pct(row.get('attainment_to_date'))}", class_="pace"))
    fc = data.forecast.get((unit, kpi, grain))
    if fc and not complete:
        prob = to_float(fc.get("probability_on_target"))
        extra.append(tag("div", f"{t('forecast')}: {ctx.fmt(kpi, fc.get('forecast_value'))} "
                                f"({ctx.fmt(kpi, fc.get('forecast_low'))} – {ctx.fmt(kpi, fc.get('forecast_high'))})"
                                + (f" · {t('probability_on_target')} {format_pct(prob, 0)}" if prob is not None else ""),
                         class_="pace"))
    return tag("div", line1, bullet, nums, *extra, class_="prow")


def _trend(ctx: Context, data: _Data, unit: str, kpi: str) -> Html:
    t = ctx.i18n
    year = data.periods["year"]
    months = [date(year.year, m, 1) for m in range(1, 13)]
    actual = data.monthly_actual.get((unit, kpi), {})
    targets = data.monthly_target.get((unit, kpi), {})
    this_year = [actual.get(m) for m in months]
    last_year = [actual.get(date(m.year - 1, m.month, 1)) for m in months]
    target_vals = [targets.get(m, (None, None, None))[0] for m in months]
    band = None
    if any(targets.get(m, (None, None, None))[1] is not None for m in months):
        band = ([targets.get(m, (None, None, None))[1] for m in months],
                [targets.get(m, (None, None, None))[2] for m in months])
    lines = [svg.Line(last_year, "#9aa5b1", dash="4 3", width=1.4, label=t("last_year")),
             svg.Line(target_vals, "#000000", dash="1 3", width=1.6, label=t("target")),
             svg.Line(this_year, theme.ACCENT, label=t("this_year"))]
    chart = svg.trend([t.month_short(m.month) for m in months], lines, band=band,
                      fmt=lambda v: ctx.fmt(kpi, v), title=f"{ctx.kpi_name(kpi)} · {t('trend')}")
    if not chart:
        return Html("")
    legend = tag("div", tag("span", Html(f'<i style="border-color:{theme.ACCENT}"></i>'), t("this_year")),
                 tag("span", Html('<i style="border-color:#9aa5b1;border-top-style:dashed"></i>'), t("last_year")),
                 tag("span", Html('<i style="border-color:#000;border-top-style:dotted"></i>'), t("target")),
                 class_="legend-line")
    return tag("div", chart, legend, class_="trend-wrap")


def _breakdown_table(ctx: Context, data: _Data, page: Page, unit: str) -> Html:
    t = ctx.i18n
    weights = data.weights.get(unit, {})
    if not weights:
        return Html("")
    rows = []
    for kpi in sorted(weights, key=lambda k: -weights[k]):
        row: dict[str, Any] = {"org_unit_id": unit, "kpi_id": kpi, "kpi": ctx.kpi_name(kpi), "weight": weights[kpi]}
        for grain in GRAINS:
            r = data.current.get((unit, kpi, grain))
            row[f"attainment_{grain}"] = _effective_attainment(r) if r else None
            row[f"verified_{grain}"] = _verified(r)
        rows.append(row)
    total = {"org_unit_id": unit, "kpi_id": "", "kpi": t("score"), "weight": sum(weights.values())}
    for grain in GRAINS:
        total[f"attainment_{grain}"] = to_float((data.scores.get((unit, grain)) or {}).get("score"))
        total[f"verified_{grain}"] = True

    def cell(grain: str):
        def render(r: dict[str, Any]) -> Html:
            value = format_pct(r[f"attainment_{grain}"])
            if not r[f"verified_{grain}"]:
                return tag("span", value, " ", tag("span", t("st_unverified"), class_="chip st-unverified"))
            return esc(value) if r["kpi_id"] else tag("b", value)
        return render

    cols = [Col("kpi", t("kpi"), lambda r: tag("b", r["kpi"]) if not r["kpi_id"] else esc(r["kpi"])),
            Col("weight", t("weight"), lambda r: f"{r['weight']:g}", num=True)]
    cols += [Col(f"attainment_{g}", f"{t(g)} · {t.period(data.periods[g], g)}", cell(g), num=True) for g in GRAINS]
    table = page.table("score_breakdown", [*rows, total], cols)
    note = tag("p", t("score_formula"), class_="note")
    return tag("div", tag("h3", t("score_breakdown")), table, note)


def _leaderboard_table(ctx: Context, data: _Data, page: Page, unit: str) -> Html:
    t = ctx.i18n
    rows = []
    for kid in ctx.scope.children(unit):
        row: dict[str, Any] = {"parent_org_unit_id": unit, "org_unit_id": kid, "org_unit": ctx.unit_name(kid)}
        year = data.scores.get((kid, "year")) or {}
        row["rank"] = None if is_missing(year.get("rank_among_siblings")) else int(year["rank_among_siblings"])
        for grain in GRAINS:
            row[f"score_{grain}"] = to_float((data.scores.get((kid, grain)) or {}).get("score"))
        row["kpi_count"] = year.get("kpi_count")
        rows.append(row)
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, -(r["score_year"] or 0)))

    def score_cell(grain: str):
        def render(r: dict[str, Any]) -> Html:
            return tag("span", svg.score_bar(r[f"score_{grain}"]), " ", format_pct(r[f"score_{grain}"]),
                       class_="barcell")
        return render

    cols = [Col("rank", t("rank"), num=True), Col("org_unit", t("org_unit"), lambda r: ctx.unit_link(r["org_unit_id"]))]
    cols += [Col(f"score_{g}", f"{t('score')} · {t(g)}", score_cell(g), num=True) for g in GRAINS]
    cols.append(Col("kpi_count", t("kpi_count"), num=True))
    return tag("div", tag("h3", t("leaderboard")), page.table("leaderboard", rows, cols))
