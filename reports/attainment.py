"""The attainment report (the daily view): what needs attention, the overview of the scope's root,
then every org unit.

First the "needs attention" list (off track / at risk / missed / target rejected or missing /
unverified, ranked by weight × severity, each with why — `reports.attention`). Then the overview:
scores, the goal tree (objectives → KPIs → org units, coloured by attainment), status counts and a
leaderboard of sub-units. Then one section per unit — the root open, every other unit folded (a
`<details>`: its summary line says its scores and how many KPIs need attention; contents links and
attention items open it), so the page stays short and everything stays reachable.

For the running month, quarter and year, each KPI is a tile. A running period's headline is the
attainment to date against the target phased to date (`attainment_to_date`, the number the score
uses); the full-period target, how much of it is reached so far, and the forecast stand beside it.
Each tile has a bullet chart (actual vs target over the status bands; for a running period the
phased target is the solid tick and the full-period target the dashed one), a trend line (this year,
last year, target; the running month hollow and dashed — to date, not a drop), where the target comes
from, and the latest check-in. Values with `is_verified = false` are labelled "unverified", say why
(with links to the quality report's rows) and never get a status colour; a rejected target is shown
as rejected with its reason; a period before the KPI's data start says "no data", never 0.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from reports import attention, charts, svg, theme
from reports.attention import effective_attainment as _effective_attainment
from reports.attention import has_data, is_complete, is_pace_row, is_partial, target_state
from reports.attention import is_verified as _verified
from reports.context import Context, load_context, status_chip
from reports.formatting import format_pct, is_missing, to_float
from reports.html import Col, Html, Page, anchor_id, esc, safe_stem, tag, write_page
from reports.periods import GRAINS, period_end, running_periods

TILE_COLUMNS = ("org_unit_id", "org_unit", "kpi_id", "kpi", "grain", "period_start", "period_end", "actual_value",
                "target_value", "target_low", "target_high", "attainment", "expected_to_date", "attainment_to_date",
                "headline_attainment", "status", "is_complete", "is_verified", "data_status", "target_status",
                "target_source", "target_note", "plan_version", "plan_file", "unverified_reason", "unverified_tables",
                "weight", "forecast_value", "probability_on_target")
ATTENTION_COLUMNS = ("rank", "org_unit_id", "org_unit", "kpi_id", "kpi", "weight", "issue", "grain", "period_start",
                     "severity", "score", "why")
#: attention items shown before "show all"; the folded list holds at most MAX_ATTENTION
TOP_ATTENTION = 10
MAX_ATTENTION = 60


class _Data:
    """The marts the report reads, already scoped, indexed for lookups."""

    def __init__(self, ctx: Context, as_of: date) -> None:
        self.periods = running_periods(as_of)
        self.month_running = period_end(self.periods["month"], "month") > as_of
        self.attention_items: list[attention.Attention] = []
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
        self._target_sources(ctx)
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

    def _target_sources(self, ctx: Context) -> None:
        """Where `kpi_attainment` does not say where a target comes from (an older warehouse), take it
        from `kpi_targets` (source, plan version, and the note / file / status when it has them)."""
        rows = ctx.read_scoped(
            "kpi_targets",
            "(grain = 'month' and period_start = ?) or (grain = 'quarter' and period_start = ?) "
            "or (grain = 'year' and period_start = ?)",
            [self.periods["month"], self.periods["quarter"], self.periods["year"]],
            columns=("kpi_id", "org_unit_id", "grain", "period_start", "source", "plan_version", "target_status",
                     "target_note", "plan_file"))
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in sorted(_records(rows), key=lambda r: str(r.get("plan_version") or "")):
            latest[(row["org_unit_id"], row["kpi_id"], row["grain"])] = row
        pairs = (("target_source", "source"), ("plan_version", "plan_version"), ("target_note", "target_note"),
                 ("plan_file", "plan_file"), ("target_status", "target_status"))
        for key, row in self.current.items():
            target = latest.get(key)
            if target and all(is_missing(row.get(mine)) for mine, _ in pairs[:1] + pairs[2:3]):
                for mine, theirs in pairs:
                    if is_missing(row.get(mine)) and not is_missing(target.get(theirs)):
                        row[mine] = target[theirs]

    def attention(self, ctx: Context) -> list[attention.Attention]:
        """The KPI × units that need attention in the running periods, ranked (kept for the sections)."""
        rows = [(u, k, g, r) for (u, k, g), r in self.current.items()]
        depth = {u: ctx.scope.depth(u) for u in ctx.scope.ids}
        self.attention_items = attention.attention_list(rows, self.weights, depth)
        return self.attention_items

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
    return write_page(attainment_page(con, as_of=as_of, org=org, lang=lang,
                                      show_person_names=show_person_names)[0], Path(out_dir))


def attainment_page(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date,
    org: str | None = None,
    lang: str = "en",
    show_person_names: bool = False,
) -> tuple[Page, Headline]:
    """The attainment page (not yet written) and its headline for the index page."""
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
    items = data.attention(ctx)
    page.add(_attention_section(ctx, data, page, items))
    for root in ctx.scope.roots:
        page.add(_overview(ctx, data, page, root))
    page.add(tag("p", t("headline_note"), " ", t("trend_legend_note"), " ", tag("span", t("units_hint"), class_="noprint"),
                 class_="note"))
    for unit in ctx.scope.ids:
        page.add(_unit_section(ctx, data, page, unit, tile_rows))
    page.export("kpis", pd.DataFrame(tile_rows, columns=list(TILE_COLUMNS)))
    headline = Headline(
        roots=list(ctx.scope.roots),
        scores={(u, g): to_float(r.get("score")) for (u, g), r in data.scores.items() if u in ctx.scope.roots},
        counts=_status_counts(data),
        attention=[_attention_line(ctx, data, a, href_prefix=f"{page.stem}.html")[1] for a in items[:5]],
        file=f"{page.stem}.html",
        attention_total=len(items),
        periods=dict(data.periods),
    )
    return page, headline


@dataclass
class Headline:
    """What the index page shows of the attainment report."""

    roots: list[str]
    scores: dict[tuple[str, str], float | None]
    counts: dict[str, dict[str, int]]
    attention: list[Html]  # the first items of the "needs attention" list, one line each
    attention_total: int
    periods: dict[str, date]
    file: str


# --- navigation ------------------------------------------------------------------------------


def _nav(ctx: Context, data: _Data) -> Html:
    t = ctx.i18n

    def item(unit: str) -> Html:
        score = data.scores.get((unit, "year"))
        label = ctx.unit_link(unit, with_id=False)
        extra = Html("")
        if score is not None:
            extra = Html(" ") + tag("span", format_pct(score.get("score")), class_="sub")
        kids = ctx.scope.children(unit)
        sub = tag("ul", *[item(k) for k in kids]) if kids else Html("")
        return tag("li", label, extra, sub)

    first = tag("ul", tag("li", tag("a", t("needs_attention"), href="#attention")))
    return first + tag("ul", *[item(r) for r in ctx.scope.roots])


# --- needs attention -------------------------------------------------------------------------


def _issue_label(ctx: Context, kind: str) -> str:
    t = ctx.i18n
    return {"target_rejected": t("st_target_rejected"), "target_missing": t("st_target_missing"),
            "unverified": t("st_unverified")}.get(kind) or t.status(kind)


def _issue_chip(ctx: Context, kind: str) -> Html:
    cls = {"target_rejected": "missed", "target_missing": "none", "unverified": "unverified"}.get(kind, kind)
    return tag("span", _issue_label(ctx, kind), class_=f"chip st-{cls}")


def _why(ctx: Context, kpi: str, issue: attention.Issue, *, links: bool = True) -> Html:
    """Why an issue is one, in words (with links to the quality report's rows when unverified)."""
    t, row = ctx.i18n, issue.row
    if issue.kind in ("target_rejected", "target_missing"):
        key = "target_rejected_why" if issue.kind == "target_rejected" else "target_missing_why"
        note = _strip_prefix(ctx.free_text(row.get("target_note")), ("rejected:", "missing:")) or "—"
        return esc(t(key).format(note=note))
    if issue.kind == "unverified":
        reason = ctx.free_text(row.get("unverified_reason"))
        out = esc(t("unverified_why").format(reason=reason) if reason else t("unverified_note"))
        tables = attention.table_links(row.get("unverified_tables"), ctx.lang, link=links and not ctx.scope.is_scoped)
        if tables:
            out += Html(" · ") + tag("span", t("unverified_tables"), ": ", tables, class_="tables")
        return out
    att = format_pct(_effective_attainment(row))
    if not is_complete(row) and is_pace_row(row):
        return esc(t("why_to_date").format(att=att, actual=ctx.fmt(kpi, row.get("actual_value")),
                                           expected=ctx.fmt(kpi, row.get("expected_to_date"))))
    return esc(t("why_complete").format(att=att, target=_target_text(ctx, kpi, row),
                                        actual=ctx.fmt(kpi, row.get("actual_value"))))


def _strip_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    """A mart note without its own leading "rejected:" / "missing:" (the label says it already)."""
    for prefix in prefixes:
        if text.lower().startswith(prefix):
            return text[len(prefix):].strip()
    return text


def _plain(markup: Html) -> str:
    """The text of a bit of our markup (for the CSV)."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(markup)))


def _attention_line(ctx: Context, data: _Data, item: attention.Attention, *,
                    href_prefix: str = "") -> tuple[str, Html]:
    t = ctx.i18n
    worst = item.worst
    anchor = anchor_id("u", item.unit, "k", item.kpi)
    period = t.period(worst.period_start, worst.grain) if isinstance(worst.period_start, date) else t(worst.grain)
    line = (_issue_chip(ctx, worst.kind) + Html(" ")
            + tag("a", ctx.kpi_name(item.kpi), " · ", ctx.unit_name(item.unit), href=f"{href_prefix}#{anchor}")
            + Html(" ") + tag("span", period, class_="sub") + Html(" — ") + _why(ctx, item.kpi, worst))
    return anchor, line


def _attention_section(ctx: Context, data: _Data, page: Page, items: list[attention.Attention]) -> Html:
    t = ctx.i18n
    export = []
    for rank, item in enumerate(items, start=1):
        for issue in item.issues:
            export.append({
                "rank": rank, "org_unit_id": item.unit, "org_unit": ctx.unit_name(item.unit), "kpi_id": item.kpi,
                "kpi": ctx.kpi_name(item.kpi), "weight": item.weight, "issue": issue.kind, "grain": issue.grain,
                "period_start": issue.period_start, "severity": round(issue.severity, 6),
                "score": round(item.score, 6), "why": _plain(_why(ctx, item.kpi, issue, links=False)),
            })
    page.export("attention", pd.DataFrame(export, columns=list(ATTENTION_COLUMNS)))
    parts: list[Html] = [tag("h2", t("needs_attention"), " ", tag("span", f"({len(items)})", class_="sub")),
                         tag("p", t("needs_attention_note"), class_="note")]
    if not items:
        parts.append(tag("p", t("nothing_needs_attention"), class_="empty"))
        return tag("section", *parts, id="attention", class_="attention")

    def li(item: attention.Attention) -> Html:
        _anchor, line = _attention_line(ctx, data, item)
        others = [i for i in item.issues if i is not item.worst]
        extra = Html("")
        if others:
            extra = tag("ul", *[tag("li", _issue_chip(ctx, i.kind), " ",
                                    tag("span", t.period(i.period_start, i.grain) if isinstance(i.period_start, date)
                                        else t(i.grain), class_="sub"), " — ", _why(ctx, item.kpi, i))
                                for i in others[:4]], class_="why-more")
        weight = tag("span", f"{t('weight')} {item.weight:g}" if item.weight is not None else t("unweighted"),
                     class_="wt")
        return tag("li", line, " ", weight, extra)

    shown, rest = items[:TOP_ATTENTION], items[TOP_ATTENTION:MAX_ATTENTION]
    parts.append(tag("ol", *[li(i) for i in shown], class_="attention-list"))
    if rest:
        more = tag("ol", *[li(i) for i in rest], class_="attention-list", start=str(TOP_ATTENTION + 1))
        parts.append(tag("details", tag("summary", tag("span", t("show_all").format(n=len(items)), class_="more")),
                         more, class_="fold"))
    if len(items) > MAX_ATTENTION:
        parts.append(tag("p", t("and_more").format(n=len(items) - MAX_ATTENTION), class_="note"))
    return tag("section", *parts, id="attention", class_="attention")


# --- overview --------------------------------------------------------------------------------


def _status_counts(data: _Data) -> dict[str, dict[str, int]]:
    """Per grain: how many unit × KPI values are met/on track, at risk, missed/off track, unverified,
    without a usable target (none, rejected, missing) or without data."""
    counts: dict[str, dict[str, int]] = {g: defaultdict(int) for g in GRAINS}
    for (_u, _k, grain), row in data.current.items():
        if not has_data(row) or is_partial(row):
            key = "no_data"
        elif target_state(row) in ("rejected", "missing", "none"):
            key = "none"
        elif not _verified(row):
            key = "unverified"
        else:
            key = str(row.get("status") or "none")
        key = {"on_track": "met", "off_track": "missed"}.get(key, key)
        counts[grain][key] += 1
    return {g: dict(c) for g, c in counts.items()}


def _overview(ctx: Context, data: _Data, page: Page, root: str) -> Html:
    t = ctx.i18n
    parts: list[Html] = [tag("h2", t("overview"), " — ", ctx.unit_name(root))]
    parts.append(_score_stats(ctx, data, root))
    counts = _status_counts(data)
    order = (("met", "st_met", theme.STATUS_COLORS["met"][0]), ("at_risk", "st_at_risk", theme.STATUS_COLORS["at_risk"][0]),
             ("missed", "st_missed", theme.STATUS_COLORS["missed"][0]), ("unverified", "st_unverified", "#9aa5b1"),
             ("none", "st_no_target", "#d9dee4"), ("no_data", "st_no_data_partial", "#eef0f2"))
    cats = [f"{t(g)} · {t.period(data.periods[g], g)}" for g in GRAINS]
    running_alias = {"met": "st_on_track", "missed": "st_off_track"}
    stacks = [
        (f"{t(label)} / {t(running_alias[key])}" if key in running_alias else t(label),
         [counts[g].get(key, 0) for g in GRAINS], colour)
        for key, label, colour in order if key != "no_data" or any(counts[g].get(key) for g in GRAINS)
    ]
    figs: list[Html] = []
    tree = _goal_tree(ctx, data, root)
    if tree is not None:
        figs.append(tag("div", page.figure(tree, height=520), tag("p", t("goal_tree_note"), class_="note")))
    figs.append(tag("div", page.figure(charts.stacked_bars(cats, stacks, title=t("status_counts")), height=300),
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
    hover = []  # the path (objective / KPI / units) is shown by the chart itself
    if row:
        hover.append(f"{t('actual')}: {_actual_text(ctx, kpi, row)} · {t('target')}: {_target_text(ctx, kpi, row)}")
        hover.append(f"{_att_label(ctx, row)}: {format_pct(att)} · {_status_text(ctx, row)}")
    return charts.TreeNode(id=node_id, parent=parent, label=label, colour=colour, hover=tuple(hover))


def _leaderboard_chart(ctx: Context, data: _Data, page: Page, unit: str) -> Html:
    t = ctx.i18n
    kids = [k for k in ctx.scope.children(unit) if any((k, g) in data.scores for g in GRAINS)]
    if not kids:
        return Html("")
    kids.sort(key=lambda k: -(to_float((data.scores.get((k, "year")) or {}).get("score")) or 0))
    series = [(t(g), [to_float((data.scores.get((k, g)) or {}).get("score")) for k in kids]) for g in GRAINS]
    fig = charts.grouped_bars([ctx.unit_name(k) for k in kids], series, title=t("leaderboard"), x_title=t("score"))
    return page.figure(fig, height=max(240, 90 + 60 * len(kids)))


# --- one unit --------------------------------------------------------------------------------


def _target_text(ctx: Context, kpi: str, row: dict[str, Any]) -> str:
    state = target_state(row)
    if state == "rejected":
        return ctx.i18n("st_target_rejected")
    if state == "missing":
        return ctx.i18n("st_target_missing")
    low, high = to_float(row.get("target_low")), to_float(row.get("target_high"))
    if low is not None and high is not None:
        return f"{ctx.fmt(kpi, low)} – {ctx.fmt(kpi, high)}"
    return ctx.fmt(kpi, row.get("target_value"))


def _actual_text(ctx: Context, kpi: str, row: dict[str, Any]) -> str:
    """The actual value, or "no data" before the KPI's data start (never 0)."""
    return ctx.fmt(kpi, row.get("actual_value")) if has_data(row) else ctx.i18n("no_data_value")


def _att_label(ctx: Context, row: dict[str, Any]) -> str:
    return ctx.i18n("attainment_to_date") if is_pace_row(row) else ctx.i18n("attainment")


def _status_text(ctx: Context, row: dict[str, Any]) -> str:
    t = ctx.i18n
    if not has_data(row):
        return t("st_no_data")
    if is_partial(row):
        return t("st_partial")
    state = target_state(row)
    if state in ("rejected", "missing"):
        return t(f"st_target_{state}")
    return t.status(row.get("status"), verified=_verified(row))


def _row_chip(ctx: Context, row: dict[str, Any]) -> Html:
    """The status chip of a period: no data / target rejected / missing come before the status."""
    t = ctx.i18n
    if not has_data(row):
        return tag("span", t("st_no_data"), class_="chip st-none", title=t("no_data_note"))
    if is_partial(row):
        return tag("span", t("st_partial"), class_="chip st-none", title=t("partial_note"))
    state = target_state(row)
    if state == "rejected":
        return tag("span", t("st_target_rejected"), class_="chip st-missed")
    if state == "missing":
        return tag("span", t("st_target_missing"), class_="chip st-none")
    return status_chip(ctx, row.get("status"), _verified(row), explain=False)


def _unit_issue_count(data: _Data, unit: str) -> int:
    return sum(1 for a in data.attention_items if a.unit == unit)


def _unit_section(ctx: Context, data: _Data, page: Page, unit: str, tile_rows: list[dict[str, Any]]) -> Html:
    t = ctx.i18n
    info = ctx.scope.unit(unit)
    crumbs = [ctx.unit_link(a, with_id=False) for a in ctx.scope.ancestors(unit)]
    is_root = unit in ctx.scope.roots
    scores = " · ".join(f"{t(g)} {format_pct((data.scores.get((unit, g)) or {}).get('score'))}" for g in GRAINS)
    issues = _unit_issue_count(data, unit)
    title = tag("h2", ctx.unit_name(unit), " ", tag("span", f"{unit} · {t.unit_type(info.get('unit_type'))}", class_="sub"))
    head: list[Html] = [tag("div", *_joined(crumbs, " › "), class_="crumbs") if crumbs else Html("")]
    body: list[Html] = []
    if is_root:
        head.append(title)
    body.append(_score_stats(ctx, data, unit))
    kids = ctx.scope.children(unit)
    if kids:
        body.append(tag("div", tag("b", t("children"), ": "), *_joined([ctx.unit_link(k, with_id=False) for k in kids], " · "),
                        class_="note"))
    tiles = [_tile(ctx, data, unit, kpi, tile_rows) for kpi in data.kpis_of(ctx, unit)]
    body.append(tag("div", *tiles, class_="grid") if tiles else tag("p", t("no_data"), class_="empty"))
    body.append(_breakdown_table(ctx, data, page, unit))
    if kids:
        body.append(_leaderboard_table(ctx, data, page, unit))
    body.append(tag("p", tag("a", "↑ " + t("back_to_top"), href="#top"), class_="note noprint"))
    level = min(ctx.scope.depth(unit) + 1, 4)
    if is_root:
        return tag("section", *head, *body, class_=f"unit level-{level}", id=anchor_id("u", unit))
    flag = tag("span", t("issues_count").format(n=issues), class_="chip st-at_risk") if issues else Html("")
    summary = tag("summary", title, " ", tag("span", scores, class_="sub"), " ", flag)
    return tag("section", *head, tag("details", summary, *body, class_="fold"), class_=f"unit level-{level}",
               id=anchor_id("u", unit))


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
    rows = {g: data.current[(unit, kpi, g)] for g in GRAINS if (unit, kpi, g) in data.current}
    head_row = rows.get("year") or rows.get("quarter") or rows.get("month")
    verified_all = all(_verified(r) for r in rows.values())
    head_status = head_row.get("status") if head_row and has_data(head_row) and target_state(head_row) == "ok" else None
    cls = theme.status_class(head_status, _verified(head_row) and verified_all)
    blocks: list[Html] = []
    sources: list[str] = []
    said: set[str] = set()  # why a value is unverified, said once per tile
    for grain, row in rows.items():
        blocks.append(_period_block(ctx, data, unit, kpi, grain, row, said))
        note = _source_note(ctx, row)
        if note and note not in sources:
            sources.append(note)
        fc = data.forecast.get((unit, kpi, grain)) or {}
        verified = _verified(row)
        tile_rows.append({
            "org_unit_id": unit, "org_unit": ctx.unit_name(unit), "kpi_id": kpi, "kpi": ctx.kpi_name(kpi),
            "grain": grain, "period_start": row.get("period_start"), "period_end": row.get("period_end"),
            "actual_value": to_float(row.get("actual_value")), "target_value": to_float(row.get("target_value")),
            "target_low": to_float(row.get("target_low")), "target_high": to_float(row.get("target_high")),
            "attainment": to_float(row.get("attainment")), "expected_to_date": to_float(row.get("expected_to_date")),
            "attainment_to_date": to_float(row.get("attainment_to_date")),
            "headline_attainment": _effective_attainment(row),
            "status": None if not verified else row.get("status"),
            "is_complete": row.get("is_complete"), "is_verified": verified,
            "data_status": row.get("data_status") or ("ok" if has_data(row) else "no_data"),
            "target_status": target_state(row), "target_source": row.get("target_source"),
            "target_note": ctx.free_text(row.get("target_note")) or None, "plan_version": row.get("plan_version"),
            "plan_file": row.get("plan_file"), "unverified_reason": ctx.free_text(row.get("unverified_reason")) or None,
            "unverified_tables": row.get("unverified_tables"), "weight": weight,
            "forecast_value": to_float(fc.get("forecast_value")),
            "probability_on_target": to_float(fc.get("probability_on_target")),
        })
    weight_badge = tag("span", f"{t('weight')} {weight:g}" if weight is not None else t("unweighted"), class_="wt")
    header = tag("header", tag("div", tag("h4", ctx.kpi_name(kpi)), tag("span", kpi, class_="kid")), weight_badge)
    trend = _trend(ctx, data, unit, kpi)
    source = Html("")
    if sources:
        source = tag("div", tag("b", t("target_source"), ": "), "; ".join(sources), class_="src")
    checkin = Html("")
    notes = data.checkins.get((unit, kpi))
    if notes:
        last = notes[-1]
        when = str(last.get("created_at") or "")[:10]
        who = f"{t('latest_checkin')} · {ctx.author(last.get('author'))}" + (f" · {when}" if when else "")
        checkin = tag("div", tag("div", who, class_="who"), ctx.free_text(last.get("comment")), class_="checkin")
    return tag("article", header, *blocks, trend, source, checkin, class_=f"tile st-{cls}",
               id=anchor_id("u", unit, "k", kpi))


def _source_note(ctx: Context, row: dict[str, Any]) -> str:
    """Where an `ok` target comes from (rejected / missing targets say so in their period block)."""
    if target_state(row) != "ok":
        return ""
    t = ctx.i18n
    labels = {"set": t("src_set"), "allocated": t("src_allocated"), "catalog_rule": t("src_catalog_rule")}
    return ctx.free_text(attention.target_source_text(row, labels))


def _period_block(ctx: Context, data: _Data, unit: str, kpi: str, grain: str, row: dict[str, Any],
                  said: set[str]) -> Html:
    t = ctx.i18n
    verified = _verified(row)
    complete = is_complete(row)
    state = target_state(row)
    running = Html("") if complete else Html(" ") + tag("span", f"({t('running')})", class_="sub")
    label = tag("span", f"{t(grain)} · {t.period(row['period_start'], grain)}", running, class_="pl")
    line1 = tag("div", label, _row_chip(ctx, row), class_="line")
    extra: list[Html] = []
    if not has_data(row):
        return tag("div", line1, tag("div", t("no_data_note"), class_="pace"), class_="prow")
    pace = is_pace_row(row) and state == "ok"
    target = to_float(row.get("target_value"))
    expected = to_float(row.get("expected_to_date")) if pace else None
    headline = _effective_attainment(row) if state == "ok" else None
    bullet = Html("")
    if state == "ok":
        bullet = svg.bullet(
            actual=to_float(row.get("actual_value")), target=expected if pace else target,
            full_target=target if pace else None,
            low=to_float(row.get("target_low")), high=to_float(row.get("target_high")), direction=ctx.direction(kpi),
            amber=ctx.amber(kpi), verified=verified,  # no title: the numbers are written right below it
        )
    # the headline: attainment to date against the phased target for a running period (the number
    # the score uses), the attainment of the period otherwise
    head = tag("div", tag("b", format_pct(headline), class_="big"), " ",
               tag("span", t("attainment_to_date") if pace else t("attainment"), class_="lbl"),
               class_="headline") if state == "ok" else Html("")
    if pace:
        nums = tag("div", f"{t('actual_to_date')} ", tag("b", ctx.fmt(kpi, row.get("actual_value"))), " · ",
                   f"{t('expected_to_date')} ", ctx.fmt(kpi, expected), class_="nums")
        so_far = (to_float(row.get("actual_value")) or 0.0) / target if target else None
        extra.append(tag("div", f"{t('full_period')}: {t('target')} {ctx.fmt(kpi, target)} · "
                                + t("reached_so_far").format(pct=format_pct(so_far)), class_="pace"))
    else:
        nums = tag("div", f"{t('actual')} ", tag("b", _actual_text(ctx, kpi, row)), " · ",
                   f"{t('target_range') if ctx.direction(kpi) == 'target_range' else t('target')} ",
                   _target_text(ctx, kpi, row), class_="nums")
    fc = data.forecast.get((unit, kpi, grain))
    if fc and not complete:
        prob = to_float(fc.get("probability_on_target"))
        extra.append(tag("div", f"{t('forecast')}: {ctx.fmt(kpi, fc.get('forecast_value'))} "
                                f"({ctx.fmt(kpi, fc.get('forecast_low'))} – {ctx.fmt(kpi, fc.get('forecast_high'))})"
                                + (f" · {t('probability_on_target')} {format_pct(prob, 0)}" if prob is not None else ""),
                         class_="pace"))
    if state in ("rejected", "missing"):
        extra.append(tag("div", _why(ctx, kpi, attention.Issue(f"target_{state}", grain, row.get("period_start"), row)),
                         class_="why bad" if state == "rejected" else "why"))
    note = ctx.free_text(row.get("verification_note"))
    if verified and note and note not in said:  # verified after all: the open problems cannot change the status
        said.add(note)
        extra.append(tag("div", t("verified_note").format(note=note), class_="why"))
    if not verified:
        why = _why(ctx, kpi, attention.Issue("unverified", grain, row.get("period_start"), row))
        if str(why) not in said:
            said.add(str(why))
            extra.append(tag("div", why, class_="why"))
    return tag("div", line1, head, bullet, nums, *extra, class_="prow")


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
    running_month = data.periods["month"]
    # the running month is to date: hollow and dashed, so it never reads as a drop
    partial = running_month in months and data.month_running
    lines = [svg.Line(last_year, "#9aa5b1", dash="4 3", width=1.4, label=t("last_year"), cls="ly"),
             svg.Line(target_vals, "#000000", dash="1 3", width=1.6, label=t("target"), cls="tg"),
             svg.Line(this_year, theme.ACCENT, label=t("this_year"), partial_last=partial, cls="ty")]
    title = t("trend")
    if partial:
        title += f" · {t.month_short(running_month.month)}: {t('partial_period')}"
    chart = svg.trend([t.month_short(m.month) for m in months], lines, band=band,
                      fmt=lambda v: ctx.fmt(kpi, v), title=title)
    if not chart:
        return Html("")
    return tag("div", chart, class_="trend-wrap")


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
