"""Gap attribution: split a KPI's gap (actual − target) into parts that add up to it.

Pure functions over plain numbers; the review report feeds them from the marts
(`kpi_actuals`, `kpi_targets`, `kpi_actuals_by_dimension`) and never recomputes a KPI from facts.

The method, per decomposition (every one of them sums to ``actual − target``):

**Child org units of an additive KPI** (``sum``, ``count``, ``last``):
  the parent's value is the sum of its children's plus its own direct rows. Each child's
  *expected* value is its own target when it has one, else the parent's target × the child's share
  of the parent's last-year value (no last year: its share of this period's value). A child's
  contribution is ``actual_c − expected_c``. The unit's *own direct* part is what is left:
  ``(actual − Σ actual_c) − (target − Σ expected_c)`` — its own rows, plus anything a
  re-organisation moved in or out during the period.

**Dimension values of an additive KPI** (product category, channel, region, segment, priority):
  dimension values have no targets, so expected_i = target × last year's share_i (no last-year data:
  this period's share). Contribution = ``actual_i − expected_i``. The parts of a dimension add up to
  the KPI's actual (the mart's contract), so the contributions add up to the gap; if the mart's
  parts do not cover the whole actual, the remainder is shown as *unexplained*.

**Ratio KPIs** (``numerator / denominator``, components = child units + own, or dimension values):
  with weights ``w_i = d_i / Σd`` and rates ``r_i`` (in the KPI's unit), the KPI is ``Σ w_i r_i``.
  The baseline is last year's mix ``w0_i`` with last year's rates *rebased* so the baseline equals
  the target: ``r0'_i = r0_i × target / R0`` (``R0`` = last year's ratio; when ``R0`` is 0 the
  rates are shifted instead: ``r0'_i = r0_i + target − R0``). Then, per component,

  - mix (volume) effect ``(w_i − w0_i) · r0'_i``   — the share of the denominator moved,
  - rate effect        ``w_i · (r_i − r0'_i)``       — the component's own rate moved,

  and ``Σ mix + Σ rate = Σ w r − Σ w0 r0' = actual − target``. A component new this year has
  ``w0 = 0`` and ``r0' = target``; without any last-year data the mix effect is 0 and the whole gap
  is rate effect.

The last part of every decomposition (own direct / unexplained) is computed as the gap minus the
others, so the parts add up to the gap to floating-point precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

ADDITIVE_TYPES = frozenset({"sum", "count", "last"})
RATIO_TYPES = frozenset({"ratio"})
ORG_UNIT = "org_unit"

#: Keys of the synthetic parts.
OWN = "__own__"
UNEXPLAINED = "__unexplained__"
OTHERS = "__others__"

_EPS = 1e-9


@dataclass(frozen=True)
class Component:
    """One component of an additive KPI: a child org unit or a dimension value."""

    key: str
    actual: float
    target: float | None = None
    last_year: float | None = None


@dataclass(frozen=True)
class RatioComponent:
    """One component of a ratio KPI, with this period's and last year's numerator/denominator."""

    key: str
    numerator: float
    denominator: float
    last_year_numerator: float | None = None
    last_year_denominator: float | None = None


@dataclass(frozen=True)
class Part:
    """One bar of the waterfall. `kind`: child | own | dimension | unexplained | others."""

    key: str
    kind: str
    contribution: float
    actual: float | None = None
    expected: float | None = None
    mix_effect: float | None = None
    rate_effect: float | None = None
    weight: float | None = None
    baseline_weight: float | None = None
    rate: float | None = None
    baseline_rate: float | None = None


@dataclass(frozen=True)
class Attribution:
    """A decomposition of ``actual − target`` by one axis (`by`: ``org_unit`` or a dimension)."""

    by: str
    method: str  # "additive" | "ratio"
    actual: float
    target: float
    parts: tuple[Part, ...]

    @property
    def gap(self) -> float:
        return self.actual - self.target

    @property
    def total(self) -> float:
        """Σ contributions (equals `gap`)."""
        return math.fsum(p.contribution for p in self.parts)

    @property
    def mix_effect(self) -> float | None:
        if self.method != "ratio":
            return None
        return math.fsum(p.mix_effect or 0.0 for p in self.parts)

    @property
    def rate_effect(self) -> float | None:
        if self.method != "ratio":
            return None
        return math.fsum(p.rate_effect or 0.0 for p in self.parts)

    def folded(self, max_parts: int = 8) -> Attribution:
        """The same decomposition with the smallest parts folded into one `others` part."""
        fixed = [p for p in self.parts if p.kind in ("own", "unexplained")]
        movable = sorted(
            (p for p in self.parts if p.kind not in ("own", "unexplained")),
            key=lambda p: -abs(p.contribution),
        )
        keep = max(max_parts - len(fixed), 1)
        if len(movable) <= keep + 1:
            return replace(self, parts=tuple(movable + fixed))
        rest = movable[keep - 1 :]
        others = Part(
            key=OTHERS,
            kind="others",
            contribution=math.fsum(p.contribution for p in rest),
            actual=_sum_or_none(p.actual for p in rest),
            expected=_sum_or_none(p.expected for p in rest),
            mix_effect=_sum_or_none(p.mix_effect for p in rest),
            rate_effect=_sum_or_none(p.rate_effect for p in rest),
        )
        return replace(self, parts=tuple(movable[: keep - 1] + [others] + fixed))


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def _finite(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def reference_target(
    actual: float | None, target: float | None, low: float | None = None, high: float | None = None
) -> float | None:
    """The value the gap is measured against: the target, or for a range the bound that was missed
    (inside the range the gap is 0, so the reference is the actual itself)."""
    if _finite(low) and _finite(high) and _finite(actual):
        assert low is not None and high is not None and actual is not None
        if actual < low:
            return low
        if actual > high:
            return high
        return actual
    return target if _finite(target) else None


def additive_children(
    actual: float,
    target: float,
    children: Sequence[Component],
    *,
    last_year: float | None = None,
) -> Attribution:
    """Children's contributions plus the unit's own direct part (additive KPIs)."""
    ly_total = last_year if _finite(last_year) and last_year else None
    if ly_total is None:
        ly_sum = math.fsum(c.last_year for c in children if _finite(c.last_year))
        ly_total = ly_sum or None
    parts: list[Part] = []
    for child in children:
        if _finite(child.target):
            expected = float(child.target)  # type: ignore[arg-type]
        elif ly_total is not None:
            expected = target * (child.last_year if _finite(child.last_year) else 0.0) / ly_total
        elif actual:
            expected = target * child.actual / actual
        else:
            expected = 0.0
        parts.append(
            Part(key=child.key, kind="child", contribution=child.actual - expected,
                 actual=child.actual, expected=expected)
        )
    own_actual = actual - math.fsum(c.actual for c in children)
    own_expected = target - math.fsum(p.expected or 0.0 for p in parts)
    own = (actual - target) - math.fsum(p.contribution for p in parts)
    if abs(own) > _EPS or abs(own_actual) > _EPS or not parts:
        parts.append(Part(key=OWN, kind="own", contribution=own, actual=own_actual, expected=own_expected))
    return Attribution(by=ORG_UNIT, method="additive", actual=actual, target=target, parts=tuple(parts))


def additive_dimension(
    actual: float, target: float, values: Sequence[Component], *, by: str
) -> Attribution:
    """Dimension values' contributions against target × last year's share (additive KPIs)."""
    ly_total = math.fsum(v.last_year for v in values if _finite(v.last_year))
    this_total = math.fsum(v.actual for v in values)
    parts: list[Part] = []
    for value in values:
        if ly_total:
            share = (value.last_year if _finite(value.last_year) else 0.0) / ly_total
        elif this_total:
            share = value.actual / this_total
        else:
            share = 1.0 / len(values)
        expected = target * share
        parts.append(
            Part(key=value.key, kind="dimension", contribution=value.actual - expected,
                 actual=value.actual, expected=expected)
        )
    rest = (actual - target) - math.fsum(p.contribution for p in parts)
    if abs(rest) > _EPS * max(1.0, abs(actual), abs(target)) or not parts:
        parts.append(Part(key=UNEXPLAINED, kind="unexplained", contribution=rest,
                          actual=actual - this_total, expected=0.0))
    return Attribution(by=by, method="additive", actual=actual, target=target, parts=tuple(parts))


def ratio_mix_rate(
    actual: float,
    target: float,
    components: Sequence[RatioComponent],
    *,
    by: str,
    scale: float = 1.0,
    kinds: dict[str, str] | None = None,
) -> Attribution:
    """Mix (volume) and rate effects per component of a ratio KPI (see the module docstring).

    `scale` converts numerator/denominator to the KPI's unit (e.g. 100 for a percentage);
    `kinds` names each component's kind (default ``dimension``; ``OWN`` → ``own``)."""
    kinds = kinds or {}
    den = math.fsum(c.denominator for c in components)
    den0 = math.fsum(
        c.last_year_denominator for c in components if _finite(c.last_year_denominator)
    )
    num0 = math.fsum(
        c.last_year_numerator
        for c in components
        if _finite(c.last_year_numerator) and _finite(c.last_year_denominator)
    )

    def rate(n: float | None, d: float | None) -> float | None:
        return scale * n / d if _finite(n) and _finite(d) and d else None

    weights = [c.denominator / den if den else 0.0 for c in components]
    rates = [rate(c.numerator, c.denominator) for c in components]
    has_history = bool(den0)
    if has_history:
        w0 = [
            (c.last_year_denominator / den0) if _finite(c.last_year_denominator) else 0.0
            for c in components
        ]
        r0 = [rate(c.last_year_numerator, c.last_year_denominator) for c in components]
        level0 = scale * num0 / den0
    else:  # no history: baseline mix = this mix, so the whole gap is rate effect
        w0 = list(weights)
        r0 = list(rates)
        level0 = math.fsum(w * r for w, r in zip(weights, rates, strict=True) if r is not None)

    def rebased(r: float | None) -> float:
        if r is None:
            return target
        if level0:
            return r * target / level0
        return r + (target - level0)

    parts: list[Part] = []
    for comp, w, r, w_0, r_0 in zip(components, weights, rates, w0, r0, strict=True):
        r0p = rebased(r_0)
        mix = (w - w_0) * r0p
        rate_eff = w * (r - r0p) if (r is not None and w) else 0.0
        parts.append(
            Part(
                key=comp.key,
                kind=kinds.get(comp.key, "own" if comp.key == OWN else "dimension"),
                contribution=mix + rate_eff,
                mix_effect=mix,
                rate_effect=rate_eff,
                weight=w,
                baseline_weight=w_0,
                rate=r,
                baseline_rate=r0p,
                actual=r,
                expected=r0p,
            )
        )
    rest = (actual - target) - math.fsum(p.contribution for p in parts)
    if abs(rest) > _EPS * max(1.0, abs(actual), abs(target)) or not parts:
        parts.append(Part(key=UNEXPLAINED, kind="unexplained", contribution=rest,
                          mix_effect=0.0, rate_effect=rest))
    return Attribution(by=by, method="ratio", actual=actual, target=target, parts=tuple(parts))


def ratio_children(
    actual: float,
    target: float,
    total: RatioComponent,
    children: Sequence[RatioComponent],
    *,
    scale: float = 1.0,
) -> Attribution:
    """Ratio KPI by child org unit: the children plus the unit's own direct numerator/denominator
    (`total` minus the children), each split into mix and rate effects."""
    own = RatioComponent(
        key=OWN,
        numerator=total.numerator - math.fsum(c.numerator for c in children),
        denominator=total.denominator - math.fsum(c.denominator for c in children),
        last_year_numerator=_diff(total.last_year_numerator, [c.last_year_numerator for c in children]),
        last_year_denominator=_diff(
            total.last_year_denominator, [c.last_year_denominator for c in children]
        ),
    )
    comps = list(children)
    if abs(own.denominator) > _EPS or abs(own.numerator) > _EPS or abs(own.last_year_denominator or 0) > _EPS:
        comps.append(own)
    kinds = {c.key: "child" for c in children} | {OWN: "own"}
    return ratio_mix_rate(actual, target, comps, by=ORG_UNIT, scale=scale, kinds=kinds)


def _diff(total: float | None, parts: Sequence[float | None]) -> float | None:
    if not _finite(total):
        return None
    assert total is not None
    return total - math.fsum(p for p in parts if _finite(p))


def gap_attribution(
    measure_type: str,
    actual: float,
    target: float,
    components: Sequence[Component] | Sequence[RatioComponent],
    *,
    by: str = ORG_UNIT,
    last_year: float | None = None,
    total: RatioComponent | None = None,
    scale: float = 1.0,
) -> Attribution | None:
    """Dispatch on the KPI's measure type; None when the KPI is not decomposable
    (count_distinct, percentile, derived) or the inputs do not allow it."""
    if not (_finite(actual) and _finite(target)):
        return None
    if measure_type in ADDITIVE_TYPES:
        comps = [c for c in components if isinstance(c, Component)]
        if by == ORG_UNIT:
            return additive_children(actual, target, comps, last_year=last_year)
        return additive_dimension(actual, target, comps, by=by) if comps else None
    if measure_type in RATIO_TYPES:
        comps_r = [c for c in components if isinstance(c, RatioComponent)]
        if by == ORG_UNIT:
            if total is None:
                return None
            return ratio_children(actual, target, total, comps_r, scale=scale)
        return ratio_mix_rate(actual, target, comps_r, by=by, scale=scale) if comps_r else None
    return None


def ratio_scale(actual: float | None, numerator: float | None, denominator: float | None) -> float:
    """The factor between numerator/denominator and the KPI's unit (1, or e.g. 100 for a %)."""
    if _finite(actual) and _finite(numerator) and _finite(denominator) and numerator and denominator:
        assert actual is not None and numerator is not None and denominator is not None
        raw = numerator / denominator
        factor = actual / raw
        # snap to a power of ten when it is one (floating noise in the mart)
        if factor > 0:
            power = round(math.log10(factor))
            if math.isclose(factor, 10.0**power, rel_tol=1e-6):
                return 10.0**power
        return factor
    return 1.0
