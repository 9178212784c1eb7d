"""The values a KPI can possibly take: its range, declared or inferred.

A target outside the range is impossible (lint rejects it; the warehouse marks it rejected) and a
forecast is clamped to it. Where the catalog declares ``range: {min, max}`` it wins; otherwise:

- unit ``share`` (a fraction): [0, 1] × the measure's scale; unit ``%`` / ``percent``: [0, 100];
- ``count`` and ``count_distinct``: at least 0 (no maximum);
- ``ratio`` of two counts where the numerator counts a subset of the denominator's rows (the same
  rows with an extra filter): [0, 1] × scale;
- ``derived``: interval arithmetic over the ranges of the KPIs in the formula (+, −, ×, ÷ by a
  positive interval, unary minus, ``abs``, ``greatest``/``least``, numbers);
- anything else: unbounded on the side nothing is known about.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from quality.catalog.schema import KpiSpec

INF = math.inf


@dataclass(frozen=True)
class Interval:
    lo: float = -INF
    hi: float = INF

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lo) or math.isfinite(self.hi)

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def as_pair(self) -> tuple[float | None, float | None]:
        return (self.lo if math.isfinite(self.lo) else None, self.hi if math.isfinite(self.hi) else None)

    def describe(self) -> str:
        lo, hi = self.as_pair()
        return f"[{'−∞' if lo is None else f'{lo:g}'}, {'∞' if hi is None else f'{hi:g}'}]"


UNBOUNDED = Interval()
SHARE_UNITS = ("share", "fraction", "ratio")
PERCENT_UNITS = ("%", "percent", "pct")


def _mul(a: Interval, b: Interval) -> Interval:
    products = []
    for x in (a.lo, a.hi):
        for y in (b.lo, b.hi):
            # 0 × ∞ is 0 here: the interval's end is never reached
            products.append(0.0 if (x == 0 or y == 0) else x * y)
    return Interval(min(products), max(products))


def _recip(x: float) -> float:
    return 0.0 if math.isinf(x) else 1 / x


def _div(a: Interval, b: Interval) -> Interval:
    if b.lo > 0 or b.hi < 0:  # a divisor that keeps one sign: multiply by its reciprocal interval
        return _mul(a, Interval(_recip(b.hi), _recip(b.lo)))
    if b.lo == 0 and b.hi > 0 and a.lo >= 0:
        return Interval(0.0, INF)  # a non-negative over a non-negative (a zero divisor gives null)
    return UNBOUNDED


def formula_interval(tree: exp.Expression, ranges: Callable[[str], Interval]) -> Interval:
    """The interval of a derived formula's tree, given each referenced KPI's interval."""
    if isinstance(tree, exp.Paren):
        return formula_interval(tree.this, ranges)
    if isinstance(tree, exp.Column):
        return ranges(tree.name)
    if isinstance(tree, exp.Literal) and not tree.is_string:
        value = float(tree.this)
        return Interval(value, value)
    if isinstance(tree, exp.Neg):
        inner = formula_interval(tree.this, ranges)
        return Interval(-inner.hi, -inner.lo)
    if isinstance(tree, exp.Add | exp.Sub | exp.Mul | exp.Div):
        a, b = formula_interval(tree.left, ranges), formula_interval(tree.right, ranges)
        if isinstance(tree, exp.Add):
            return Interval(a.lo + b.lo, a.hi + b.hi)
        if isinstance(tree, exp.Sub):
            return Interval(a.lo - b.hi, a.hi - b.lo)
        return _mul(a, b) if isinstance(tree, exp.Mul) else _div(a, b)
    if isinstance(tree, exp.Abs):
        inner = formula_interval(tree.this, ranges)
        if inner.lo >= 0:
            return inner
        if inner.hi <= 0:
            return Interval(-inner.hi, -inner.lo)
        return Interval(0.0, max(-inner.lo, inner.hi))
    if isinstance(tree, exp.Greatest | exp.Least):
        parts = [formula_interval(e, ranges) for e in [tree.this, *tree.expressions]]
        pick = max if isinstance(tree, exp.Greatest) else min
        return Interval(pick(p.lo for p in parts), pick(p.hi for p in parts))
    return UNBOUNDED


def _subset_ratio(spec: KpiSpec) -> bool:
    """A ratio of counts whose numerator counts some of the denominator's rows (its filter adds to
    the denominator's): the ratio is a share of those rows."""
    m = spec.measure
    num, den = m.numerator, m.denominator
    if m.type != "ratio" or num is None or den is None or num.type != "count" or den.type != "count":
        return False
    if (num.expression or None) != (den.expression or None):
        return False
    return den.filter is None or (num.filter is not None and den.filter in num.filter)


def declared_or_inferred(spec: KpiSpec) -> tuple[Interval, str | None]:
    """The range of a non-derived KPI version and where it comes from (None: unbounded)."""
    if spec.range is not None:
        return Interval(-INF if spec.range.min is None else spec.range.min,
                        INF if spec.range.max is None else spec.range.max), "declared"
    m = spec.measure
    unit = spec.unit.strip().lower()
    if unit in SHARE_UNITS:
        return Interval(0.0, 1.0 * m.scale), "unit"
    if unit in PERCENT_UNITS:
        return Interval(0.0, 100.0), "unit"
    if m.type in ("count", "count_distinct"):
        return Interval(0.0, INF), "measure"
    if _subset_ratio(spec):
        return Interval(0.0, 1.0 * m.scale), "measure"
    return UNBOUNDED, None


def resolve_ranges(
    specs: Mapping[tuple[str, int], KpiSpec],
    formulas: Mapping[tuple[str, int], exp.Expression],
    current: Mapping[str, int],
) -> dict[tuple[str, int], tuple[Interval, str | None]]:
    """Every KPI version's range. ``formulas``: the parsed tree of each derived version; a formula's
    references take the range of the referenced KPI's current version (``current``: kpi → version)."""
    out: dict[tuple[str, int], tuple[Interval, str | None]] = {}

    def of(key: tuple[str, int], seen: frozenset[tuple[str, int]]) -> tuple[Interval, str | None]:
        if key in out:
            return out[key]
        spec = specs[key]
        found = declared_or_inferred(spec)
        if spec.range is None and key in formulas:
            def ref(kpi_id: str) -> Interval:
                ref_key = (kpi_id, current.get(kpi_id, 1))
                if ref_key not in specs or ref_key in seen:
                    return UNBOUNDED
                return of(ref_key, seen | {ref_key})[0]
            interval = formula_interval(formulas[key], ref)
            found = (interval, "formula") if interval.bounded else (UNBOUNDED, None)
            unit_range, source = declared_or_inferred(spec)
            if source == "unit":  # a derived share is still a share
                found = (Interval(max(unit_range.lo, interval.lo), min(unit_range.hi, interval.hi)), "unit")
        out[key] = found
        return found

    for key in specs:
        of(key, frozenset({key}))
    return out


__all__ = ["Interval", "UNBOUNDED", "declared_or_inferred", "formula_interval", "resolve_ranges"]
