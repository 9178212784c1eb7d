"""Numbers as people read them: KPI values in their unit, attainment as a percentage, compact amounts."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

PERCENT_UNITS = frozenset({"%", "percent", "pct", "percentage", "pp"})
FRACTION_UNITS = frozenset({"ratio", "rate", "share", "fraction"})
CURRENCY_UNITS = {"cny": "¥", "rmb": "¥", "¥": "¥", "yuan": "¥", "usd": "$", "eur": "€", "$": "$", "€": "€"}
SHORT_UNITS = {"seconds": "s", "second": "s", "sec": "s", "s": "s", "hours": "h", "hour": "h", "h": "h",
               "minutes": "min", "minute": "min", "min": "min", "days": "d", "day": "d"}


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_float(value: Any) -> float | None:
    """A number or None (NaN, NA and None become None)."""
    if is_missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compact(value: float, lang: str = "en", digits: int = 3) -> str:
    """1234567 → `1.23M` (en) / `123万` (zh); small numbers keep up to `digits` significant digits."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    if lang == "zh":
        steps = ((1e8, "亿"), (1e4, "万"))
    else:
        steps = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
    for size, suffix in steps:
        if v >= size:
            return f"{sign}{_sig(v / size, digits)}{suffix}"
    return f"{sign}{_sig(v, digits)}"


def _sig(v: float, digits: int) -> str:
    if v == 0:
        return "0"
    if v >= 10 ** digits:
        return f"{v:,.0f}"
    decimals = max(digits - 1 - int(math.floor(math.log10(v))), 0)
    text = f"{v:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_value(value: Any, unit: str | None = None, lang: str = "en") -> str:
    """A KPI value in its unit: `¥1.23M`, `12.5%`, `3,600 s`, `42`."""
    v = to_float(value)
    if v is None:
        return "—"
    u = (unit or "").strip()
    key = u.lower()
    if key in PERCENT_UNITS:
        return f"{v:,.1f}%"
    if key in FRACTION_UNITS:
        return f"{v * 100:,.1f}%"
    if key in CURRENCY_UNITS:
        return f"{CURRENCY_UNITS[key]}{compact(v, lang)}" if v >= 0 else f"-{CURRENCY_UNITS[key]}{compact(-v, lang)}"
    if key in SHORT_UNITS:
        return f"{_plain(v)} {SHORT_UNITS[key]}"
    text = compact(v, lang) if abs(v) >= 10_000 else _plain(v)
    return text


def format_delta(value: Any, unit: str | None = None, lang: str = "en") -> str:
    """A signed difference in the KPI's unit (`+¥12.3K`, `−1.2 pp`); percent units read as points."""
    v = to_float(value)
    if v is None:
        return "—"
    key = (unit or "").strip().lower()
    if key in PERCENT_UNITS:
        text = f"{abs(v):,.2f} pp"
    elif key in FRACTION_UNITS:
        text = f"{abs(v) * 100:,.2f} pp"
    else:
        text = format_value(abs(v), unit, lang)
    shown_zero = not any(ch in "123456789" for ch in text.split(" ")[0])
    sign = "±" if shown_zero or v == 0 else ("+" if v > 0 else "−")
    return f"{sign}{text}"


def format_pct(value: Any, decimals: int = 1) -> str:
    """Attainment 0.873 → `87.3%`."""
    v = to_float(value)
    if v is None:
        return "—"
    return f"{v * 100:,.{decimals}f}%"


def format_pct_delta(value: Any) -> str:
    """Attainment change 0.052 → `+5.2 pp`."""
    v = to_float(value)
    if v is None:
        return "—"
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    return f"{sign}{abs(v) * 100:,.1f} pp"


def format_number(value: Any, decimals: int = 0) -> str:
    v = to_float(value)
    if v is None:
        return "—"
    return f"{v:,.{decimals}f}"


def _plain(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"
