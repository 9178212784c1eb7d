"""Plotly figures (as plain figure dicts: `{"data": [...], "layout": {...}}`, which plotly.js draws
and `plotly.graph_objects.Figure(fig)` accepts) for the larger charts of the reports.

Every string that reaches a figure goes through `plot_text` here (plotly renders a subset of HTML
in labels, so user text is HTML-escaped first); callers pass raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reports import theme
from reports.html import plot_text

Figure = dict[str, Any]


def _t(value: Any) -> str:
    return plot_text(value)


#: legends sit above the plot (titles are HTML headings outside the figure, there is no toolbar), so
#: nothing can overlap them when they wrap on a narrow screen
TOP_LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}


#: category labels longer than this are shortened on the axis (the hover keeps them whole): on a
#: phone a long label would push the plot out of the page
MAX_TICK = 36


def _category_axis(categories: Sequence[str], **extra: Any) -> dict[str, Any]:
    """An axis over (escaped) category labels, with long ones shortened for display."""
    axis = _axis(**extra)
    if any(len(c) > MAX_TICK for c in categories):
        axis["tickmode"] = "array"
        axis["tickvals"] = list(categories)
        axis["ticktext"] = [c if len(c) <= MAX_TICK else c[: MAX_TICK - 1] + "…" for c in categories]
    return axis


def _axis(**extra: Any) -> dict[str, Any]:
    base = {"gridcolor": theme.GRID, "zerolinecolor": "#9aa5b1", "automargin": True}
    base.update(extra)
    return base


@dataclass(frozen=True)
class TreeNode:
    id: str
    parent: str
    label: str
    colour: str
    hover: tuple[str, ...]


def goal_tree(views: Sequence[tuple[str, Sequence[TreeNode]]], *, title: str) -> Figure:
    """A sunburst per view (e.g. month / quarter / year), switched by buttons; segment colours are
    precomputed from attainment (grey when unverified or without a target)."""
    data = []
    for i, (_, nodes) in enumerate(views):
        short = {n.id: f"n{j}" for j, n in enumerate(nodes)}  # short ids keep a big tree light
        data.append({
            "type": "sunburst",
            "ids": [short[n.id] for n in nodes],
            "parents": [short.get(n.parent, "") for n in nodes],
            "labels": [_t(n.label) for n in nodes],
            "customdata": ["<br>".join(_t(line) for line in n.hover) for n in nodes],
            "hovertemplate": "%{currentPath}%{label}<br>%{customdata}<extra></extra>",
            "marker": {"colors": [n.colour for n in nodes], "line": {"color": "#ffffff", "width": 1}},
            "branchvalues": "remainder",
            "maxdepth": 3,
            "insidetextorientation": "radial",
            "visible": i == len(views) - 1,
        })
    buttons = [
        {
            "label": _t(label),
            "method": "restyle",
            "args": [{"visible": [j == i for j in range(len(views))]}],
        }
        for i, (label, _) in enumerate(views)
    ]
    layout: dict[str, Any] = {
        "title": {"text": _t(title), "x": 0.01, "font": {"size": 14}},
        "margin": {"l": 10, "r": 10, "t": 40 if len(views) > 1 else 10, "b": 10},
        "updatemenus": [{
            "type": "buttons", "direction": "right", "x": 0.0, "xanchor": "left", "y": 1.0, "pad": {"b": 6},
            "yanchor": "bottom", "buttons": buttons, "active": len(views) - 1, "showactive": True,
            "bgcolor": "#f0f4f8", "font": {"size": 11},
        }] if len(views) > 1 else [],
    }
    return {"data": data, "layout": layout}


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    x_title: str = "",
    percent: bool = True,
    reference: float | None = 1.0,
) -> Figure:
    """Horizontal grouped bars (one group per category), e.g. scores of sub-units per period."""
    palette = ("#9fb3c8", "#486581", "#102a43", "#d98200")
    cats = [_t(c) for c in categories]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": _t(name),
            "y": cats,
            "x": list(values),
            "marker": {"color": palette[i % len(palette)]},
            "hovertemplate": "%{y}: %{x:.1%}<extra>" + _t(name) + "</extra>" if percent else None,
        }
        for i, (name, values) in enumerate(series)
    ]
    for trace in data:
        if trace["hovertemplate"] is None:
            del trace["hovertemplate"]
    layout: dict[str, Any] = {
        "title": {"text": _t(title), "x": 0.01, "font": {"size": 14}},
        "barmode": "group",
        "xaxis": _axis(title={"text": _t(x_title)}, tickformat=".0%" if percent else None),
        "yaxis": _category_axis(cats, autorange="reversed"),
        "legend": dict(TOP_LEGEND),
        "margin": {"l": 10, "r": 20, "t": 24, "b": 40},
    }
    if layout["xaxis"]["tickformat"] is None:
        del layout["xaxis"]["tickformat"]
    if reference is not None:
        layout["shapes"] = [{"type": "line", "xref": "x", "yref": "paper", "x0": reference, "x1": reference,
                             "y0": 0, "y1": 1, "line": {"color": "#000", "width": 1, "dash": "dot"}}]
    return {"data": data, "layout": layout}


def stacked_bars(
    categories: Sequence[str],
    stacks: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    horizontal: bool = True,
) -> Figure:
    """Stacked bars: `stacks` = (name, values per category, colour)."""
    cats = [_t(c) for c in categories]
    data = []
    for name, values, colour in stacks:
        trace: dict[str, Any] = {"type": "bar", "name": _t(name), "marker": {"color": colour}}
        if horizontal:
            trace.update(orientation="h", y=cats, x=list(values))
        else:
            trace.update(x=cats, y=list(values))
        data.append(trace)
    layout: dict[str, Any] = {
        "title": {"text": _t(title), "x": 0.01, "font": {"size": 14}},
        "barmode": "stack",
        "xaxis": _axis() if horizontal else _category_axis(cats),
        "yaxis": _category_axis(cats, autorange="reversed") if horizontal else _axis(),
        "legend": dict(TOP_LEGEND),
        "margin": {"l": 10, "r": 20, "t": 24, "b": 30},
    }
    return {"data": data, "layout": layout}


def waterfall(
    labels: Sequence[str],
    values: Sequence[float],
    texts: Sequence[str],
    *,
    total_label: str,
    total_text: str,
    good_sign: int,
    title: str,
) -> Figure:
    """A gap waterfall: the parts (relative) and the gap (total), coloured by whether each part moves
    the KPI the good way."""
    good = {"marker": {"color": theme.GOOD}}
    bad = {"marker": {"color": theme.BAD}}
    trace = {
        "type": "waterfall",
        "orientation": "v",
        "measure": ["relative"] * len(values) + ["total"],
        "x": [_t(label) for label in labels] + [_t(total_label)],
        "y": list(values) + [None],
        "text": [_t(t) for t in texts] + [_t(total_text)],
        "textposition": "outside",
        "hovertemplate": "%{x}: %{text}<extra></extra>",
        "increasing": good if good_sign > 0 else bad,
        "decreasing": bad if good_sign > 0 else good,
        "totals": {"marker": {"color": theme.TOTAL}},
        "connector": {"line": {"color": "#9aa5b1", "dash": "dot"}},
        "cliponaxis": False,
    }
    layout = {
        "title": {"text": _t(title), "x": 0.01, "font": {"size": 13}},
        "showlegend": False,
        "xaxis": _axis(tickangle=-30),
        "yaxis": _axis(),
        "margin": {"l": 60, "r": 20, "t": 16, "b": 80},
    }
    return {"data": [trace], "layout": layout}


def anomaly_chart(
    *,
    x: Sequence[Any],
    y: Sequence[float | None],
    band_x: Sequence[Any],
    lower: Sequence[float | None],
    upper: Sequence[float | None],
    expected: Sequence[float | None],
    flagged_x: Sequence[Any],
    flagged_y: Sequence[float | None],
    peak: tuple[Any, float | None],
    labels: dict[str, str],
    colour: str,
) -> Figure:
    """The series, the expected band over the anomaly's span, the flagged points and the peak."""
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": list(band_x), "y": list(upper), "line": {"width": 0},
         "hoverinfo": "skip", "showlegend": False, "name": _t(labels["band"])},
        {"type": "scatter", "mode": "lines", "x": list(band_x), "y": list(lower), "line": {"width": 0},
         "fill": "tonexty", "fillcolor": "rgba(46,139,87,0.18)", "name": _t(labels["band"]),
         "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": list(band_x), "y": list(expected),
         "line": {"color": theme.GOOD, "dash": "dash", "width": 1.5}, "name": _t(labels["expected"])},
        {"type": "scatter", "mode": "lines", "x": list(x), "y": list(y),
         "line": {"color": "#334e68", "width": 1.6}, "name": _t(labels["series"])},
        {"type": "scatter", "mode": "markers", "x": list(flagged_x), "y": list(flagged_y),
         "marker": {"color": colour, "size": 8, "line": {"color": "#fff", "width": 1}},
         "name": _t(labels["flagged"])},
    ]
    if peak[1] is not None:
        data.append({"type": "scatter", "mode": "markers", "x": [peak[0]], "y": [peak[1]],
                     "marker": {"color": colour, "size": 14, "symbol": "circle-open", "line": {"width": 2.5}},
                     "name": _t(labels["peak"])})
    layout = {
        "showlegend": True,
        "legend": dict(TOP_LEGEND, font={"size": 11}),
        # numeric dates: plotly's month names are English only (no locale bundle offline)
        "xaxis": _axis(type="date", tickformat="%m-%d", hoverformat="%Y-%m-%d"),
        "yaxis": _axis(),
        "margin": {"l": 60, "r": 16, "t": 24, "b": 40},
        "hovermode": "x unified",
    }
    return {"data": data, "layout": layout}
