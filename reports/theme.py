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
