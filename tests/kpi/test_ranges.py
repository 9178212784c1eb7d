"""Possible ranges: KPI value ranges (quality/catalog/ranges.py) and the interval SQL of derived
formulas (expressions.render_interval) that bounds a derived KPI's value under open source problems."""

from __future__ import annotations

import itertools
import math
import random

import duckdb
import pytest

from quality.catalog.expressions import check_formula, render_interval
from quality.catalog.ranges import Interval, formula_interval


def _sql_interval(formula: str, ranges: dict[str, tuple[float, float]]) -> tuple[float | None, float | None]:
    tree = check_formula(formula, None).tree
    rendered = render_interval(tree, lambda k: f'lo."{k}"', lambda k: f'hi."{k}"')
    assert rendered is not None
    lo_cols = ", ".join(f'{v[0]!r}::double as "{k}"' for k, v in ranges.items())
    hi_cols = ", ".join(f'{v[1]!r}::double as "{k}"' for k, v in ranges.items())
    # the compiler's rendering of a validated formula over the test's own numbers
    sql = f"select {rendered[0]}, {rendered[1]} from (select {lo_cols}) as lo, (select {hi_cols}) as hi"  # noqa: S608
    return duckdb.execute(sql).fetchone()


FORMULAS = ["a - b", "a + b * 2", "a / b", "a * b - c", "abs(a - b)", "greatest(a, b) / 2", "-(a / (b + 1))"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_interval_sql_bounds_every_value_of_the_formula(formula: str) -> None:
    rng = random.Random(formula)
    for _ in range(25):
        ranges = {}
        for name in "abc":
            lo = rng.uniform(-50, 50)
            ranges[name] = (lo, lo + rng.uniform(0, 30))
        if "/" in formula:  # a divisor that keeps one sign
            ranges["b"] = (rng.uniform(1, 10), rng.uniform(11, 20))
        lo, hi = _sql_interval(formula, ranges)
        expr = formula.replace("greatest", "max")
        values = []
        for point in itertools.product(*[(r[0], (r[0] + r[1]) / 2, r[1]) for r in ranges.values()]):
            env = dict(zip(ranges, point, strict=True))
            values.append(eval(expr, {"abs": abs, "max": max}, env))  # the test's own formulas
        assert lo <= min(values) + 1e-9 and max(values) <= hi + 1e-9
        # tight: the ends are reached at the corners of the inputs (interval arithmetic is exact when
        # each input appears once; abs can reach its low end inside, where a − b = 0)
        if "abs" not in formula:
            assert math.isclose(lo, min(values), abs_tol=1e-9) and math.isclose(hi, max(values), abs_tol=1e-9)


def test_a_divisor_that_can_be_zero_gives_no_interval() -> None:
    assert _sql_interval("a / b", {"a": (1.0, 2.0), "b": (-1.0, 1.0)}) == (None, None)


def test_a_null_end_makes_the_interval_null() -> None:
    tree = check_formula("a - b", None).tree
    lo, hi = render_interval(tree, lambda k: f'lo."{k}"', lambda k: f'hi."{k}"')
    got = duckdb.execute(f'select {lo}, {hi} from (select 1.0 as "a", null::double as "b") as lo, '  # noqa: S608
                         f'(select 2.0 as "a", 3.0 as "b") as hi').fetchone()
    # the low end (1 − 3) does not use b's null low end; the high end (2 − null) does
    assert (float(got[0]), got[1]) == (-2.0, None)


def test_unsupported_functions_have_no_interval() -> None:
    assert render_interval(check_formula("round(a, 2)", None).tree, str, str) is None


def test_nps_range_from_its_formula() -> None:
    tree = check_formula("promoters_pct - detractors_pct", None).tree
    assert formula_interval(tree, lambda k: Interval(0, 100)) == Interval(-100, 100)
    per_head = check_formula("training_hours / headcount", None).tree
    assert formula_interval(per_head, lambda k: Interval(0, math.inf)) == Interval(0, math.inf)
