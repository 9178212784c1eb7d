"""Small charts for the many little things (one per tile or per miss): bullet charts (CSS), trend
lines and waterfalls (inline SVG). No JavaScript, cheap to build, and they print exactly as shown."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reports import theme
from reports.html import Html, esc


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def _x(v: float) -> str:
    """An `x` attribute, left out when it is 0 (the default)."""
    return f' x="{_num(v)}"' if round(v, 1) else ""


def _pt(a: float, b: float) -> str:
    """A point of a small line chart: whole units are enough on a 300 × 78 canvas."""
    return f"{round(a)},{round(b)}"


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
    judgement the data cannot back.

    Not SVG: one `<div>` whose bands are a CSS gradient (`.bl` in `theme.SVG_CSS`; the class says the
    colour order — `hi` red/amber/green, `lo` green/amber/red, `rg` red/amber/green/amber/red, `nt`
    no target — and `u` makes them grey), with the bar and the ticks as three small children placed
    in percent. About 140 bytes instead of 350 for the same picture: the attainment report has a
    thousand of them. `width`/`height` are kept for callers; the chart takes its box's width."""
    del width, height
    values = [v for v in (actual, target, low, high, full_target) if _ok(v)]
    if not values:
        return Html("")
    vmax = max(values) * 1.15 if max(values) > 0 else 1.0
    vmin = min(0.0, min(values) * 1.15)
    span = vmax - vmin or 1.0

    def pos(v: float) -> float:
        return max(0.0, min(100.0, (v - vmin) / span * 100))

    stops: list[float] = []
    if direction == "target_range" and _ok(low) and _ok(high):
        assert low is not None and high is not None
        d = (1 - amber) * (high - low)
        kind, stops = "rg", [low - d, low, high, high + d]
    elif _ok(target) and target:
        assert target is not None
        if direction == "lower_is_better":
            kind, stops = "lo", [target, (2 - amber) * target]
        else:
            kind, stops = "hi", [amber * target, target]
    else:
        kind = "nt"
    style = ";".join(f"--b{i + 1}:{_pc(pos(v))}" for i, v in enumerate(stops))
    attrs = f' class="bl {kind}{"" if verified else " u"}"' + (f' style="{style}"' if style else "")
    attrs += f' role="img" aria-label="{esc(title)}"' if title else ' aria-hidden="true"'
    out = [f"<div{attrs}>"]
    if _ok(actual):
        assert actual is not None
        a0, a1 = sorted((pos(max(vmin, 0.0)), pos(actual)))
        out.append(f'<b style="left:{_pc(a0)};width:{_pc(max(a1 - a0, 0.4))}"></b>')
    if _ok(full_target):
        assert full_target is not None
        out.append(f'<s style="left:{_pc(pos(full_target))}"></s>')
    if direction != "target_range" and _ok(target):
        assert target is not None
        out.append(f'<i style="left:{_pc(pos(target))}"></i>')
    out.append("</div>")
    return Html("".join(out))


def _pc(v: float) -> str:
    return f"{_num(round(v, 1))}%"


@dataclass(frozen=True)
class Line:
    values: Sequence[float | None]
    colour: str
    dash: str | None = None
    width: float = 1.8
    label: str = ""
    #: the last value is a period still running (to date): drawn hollow, joined by a dashed segment
    partial_last: bool = False
    #: a CSS class (`theme.SVG_CSS`) that styles the line instead of the attributes above
    cls: str | None = None


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
           f'<line x1="{left}" x2="{width - right}" y1="{_num(top + ih)}" y2="{_num(top + ih)}" class="base"/>',
           f'<text x="{left - 3}" y="{_num(top + 8)}" class="ax e">{esc(fmt(hi - pad))}</text>',
           f'<text x="{left - 3}" y="{_num(top + ih)}" class="ax e">{esc(fmt(lo + pad))}</text>',
           f'<text x="{left}" y="{height - 2}" class="ax">{esc(x_labels[0])}</text>',
           f'<text x="{width - right}" y="{height - 2}" class="ax e">{esc(x_labels[-1])}</text>']
    if band:
        lows, highs = band
        pts_hi = [(px(i), py(v)) for i, v in enumerate(highs) if _ok(v)]
        pts_lo = [(px(i), py(v)) for i, v in enumerate(lows) if _ok(v)]
        if pts_hi and pts_lo:
            poly = " ".join(f"{_num(a)},{_num(b)}" for a, b in pts_hi + pts_lo[::-1])
            out.append(f'<polygon points="{poly}" fill="{theme.BAND_GREEN}" opacity="0.7"/>')
    for line in lines:
        out += _trend_line(line, px, py)
    out.append("</svg>")
    return Html("".join(out))


def _trend_line(line: Line, px: Callable[[int], float], py: Callable[[float], float]) -> list[str]:
    """One line of a trend chart: its polylines (gaps break it; a lone point is a dot), the dashed
    segment to a running period's hollow last point, or a dot on the last point."""
    out: list[str] = []
    segment: list[str] = []
    segments: list[list[str]] = []
    values = list(line.values)
    partial: tuple[str, str] | None = None
    if line.partial_last:
        last = max((i for i, v in enumerate(values) if _ok(v)), default=None)
        if last is not None:
            prev = last - 1 if last > 0 and _ok(values[last - 1]) else None
            end = _pt(px(last), py(values[last]))  # type: ignore[arg-type]
            start = _pt(px(prev), py(values[prev])) if prev is not None else ""  # type: ignore[arg-type]
            partial = (start, end)
            values[last] = None
    for i, v in enumerate(values):
        if _ok(v):
            assert v is not None
            segment.append(_pt(px(i), py(v)))
        elif segment:
            segments.append(segment)
            segment = []
    if segment:
        segments.append(segment)
    dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
    style = f' class="{line.cls}"' if line.cls else f' stroke="{line.colour}" stroke-width="{line.width}"{dash}'
    partial_style = (f' class="{line.cls} pt"' if line.cls else
                     f' stroke="{line.colour}" stroke-width="{line.width}" stroke-dasharray="3 2"')
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{line.colour}"/>')
        else:
            out.append(f'<polyline points="{" ".join(seg)}"{style}/>')
    if partial is not None:
        start, end = partial
        if start:
            out.append(f'<polyline points="{start} {end}"{partial_style}/>')
        cx, cy = end.split(",")
        out.append(f'<circle cx="{cx}" cy="{cy}" r="2.6" fill="#fff" stroke="{line.colour}" stroke-width="1.4"/>')
    elif segments and not line.dash:
        cx, cy = segments[-1][-1].split(",")
        out.append(f'<circle cx="{cx}" cy="{cy}" r="2.4" fill="{line.colour}"/>')
    return out


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
