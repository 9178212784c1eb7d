"""Self-contained HTML pages: escaping, tables, embedded plotly figures, CSS, and atomic writing.

Escaping is structural: `Html` marks trusted markup built here; `esc()` escapes everything else, and
every helper runs its inputs through `esc()`. Figure JSON is embedded in a
``<script type="application/json">`` block with ``<``, ``>``, ``&`` and the JS line separators written
as ``\\uXXXX`` escapes, so no string inside a figure can close the script element; strings shown by
plotly are HTML-escaped before they go into a figure (plotly renders a subset of HTML in labels).
plotly.js comes from the installed plotly package and is written once per report folder as
``plotly.min.js``, which every page with a chart references by relative path (so the night's reports
share one bundle and still open offline from the folder); nothing is loaded from the network.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import markupsafe
import numpy as np
import pandas as pd

from reports import theme
from reports.i18n import I18n


class Html(str):
    """A string of trusted markup: `esc` passes it through, every other value is escaped."""

    __slots__ = ()

    def __html__(self) -> str:  # markupsafe's protocol: trusted markup is not escaped again
        return self

    def __add__(self, other: object) -> Html:  # keeps the marker when markup is concatenated
        return Html(str.__add__(self, esc(other)))


def esc(value: Any) -> Html:
    """Escape a value for HTML text or a quoted attribute (`Html` passes through unchanged):
    ``& < > " '`` become ``&amp; &lt; &gt; &#34; &#39;`` (markupsafe)."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    if isinstance(value, float) and math.isnan(value):
        return Html("")
    return Html(markupsafe.escape(str(value)))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(esc(sep).join(esc(p) for p in parts))


def tag(name: str, *children: Any, **attrs: Any) -> Html:
    """`<name attr="…">children</name>`; attribute names: `class_` → `class`, `data_x` → `data-x`."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        rendered.append(f" {attr}" if value is True else f' {attr}="{esc(value)}"')
    return Html(f"<{name}{''.join(rendered)}>{join(children)}</{name}>")


def anchor_id(*parts: str) -> str:
    """A fragment id from org unit / KPI ids (only [A-Za-z0-9_-])."""
    return "-".join(re.sub(r"[^A-Za-z0-9_-]", "_", str(p)) for p in parts)


def plot_text(value: Any) -> str:
    """A string for a plotly label/hover text: HTML-escaped (plotly renders a subset of HTML)."""
    return str(esc(value))


def chip(text: str, status_cls: str, *, title: str | None = None) -> Html:
    return tag("span", text, class_=f"chip st-{status_cls}", title=title)


# --- tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column: `key` in the row mapping, header `label`, optional cell renderer."""

    key: str
    label: str
    render: Callable[[Mapping[str, Any]], Any] | None = None
    num: bool = False
    #: long unbreakable text (rule names, messages, paths) may break anywhere, so the table fits
    wrap: bool = False

    def cell(self, row: Mapping[str, Any]) -> Html:
        value = self.render(row) if self.render else row.get(self.key)
        return tag("td", value, class_="num" if self.num else ("wrap" if self.wrap else None))


def html_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[Col], *, cls: str = "data",
               row_id: Callable[[Mapping[str, Any]], str | None] | None = None) -> Html:
    """A table; on a narrow screen each row becomes a card (the CSS reads the column labels from the
    `data-label` of the cells). `row_id` gives a row an anchor (e.g. `src-erp-orders`)."""
    head = Html("".join(tag("th", c.label, class_="num" if c.num else None) for c in cols))
    labels = [esc(c.label) for c in cols]

    def cells(r: Mapping[str, Any]) -> Html:
        return Html("".join(c.cell(r).replace("<td", f'<td data-label="{lab}"', 1) for c, lab in zip(cols, labels, strict=True)))

    body = Html("".join(tag("tr", cells(r), id=row_id(r) if row_id else None) for r in rows))
    return Html(f'<div class="table-wrap"><table class="{esc(cls)}"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")


# --- figures -------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean_nan(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(value: Any) -> str:
    """JSON that is safe inside a `<script>` element (no `<`, `>`, `&` or line separators)."""
    text = json.dumps(_clean_nan(value), default=_json_default, ensure_ascii=False, separators=(",", ":"))
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


#: the shared plotly.js file beside the reports of a folder
PLOTLY_FILE = "plotly.min.js"


def write_plotly_bundle(out_dir: Path) -> Path:
    """`<out_dir>/plotly.min.js` (written atomically, only when missing or different)."""
    path = Path(out_dir) / PLOTLY_FILE
    data = plotly_js().encode("utf-8")
    if not path.exists() or path.stat().st_size != len(data) or path.read_bytes() != data:
        _atomic_write_bytes(path, data)
    return path


# --- the page ------------------------------------------------------------------------------------


@dataclass
class Page:
    """One report page: header, body parts, figures (rendered by plotly.js) and exported tables."""

    stem: str
    title: str
    i18n: I18n
    meta: list[tuple[str, str]] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    nav: Html | None = None

    def add(self, *markup: Html) -> None:
        for m in markup:
            if not isinstance(m, Html):
                raise TypeError("Page.add takes Html (escape text with esc())")
            self.parts.append(m)

    def figure(self, figure: Mapping[str, Any], *, height: int = 320, cls: str = "chart") -> Html:
        """Register a plotly figure (a dict with `data` and `layout`); return its placeholder.

        The figure's title is drawn as an HTML heading above the chart, not by plotly: it wraps on a
        narrow screen and nothing inside the plot (legend, buttons) can cover it."""
        fig_id = f"fig-{len(self.figures) + 1}"
        layout = dict(figure.get("layout") or {})
        title = layout.pop("title", None)
        title_text = title.get("text") if isinstance(title, Mapping) else title
        # the text is already HTML-escaped by `plot_text` (charts.py)
        heading = Html("") if not title_text else tag("div", Html(str(title_text)), class_="chart-title")
        layout.setdefault("height", height)
        layout.setdefault("autosize", True)
        font = dict(layout.get("font") or {})
        font.setdefault("family", theme.FONT_STACK)
        font.setdefault("size", 12)
        font.setdefault("color", theme.INK)
        layout["font"] = font
        layout.setdefault("margin", {"l": 50, "r": 20, "t": 36, "b": 40})
        layout.setdefault("paper_bgcolor", "#ffffff")
        layout.setdefault("plot_bgcolor", "#ffffff")
        self.figures.append({"id": fig_id, "figure": {"data": list(figure.get("data") or []), "layout": layout}})
        return heading + tag("div", "", class_=cls, id=fig_id, style=f"height:{int(height)}px")

    def table(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        cols: Sequence[Col],
        *,
        export: pd.DataFrame | None = None,
        cls: str = "data",
        row_id: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> Html:
        """An HTML table; `export` (default: the rows) is appended to `<stem>__<name>.csv|parquet`."""
        frame = export if export is not None else pd.DataFrame(list(rows))
        self.export(name, frame, columns=[c.key for c in cols])
        if not rows:
            return tag("p", self.i18n("no_data"), class_="empty")
        return html_table(rows, cols, cls=cls, row_id=row_id)

    def export(self, name: str, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> None:
        """Append `frame` to the table file `<stem>__<name>`; an empty frame without columns gets
        `columns` (so even an empty table is a CSV with a header)."""
        if not re.fullmatch(r"[a-z0-9_]+", name):
            raise ValueError(f"table name {name!r}: use [a-z0-9_]")
        if not len(frame.columns) and columns:
            frame = pd.DataFrame(columns=list(columns))
        self.tables.setdefault(name, []).append(frame)

    def render(self) -> str:
        t = self.i18n
        meta = "".join(f"<span><b>{esc(k)}</b> {esc(v)}</span>" for k, v in self.meta)
        parts = [
            "<!DOCTYPE html>",
            f'<html lang="{t.html_lang}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{esc(self.title)}</title>",
            f"<style>{CSS}</style></head>",
            f'<body class="lang-{t.lang}"><a id="top"></a>',
            f'<header class="report-head"><h1>{esc(self.title)}</h1><div class="meta">{meta}</div>'
            f'<button class="print-btn" type="button" onclick="window.print()">{esc(t("print_hint"))}</button>'
            "</header>",
        ]
        if self.nav is not None:
            parts.append(f'<nav class="toc"><h2>{esc(t("contents"))}</h2>{self.nav}</nav>')
        parts.append('<main class="report">')
        parts.extend(self.parts)
        parts.append("</main>")
        parts.append(f'<footer class="report-foot"><p>{esc(t("csv_note"))}</p></footer>')
        if self.figures:
            parts.append(f'<script type="application/json" id="kpi-figures">{script_json(self.figures)}</script>')
            parts.append(f'<p class="note noprint" id="charts-missing" hidden>{esc(t("charts_missing"))}</p>')
            parts.append(f'<script src="{PLOTLY_FILE}"></script>')
        else:
            parts.append('<script type="application/json" id="kpi-figures">[]</script>')
        parts.append(f"<script>{RENDER_JS}</script>")
        parts.append("</body></html>")
        return "\n".join(parts)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype == object:
            kinds = {type(v) for v in series if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float, dt.date, dt.datetime, pd.Timestamp}):
                out[col] = series.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return out


def write_page(page: Page, out_dir: Path) -> Path:
    """Write `<stem>.html` and each table as `<stem>__<name>.csv` / `.parquet`, atomically; remove
    table files of the same stem left over from an earlier run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    for name, frames in page.tables.items():
        with_columns = [f for f in frames if len(f.columns)]
        nonempty = [f for f in with_columns if len(f)]
        if nonempty:
            frame = pd.concat(nonempty, ignore_index=True)
        else:
            frame = with_columns[0] if with_columns else pd.DataFrame({"_empty": pd.Series(dtype=object)})
        csv_path = out_dir / f"{page.stem}__{name}.csv"
        _atomic_write_bytes(csv_path, frame.to_csv(index=False).encode("utf-8"))
        pq_path = out_dir / f"{page.stem}__{name}.parquet"
        tmp = pq_path.with_name(f".{pq_path.name}.tmp-{os.getpid()}")
        _parquet_ready(frame).to_parquet(tmp, index=False)
        os.replace(tmp, pq_path)
        written.update({csv_path.name, pq_path.name})
    for stale in out_dir.glob(f"{page.stem}__*"):
        if stale.suffix in (".csv", ".parquet") and stale.name not in written:
            stale.unlink()
    if page.figures:
        write_plotly_bundle(out_dir)
    html_path = out_dir / f"{page.stem}.html"
    _atomic_write_bytes(html_path, page.render().encode("utf-8"))
    return html_path


def safe_stem(*parts: str | None) -> str:
    """A file stem from report kind, org id, period and language (only [A-Za-z0-9_.-])."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]", "-", p) for p in parts if p)


RENDER_JS = r"""
(function () {
  "use strict";
  var node = document.getElementById("kpi-figures");
  var specs = node ? JSON.parse(node.textContent) : [];
  var state = {total: specs.length, rendered: 0, failed: 0, done: specs.length === 0};
  window.kpiCharts = state;
  var byId = {};
  specs.forEach(function (s) { byId[s.id] = s; });
  function finish() {
    if (state.rendered + state.failed === state.total) {
      state.done = true;
      document.body.setAttribute("data-charts-done", "1");
    }
  }
  function draw(spec) {
    if (!spec || spec.started) { return spec && spec.promise ? spec.promise : Promise.resolve(); }
    spec.started = true;
    var el = document.getElementById(spec.id);
    if (!el || typeof Plotly === "undefined") {
      var note = document.getElementById("charts-missing");
      if (note) { note.hidden = false; }
      state.failed++; finish(); return Promise.resolve();
    }
    // no toolbar: on a phone it covered titles and legends; drag zooms, a double click resets
    var config = {displaylogo: false, responsive: true, displayModeBar: false};
    spec.promise = Plotly.newPlot(el, spec.figure.data, spec.figure.layout, config).then(function () {
      state.rendered++; el.setAttribute("data-rendered", "1"); finish();
    }, function (err) { state.failed++; console.error("chart " + spec.id + ": " + err); finish(); });
    return spec.promise;
  }
  state.renderAll = function () { return Promise.all(specs.map(draw)); };
  if (state.done) { document.body.setAttribute("data-charts-done", "1"); }
  if ("IntersectionObserver" in window) {
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { io.unobserve(e.target); draw(byId[e.target.id]); }
      });
    }, {rootMargin: "800px 0px"});
    specs.forEach(function (s) { var el = document.getElementById(s.id); if (el) { io.observe(el); } });
  }
  var next = 0;
  function background() {
    var n = 0;
    while (next < specs.length && n < 3) { if (!specs[next].started) { draw(specs[next]); n++; } next++; }
    if (next < specs.length) { setTimeout(background, 40); }
  }
  setTimeout(background, 60);
  function resizeAll() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
  }
  // collapsed sections: a link into one opens it; opening one redraws the charts inside at their size
  function openTarget() {
    var id = decodeURIComponent((location.hash || "").slice(1));
    var el = id ? document.getElementById(id) : null;
    var opened = false;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === "DETAILS" && !p.open) { p.open = true; opened = true; }
    }
    var own = el ? el.querySelector(":scope > details.fold") : null;  // a folded unit section itself
    if (own && !own.open) { own.open = true; opened = true; }
    if (opened && el) { el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.querySelectorAll("details").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (!d.open || typeof Plotly === "undefined") { return; }
      d.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
    });
  });
  var wasOpen = [];
  window.addEventListener("beforeprint", function () {
    wasOpen = [];
    document.querySelectorAll("details").forEach(function (d) { wasOpen.push(d.open); d.open = true; });
    specs.forEach(draw); resizeAll();
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details").forEach(function (d, i) { if (i < wasOpen.length) { d.open = wasOpen[i]; } });
    resizeAll();
  });
})();
"""

CSS = (
    """
:root { --ink: %(ink)s; --muted: %(muted)s; --grid: %(grid)s; --accent: %(accent)s; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%%; }
body { margin: 0; font-family: %(font)s; color: var(--ink); background: #f5f7f9; font-size: 14px;
       line-height: 1.45; -webkit-print-color-adjust: exact; print-color-adjust: exact; overflow-wrap: break-word; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.report-head { background: #102a43; color: #fff; padding: 18px 28px 14px; display: flex; flex-wrap: wrap;
               align-items: flex-start; gap: 6px 16px; }
.report-head h1 { margin: 0 0 6px; font-size: 22px; font-weight: 600; flex: 1 1 auto; }
.report-head .meta { flex: 1 1 100%%; order: 3; }
.report-head .meta { display: flex; flex-wrap: wrap; gap: 6px 22px; font-size: 13px; color: #d9e2ec; }
.report-head .meta b { color: #9fb3c8; font-weight: 500; margin-right: 4px; }
.print-btn { order: 2; background: transparent; color: #d9e2ec;
             border: 1px solid #486581; border-radius: 4px; padding: 3px 10px; cursor: pointer; font: inherit; }
nav.toc { background: #fff; border-bottom: 1px solid var(--grid); padding: 10px 28px; font-size: 13px; }
nav.toc h2 { font-size: 13px; margin: 0 0 4px; color: var(--muted); font-weight: 600; }
nav.toc ul { list-style: none; margin: 0; padding-left: 14px; }
nav.toc > ul { padding-left: 0; columns: 3 260px; }
nav.toc li { margin: 1px 0; break-inside: avoid; }
main.report { padding: 12px 28px 28px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--grid); border-radius: 6px; padding: 14px 18px;
          margin: 14px 0; }
section.unit { border-top: 4px solid #334e68; }
section h2 { margin: 0 0 8px; font-size: 18px; }
section h3 { margin: 16px 0 8px; font-size: 15px; color: #243b53; }
section h4 { margin: 0; font-size: 14px; }
.crumbs { font-size: 12px; color: var(--muted); margin-bottom: 4px; }
.crumbs a { color: var(--muted); }
.sub { color: var(--muted); font-size: 12px; font-weight: normal; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.note { color: var(--muted); font-size: 12px; margin: 4px 0 8px; }
.kpis-row { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 10px; }
.stat { border: 1px solid var(--grid); border-radius: 6px; padding: 6px 12px; min-width: 130px; background: #fbfcfd; }
.stat .v { font-size: 20px; font-weight: 600; }
.stat .l { font-size: 12px; color: var(--muted); }
.stat.problem { border-color: %(red)s; } .stat.problem .v { color: %(red)s; }
.stat .v.st-met { color: %(met)s; } .stat .v.st-at_risk { color: %(amber)s; } .stat .v.st-missed { color: %(red)s; }
ul.report-list { list-style: none; padding: 0; margin: 0; }
ul.report-list > li { margin: 6px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(330px, 100%%), 1fr)); gap: 12px; }
.grid-wide { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(520px, 100%%), 1fr)); gap: 12px; }
.grid > *, .grid-wide > * { min-width: 0; }
.chart-title { font-size: 14px; font-weight: 600; color: #243b53; margin: 4px 0 2px; }
details.fold > summary { cursor: pointer; list-style: none; }
details.fold > summary::-webkit-details-marker { display: none; }
details.fold > summary::before { content: "▸"; display: inline-block; width: 1.1em; color: var(--muted); }
details.fold[open] > summary::before { content: "▾"; }
details.fold > summary h2, details.fold > summary h3 { display: inline; }
.more { color: var(--accent); font-size: 12px; }
.tile { border: 1px solid var(--grid); border-left: 5px solid #9aa5b1; border-radius: 6px; padding: 10px 12px;
        background: #fff; break-inside: avoid; page-break-inside: avoid; }
.tile.st-met, .tile.st-on_track { border-left-color: %(met)s; }
.tile.st-at_risk { border-left-color: %(amber)s; }
.tile.st-missed, .tile.st-off_track { border-left-color: %(red)s; }
.tile.st-unverified { border-left-style: dashed; border-left-color: #7b8794; background:
   repeating-linear-gradient(135deg, #fff, #fff 10px, #f4f5f7 10px, #f4f5f7 20px); }
.tile header { display: flex; justify-content: space-between; gap: 8px; align-items: baseline; }
.tile .kid { color: var(--muted); font-size: 11px; }
.tile .wt { font-size: 11px; color: #334e68; background: #e6eef7; border-radius: 10px; padding: 0 7px; white-space: nowrap; }
.prow { margin-top: 7px; }
.prow .line { display: flex; justify-content: space-between; gap: 6px; font-size: 12px; align-items: center; }
.prow .line .nums { color: var(--ink); }
.prow .pl { font-weight: 600; font-size: 12px; }
.prow .pace { font-size: 11px; color: var(--muted); }
.prow .headline { display: flex; align-items: baseline; gap: 6px; flex-wrap: wrap; margin: 1px 0; }
.prow .headline .big { font-size: 18px; }
.prow .headline .lbl { font-size: 11px; color: var(--muted); }
.prow .nums { font-size: 12px; }
.why { font-size: 11px; color: #52606d; background: #f4f5f7; border-radius: 4px; padding: 2px 6px; margin-top: 3px; }
.why.bad { color: %(red)s; background: #fde4e4; }
.tile .src { font-size: 11px; color: var(--muted); margin-top: 4px; }
.tile .src b { font-weight: 600; }
section.attention { border-top: 4px solid %(amber)s; }
ol.attention-list { margin: 4px 0 6px; padding-left: 22px; }
ol.attention-list > li { margin: 3px 0; }
ul.why-more { list-style: none; margin: 1px 0 2px; padding-left: 10px; font-size: 12px; }
.wt { font-size: 11px; color: #334e68; background: #e6eef7; border-radius: 10px; padding: 0 7px; white-space: nowrap; }
.trend-wrap { margin-top: 6px; }
.legend-line { font-size: 11px; color: var(--muted); display: flex; gap: 10px; flex-wrap: wrap; }
.legend-line i { display: inline-block; width: 14px; height: 0; border-top: 2px solid; vertical-align: middle; margin-right: 3px; }
svg.mini { display: block; width: 100%%; height: auto; overflow: visible; }
svg.mini text { font-family: %(font)s; }
.chip { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 11px; font-weight: 600;
        white-space: nowrap; border: 1px solid transparent; }
"""
    + "".join(
        f".chip.st-{k} {{ color: {c}; background: {bg}; border-color: {c}33; }}\n"
        for k, (c, bg) in theme.STATUS_COLORS.items()
    )
    + """
.chip.st-unverified { background: repeating-linear-gradient(135deg, #eceff1, #eceff1 4px, #dde1e5 4px, #dde1e5 8px);
                      border: 1px dashed #7b8794; }
.chip.sev-critical { background: #8e0000; color: #fff; } .chip.sev-high { background: #c62828; color: #fff; }
.chip.sev-medium { background: #d98200; color: #fff; } .chip.sev-low { background: #5c7080; color: #fff; }
.chip.flag { background: #fff3cd; color: #7a5a00; border-color: #e6c200; }
.table-wrap { overflow-x: auto; }
table.data { border-collapse: collapse; width: 100%%; font-size: 12.5px; margin: 4px 0 10px; }
table.data th, table.data td { border-bottom: 1px solid #e4e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
table.data td.wrap { overflow-wrap: anywhere; min-width: 7em; }
table.data th { background: #f0f4f8; font-weight: 600; color: #334e68; position: sticky; top: 0; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.matrix td { text-align: center; padding: 2px 4px; }
table.matrix td.unitcell { text-align: left; white-space: nowrap; }
.bar { display: inline-block; height: 9px; background: #486581; border-radius: 2px; vertical-align: middle; }
.barcell { display: flex; align-items: center; gap: 6px; justify-content: flex-end; }
.checkin { border-left: 3px solid #9fb3c8; padding: 2px 8px; margin: 2px 0; font-size: 12px; background: #f8fafc; }
.checkin .who { color: var(--muted); font-size: 11px; }
.miss { border: 1px solid #f2c4c4; border-radius: 6px; padding: 8px 12px; margin: 10px 0; background: #fffdfd;
        break-inside: avoid; }
.miss h4 { margin-bottom: 4px; }
.wf { margin: 4px 0 8px; }
.wf-title { font-size: 12px; font-weight: 600; color: #334e68; margin: 6px 0 2px; }
.card { border: 1px solid var(--grid); border-radius: 6px; padding: 10px 14px; margin: 10px 0; break-inside: avoid; }
.card .facts { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12.5px; margin: 4px 0; }
.card .facts b { color: var(--muted); font-weight: 500; margin-right: 3px; }
.chart { width: 100%%; min-height: 120px; }
@media (max-width: 640px) {
  .report-head { padding: 12px 14px 10px; }
  nav.toc { padding: 8px 14px; }
  main.report { padding: 8px 8px 20px; }
  section { padding: 10px 10px; }
  .report-foot { padding: 0 14px 20px; }
  /* tables become one card per row; the 2-D status matrix scrolls inside its own box instead */
  table.data:not(.matrix) thead { display: none; }
  table.data:not(.matrix), table.data:not(.matrix) tbody, table.data:not(.matrix) tr,
  table.data:not(.matrix) td { display: block; width: 100%%; }
  table.data:not(.matrix) tr { border-bottom: 1px solid var(--grid); padding: 4px 0; }
  table.data:not(.matrix) td { border: none; padding: 1px 4px; text-align: left !important; white-space: normal !important; }
  table.data:not(.matrix) td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: 11px; }
  table.data:not(.matrix) td.num { text-align: left; }
  .barcell { justify-content: flex-start; }
}
.report-foot { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 11px; }
  .report-head { background: #fff; color: var(--ink); border-bottom: 2px solid var(--ink); padding: 0 0 6px; }
  .report-head .meta, .report-head .meta b { color: var(--ink); }
  .print-btn, nav.toc, .noprint { display: none !important; }
  main.report { padding: 0; max-width: none; }
  section { border: none; padding: 0; margin: 8px 0; }
  section.unit { border-top: 2px solid #334e68; padding-top: 6px; }
  section.level-1, section.level-2 { break-before: page; }
  .grid { grid-template-columns: repeat(2, 1fr); }
  .grid-wide { grid-template-columns: 1fr; }
  .tile, .miss, .card, tr, .chart { break-inside: avoid; page-break-inside: avoid; }
  table.data th { position: static; }
  a { color: inherit; }
}
"""
) % {
    "font": theme.FONT_STACK,
    "ink": theme.INK,
    "muted": theme.MUTED,
    "grid": theme.GRID,
    "accent": theme.ACCENT,
    "met": theme.STATUS_COLORS["met"][0],
    "amber": theme.STATUS_COLORS["at_risk"][0],
    "red": theme.STATUS_COLORS["missed"][0],
} + theme.SVG_CSS  # already formatted (it has % signs of its own)
