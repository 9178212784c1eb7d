"""Small inline SVG charts for the many little things (one per tile or per miss): bullet charts,
trend lines and waterfalls. No JavaScript, cheap to build, and they print exactly as shown."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reports import theme
from reports.html import Html, esc


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def _ok(v: float | None) -> bool:
    return v is not None and not math.isnan(v) and not math.isinf(v)


def bullet(
    *,
    actual: float | None,
    target: float | None,
    low: float | None = None,
    high: float | None = None,
    direction: str = "higher_is_better",
    amber: float = 0.9,
    full_target: float | None = None,
    verified: bool = True,
    title: str = "",
    width: int = 300,
    height: int = 26,
) -> Html:
    """Actual (bar) against target (black tick) over the status bands. For a running period pass the
    target phased to date as `target` (the status compares with it) and the period's target as
    `full_target` (a dashed tick). Unverified values get grey bands: a status colour would claim a
    judgement the data cannot back."""
    values = [v for v in (actual, target, low, high, full_target) if _ok(v)]
    if not values:
        return Html("")
    vmax = max(values) * 1.15 if max(values) > 0 else 1.0
    vmin = min(0.0, min(values) * 1.15)
    span = vmax - vmin or 1.0

    def x(v: float) -> float:
        return max(0.0, min(width, (v - vmin) / span * width))

    bands: list[tuple[float, float, str]] = []
    green, amber_c, red = theme.BAND_GREEN, theme.BAND_AMBER, theme.BAND_RED
    if not verified:
        green, amber_c, red = theme.BAND_GREY, theme.BAND_GREY_DARK, theme.BAND_GREY
    if direction == "target_range" and _ok(low) and _ok(high):
        assert low is not None and high is not None
        d = (1 - amber) * (high - low)
        bands = [(vmin, low - d, red), (low - d, low, amber_c), (low, high, green), (high, high + d, amber_c),
                 (high + d, vmax, red)]
    elif _ok(target) and target:
        assert target is not None
        if direction == "lower_is_better":
            bands = [(vmin, target, green), (target, (2 - amber) * target, amber_c),
                     ((2 - amber) * target, vmax, red)]
        else:
            bands = [(vmin, amber * target, red), (amber * target, target, amber_c), (target, vmax, green)]
    else:
        bands = [(vmin, vmax, theme.BAND_GREY)]
    out = [f'<svg class="mini bullet" viewBox="0 0 {width} {height}" role="img"><title>{esc(title)}</title>']
    for a, b, colour in bands:
        xa, xb = x(a), x(b)
        if xb > xa:
            out.append(f'<rect x="{_num(xa)}" y="0" width="{_num(xb - xa)}" height="{height}" fill="{colour}"/>')
    if _ok(actual):
        assert actual is not None
        x0, x1 = x(max(vmin, 0.0)), x(actual)
        lo, hi = min(x0, x1), max(x0, x1)
        out.append(f'<rect x="{_num(lo)}" y="{_num(height * 0.32)}" width="{_num(max(hi - lo, 1))}" '
                   f'height="{_num(height * 0.36)}" fill="{theme.TOTAL}"/>')
    if _ok(full_target):
        assert full_target is not None
        xe = x(full_target)
        out.append(f'<line x1="{_num(xe)}" x2="{_num(xe)}" y1="1" y2="{height - 1}" stroke="{theme.INK}" '
                   'stroke-width="1.5" stroke-dasharray="3 2"/>')
    for tv in (target,) if direction != "target_range" else ():
        if _ok(tv):
            assert tv is not None
            xt = x(tv)
            out.append(f'<line x1="{_num(xt)}" x2="{_num(xt)}" y1="3" y2="{height - 3}" stroke="#000" '
                       'stroke-width="2.5"/>')
    out.append("</svg>")
    return Html("".join(out))


@dataclass(frozen=True)
class Line:
    values: Sequence[float | None]
    colour: str
    dash: str | None = None
    width: float = 1.8
    label: str = ""
    #: the last value is a period still running (to date): drawn hollow, joined by a dashed segment
    partial_last: bool = False


def trend(
    x_labels: Sequence[str],
    lines: Sequence[Line],
    *,
    band: tuple[Sequence[float | None], Sequence[float | None]] | None = None,
    fmt: Callable[[float], str] = str,
    title: str = "",
    width: int = 300,
    height: int = 78,
) -> Html:
    """A small multi-line chart over categorical x (e.g. months), with an optional shaded band."""
    n = len(x_labels)
    every = [v for line in lines for v in line.values if _ok(v)]
    if band:
        every += [v for v in list(band[0]) + list(band[1]) if _ok(v)]
    if n < 1 or not every:
        return Html("")
    left, right, top, bottom = 40, 6, 6, 14
    lo, hi = min(every), max(every)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    iw, ih = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + (iw * i / (n - 1) if n > 1 else iw / 2)

    def py(v: float) -> float:
        return top + ih * (1 - (v - lo) / (hi - lo))

    out = [f'<svg class="mini trend" viewBox="0 0 {width} {height}" role="img"><title>{esc(title)}</title>',
           f'<line x1="{left}" x2="{width - right}" y1="{_num(top + ih)}" y2="{_num(top + ih)}" stroke="{theme.GRID}"/>',
           f'<text x="{left - 3}" y="{_num(top + 8)}" font-size="9" text-anchor="end" fill="{theme.MUTED}">'
           f"{esc(fmt(hi - pad))}</text>",
           f'<text x="{left - 3}" y="{_num(top + ih)}" font-size="9" text-anchor="end" fill="{theme.MUTED}">'
           f"{esc(fmt(lo + pad))}</text>",
           f'<text x="{left}" y="{height - 2}" font-size="9" fill="{theme.MUTED}">{esc(x_labels[0])}</text>',
           f'<text x="{width - right}" y="{height - 2}" font-size="9" text-anchor="end" fill="{theme.MUTED}">'
           f"{esc(x_labels[-1])}</text>"]
    if band:
        lows, highs = band
        pts_hi = [(px(i), py(v)) for i, v in enumerate(highs) if _ok(v)]
        pts_lo = [(px(i), py(v)) for i, v in enumerate(lows) if _ok(v)]
        if pts_hi and pts_lo:
            poly = " ".join(f"{_num(a)},{_num(b)}" for a, b in pts_hi + pts_lo[::-1])
            out.append(f'<polygon points="{poly}" fill="{theme.BAND_GREEN}" opacity="0.7"/>')
    for line in lines:
        segment: list[str] = []
        segments: list[list[str]] = []
        values = list(line.values)
        partial: tuple[str, str] | None = None
        if line.partial_last:
            last = max((i for i, v in enumerate(values) if _ok(v)), default=None)
            if last is not None:
                prev = last - 1 if last > 0 and _ok(values[last - 1]) else None
                end = f"{_num(px(last))},{_num(py(values[last]))}"  # type: ignore[arg-type]
                start = f"{_num(px(prev))},{_num(py(values[prev]))}" if prev is not None else ""  # type: ignore[arg-type]
                partial = (start, end)
                values[last] = None
        for i, v in enumerate(values):
            if _ok(v):
                assert v is not None
                segment.append(f"{_num(px(i))},{_num(py(v))}")
            elif segment:
                segments.append(segment)
                segment = []
        if segment:
            segments.append(segment)
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{line.colour}"/>')
            else:
                out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{line.colour}" '
                           f'stroke-width="{line.width}"{dash}/>')
        if partial is not None:
            start, end = partial
            if start:
                out.append(f'<polyline points="{start} {end}" fill="none" stroke="{line.colour}" '
                           f'stroke-width="{line.width}" stroke-dasharray="3 2"/>')
            cx, cy = end.split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2.6" fill="#fff" stroke="{line.colour}" stroke-width="1.4"/>')
        elif segments and not line.dash:
            cx, cy = segments[-1][-1].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2.4" fill="{line.colour}"/>')
    out.append("</svg>")
    return Html("".join(out))


@dataclass(frozen=True)
class Step:
    label: str
    value: float
    total: bool = False


def waterfall(
    steps: Sequence[Step],
    *,
    fmt: Callable[[float], str],
    good_sign: int = 1,
    title: str = "",
    width: int = 520,
) -> Html:
    """A horizontal waterfall: each step from the running total, the `total` rows from zero.
    Steps that move the KPI the good way (`good_sign`) are green, the others red."""
    if not steps:
        return Html("")
    label_w, value_w, row_h, top = 170, 86, 19, 4
    bar_w = width - label_w - value_w
    running = 0.0
    spans: list[tuple[float, float]] = []
    for step in steps:
        if step.total:
            spans.append((0.0, step.value))
        else:
            spans.append((running, running + step.value))
            running += step.value
    lo = min(0.0, *(min(a, b) for a, b in spans))
    hi = max(0.0, *(max(a, b) for a, b in spans))
    if hi == lo:
        hi = lo + 1

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * bar_w

    height = top * 2 + row_h * len(steps)
    out = [f'<svg class="mini waterfall" viewBox="0 0 {width} {height}" role="img"><title>{esc(title)}</title>']
    zero = x(0.0)
    out.append(f'<line x1="{_num(zero)}" x2="{_num(zero)}" y1="0" y2="{height}" stroke="#9aa5b1"/>')
    prev_end: float | None = None
    for i, (step, (a, b)) in enumerate(zip(steps, spans, strict=True)):
        y = top + i * row_h
        if step.total:
            colour = theme.TOTAL
        elif step.value * good_sign > 0:
            colour = theme.GOOD
        elif step.value == 0:
            colour = theme.NEUTRAL
        else:
            colour = theme.BAD
        xa, xb = sorted((x(a), x(b)))
        label = step.label if len(step.label) <= 26 else step.label[:25] + "…"
        weight = ' font-weight="600"' if step.total else ""
        out.append(f'<text x="{label_w - 6}" y="{_num(y + row_h * 0.68)}" font-size="11" text-anchor="end" '
                   f'fill="{theme.INK}"{weight}>{esc(label)}'
                   f"<title>{esc(step.label)}</title></text>")
        out.append(f'<rect x="{_num(xa)}" y="{_num(y + 3)}" width="{_num(max(xb - xa, 1))}" '
                   f'height="{row_h - 6}" fill="{colour}"><title>{esc(step.label)}: {esc(fmt(step.value))}</title></rect>')
        if prev_end is not None and not step.total:
            out.append(f'<line x1="{_num(x(prev_end))}" x2="{_num(x(prev_end))}" y1="{_num(y - 3)}" '
                       f'y2="{_num(y + 3)}" stroke="#9aa5b1" stroke-dasharray="2 2"/>')
        prev_end = b if not step.total else None
        value_text = fmt(step.value)
        out.append(f'<text x="{width - 2}" y="{_num(y + row_h * 0.68)}" font-size="11" text-anchor="end" '
                   f'fill="{colour if not step.total else theme.INK}">{esc(value_text)}</text>')
    out.append("</svg>")
    return Html("".join(out))


def score_bar(score: float | None, *, cap: float = 1.2, width: int = 90) -> Html:
    """An inline bar for a score in [0, cap] (the leaderboard)."""
    if not _ok(score):
        return Html("")
    assert score is not None
    w = max(0.0, min(score, cap)) / cap * width
    colour = theme.attainment_color(score)
    return Html(f'<span class="bar" style="width:{_num(w)}px;background:{colour}"></span>')
