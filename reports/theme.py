"""Colours and fonts shared by the page CSS, the inline SVG charts and the plotly figures."""

from __future__ import annotations

#: CJK first so Chinese renders in Noto/Source Han/PingFang/YaHei; Latin falls through to system fonts.
FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", system-ui, -apple-system, "Segoe UI", Roboto, '
    '"Helvetica Neue", Arial, sans-serif'
)

INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#d9dee4"
ACCENT = "#1f5fa8"

#: status → (strong colour, light background)
STATUS_COLORS: dict[str, tuple[str, str]] = {
    "met": ("#1b7f3b", "#e3f4e8"),
    "on_track": ("#1b7f3b", "#e3f4e8"),
    "at_risk": ("#a86400", "#fff1d6"),
    "missed": ("#c62828", "#fde4e4"),
    "off_track": ("#c62828", "#fde4e4"),
    "none": ("#616e7c", "#eceff1"),
    "unverified": ("#52606d", "#e4e7eb"),
}

BAND_GREEN = "#cdebd5"
BAND_AMBER = "#ffe3b3"
BAND_RED = "#f9d0d0"
BAND_GREY = "#e4e7eb"
BAND_GREY_DARK = "#cfd5db"

GOOD = "#2e8b57"
BAD = "#d64545"
NEUTRAL = "#7b8794"
TOTAL = "#3e4c59"

SEVERITY_COLORS = {"critical": "#8e0000", "high": "#c62828", "medium": "#d98200", "low": "#5c7080"}

_STOPS = ((0.0, (198, 40, 40)), (0.25, (232, 160, 32)), (0.5, (176, 214, 120)), (1.0, (27, 127, 59)))


#: the CSS of the inline SVG charts (reports.svg), included once per page
SVG_CSS = (
    # bullets (reports.svg.bullet): bands from a gradient over --b1 … --b4, bar <b>, target <i>,
    # full-period target <s> (dashed); `.u` (unverified) greys the bands
    ".bl { position: relative; height: 22px; margin: 2px 0; --g: %(g)s; --a: %(a)s; --r: %(r)s; "
    "background: linear-gradient(90deg, var(--c1) 0 var(--b1), var(--c2) var(--b1) var(--b2), "
    "var(--c3) var(--b2) var(--b3, 100%%), var(--c4, var(--c3)) var(--b3, 100%%) var(--b4, 100%%), "
    "var(--c5, var(--c3)) var(--b4, 100%%)); }\n"
    ".bl.hi { --c1: var(--r); --c2: var(--a); --c3: var(--g); } "
    ".bl.lo { --c1: var(--g); --c2: var(--a); --c3: var(--r); } "
    ".bl.rg { --c1: var(--r); --c2: var(--a); --c3: var(--g); --c4: var(--a); --c5: var(--r); } "
    ".bl.nt { background: %(x)s; } .bl.u { --g: %(x)s; --r: %(x)s; --a: %(xd)s; }\n"
    ".bl b, .bl i, .bl s { position: absolute; display: block; } "
    ".bl b { top: 32%%; height: 36%%; background: %(total)s; } "
    ".bl i { top: 12%%; height: 76%%; width: 2.5px; margin-left: -1px; background: #000; } "
    ".bl s { top: 4%%; height: 92%%; width: 0; margin-left: -1px; border-left: 1.5px dashed %(ink)s; }\n"
    f"svg.trend .ax {{ font-size: 9px; fill: {MUTED}; }} svg.trend .e {{ text-anchor: end; }} "
    f"svg.trend .base {{ stroke: {GRID}; }} svg.trend polyline {{ fill: none; }}\n"
    f"svg.trend .ty {{ stroke: {ACCENT}; stroke-width: 1.8; }} "
    "svg.trend .ly { stroke: #9aa5b1; stroke-width: 1.4; stroke-dasharray: 4 3; } "
    "svg.trend .tg { stroke: #000; stroke-width: 1.6; stroke-dasharray: 1 3; } "
    "svg.trend .pt { stroke-dasharray: 3 2; }\n"
) % {"g": BAND_GREEN, "a": BAND_AMBER, "r": BAND_RED, "x": BAND_GREY, "xd": BAND_GREY_DARK, "total": TOTAL, "ink": INK}


def status_class(status: object, verified: bool = True) -> str:
    """The CSS class suffix of a status (never a plain status colour for unverified values)."""
    if not verified:
        return "unverified"
    text = str(status) if isinstance(status, str) else ""
    return text if text in STATUS_COLORS else "none"


def attainment_color(attainment: float | None, amber: float = 0.9, verified: bool = True) -> str:
    """A colour on the red → amber → green scale: amber − 0.1 → red, amber → amber, 1 → light green,
    1.2 → green. Unverified or missing → grey."""
    if not verified:
        return "#b8c0c8"
    if attainment is None or attainment != attainment:
        return "#e4e7eb"
    lo = amber - 0.1
    # map [lo, amber] → [0, .25], [amber, 1] → [.25, .5], [1, 1.2] → [.5, 1]
    if attainment <= lo:
        pos = 0.0
    elif attainment <= amber:
        pos = 0.25 * (attainment - lo) / (amber - lo)
    elif attainment <= 1.0:
        pos = 0.25 + 0.25 * (attainment - amber) / max(1.0 - amber, 1e-9)
    else:
        pos = min(0.5 + 0.5 * (attainment - 1.0) / 0.2, 1.0)
    for (p0, c0), (p1, c1) in zip(_STOPS, _STOPS[1:], strict=False):
        if pos <= p1:
            f = (pos - p0) / (p1 - p0) if p1 > p0 else 0.0
            rgb = tuple(round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True))
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#1b7f3b"
