"""Gap attribution: hand-computed decompositions, and the parts always add up to the gap."""

from __future__ import annotations

import math
import random

import pytest

from reports.attribution import (
    OTHERS,
    OWN,
    UNEXPLAINED,
    Component,
    RatioComponent,
    additive_children,
    additive_dimension,
    gap_attribution,
    ratio_children,
    ratio_mix_rate,
    ratio_scale,
    reference_target,
)


def parts(attribution) -> dict[str, float]:
    return {p.key: p.contribution for p in attribution.parts}


def assert_adds_up(attribution) -> None:
    assert math.isclose(math.fsum(p.contribution for p in attribution.parts), attribution.gap,
                        rel_tol=1e-12, abs_tol=1e-9)


def test_children_with_their_own_targets_and_the_own_direct_part():
    # parent 100 vs 120; A 50 vs 60, B 40 vs 45; own rows 10 vs the 15 of target left for them
    result = additive_children(100.0, 120.0, [Component("A", 50.0, target=60.0), Component("B", 40.0, target=45.0)])
    assert parts(result) == {"A": -10.0, "B": -5.0, OWN: -5.0}
    own = result.parts[-1]
    assert (own.actual, own.expected) == (10.0, 15.0)
    assert result.gap == -20.0
    assert_adds_up(result)


def test_children_without_targets_use_the_parent_target_times_last_years_share():
    # target 110; last year A 50, B 50 of 100 → expected 55 each; A 60 (+5), B 40 (−15); nothing own
    result = additive_children(100.0, 110.0, [Component("A", 60.0, last_year=50.0), Component("B", 40.0, last_year=50.0)],
                               last_year=100.0)
    assert parts(result) == pytest.approx({"A": 5.0, "B": -15.0})
    assert OWN not in parts(result)
    assert_adds_up(result)


def test_children_mixed_targets_and_a_reorganisation_remainder():
    # A has a target (30); B has none: 200 × 40/160 = 50 expected. Own = gap − parts.
    result = additive_children(180.0, 200.0, [Component("A", 35.0, target=30.0),
                                              Component("B", 45.0, last_year=40.0)], last_year=160.0)
    got = parts(result)
    assert got["A"] == pytest.approx(5.0)
    assert got["B"] == pytest.approx(-5.0)
    assert got[OWN] == pytest.approx(-20.0)  # own actual 100 vs expected 200 − 30 − 50 = 120
    assert_adds_up(result)


def test_dimension_values_against_target_times_last_years_share():
    # target 200; last year direct 90, online 60 → shares .6 / .4 → expected 120 / 80
    result = additive_dimension(180.0, 200.0, [Component("direct", 120.0, last_year=90.0),
                                               Component("online", 60.0, last_year=60.0)], by="channel")
    assert parts(result) == pytest.approx({"direct": 0.0, "online": -20.0})
    assert result.by == "channel"
    assert_adds_up(result)


def test_a_new_dimension_value_is_all_contribution_and_a_gone_one_all_shortfall():
    result = additive_dimension(100.0, 90.0, [Component("old", 0.0, last_year=50.0),
                                              Component("kept", 80.0, last_year=50.0),
                                              Component("new", 20.0)], by="region")
    assert parts(result) == pytest.approx({"old": -45.0, "kept": 35.0, "new": 20.0})
    assert_adds_up(result)


def test_dimension_parts_that_miss_part_of_the_actual_leave_an_unexplained_remainder():
    result = additive_dimension(100.0, 100.0, [Component("a", 60.0, last_year=1.0),
                                               Component("b", 30.0, last_year=1.0)], by="segment")
    got = parts(result)
    assert got["a"] == pytest.approx(10.0) and got["b"] == pytest.approx(-20.0)
    assert got[UNEXPLAINED] == pytest.approx(10.0)
    assert_adds_up(result)


def test_ratio_rate_and_mix_effects_by_hand():
    # this year: A 30/100 (30 %), B 10/100 (10 %) → 20 %; weights .5/.5
    # last year: A 30/150 (20 %), B 5/50 (10 %) → 17.5 %; weights .75/.25
    # target 21 %: rebase ×1.2 → r0' = 24 %, 12 %
    # mix: A (.5−.75)·24 = −6, B (.5−.25)·12 = +3; rate: A .5·(30−24) = +3, B .5·(10−12) = −1
    result = ratio_mix_rate(20.0, 21.0, [RatioComponent("A", 30, 100, 30, 150), RatioComponent("B", 10, 100, 5, 50)],
                            by="channel", scale=100.0)
    a, b = result.parts
    assert (a.mix_effect, a.rate_effect) == pytest.approx((-6.0, 3.0))
    assert (b.mix_effect, b.rate_effect) == pytest.approx((3.0, -1.0))
    assert (a.baseline_rate, b.baseline_rate) == pytest.approx((24.0, 12.0))
    assert result.mix_effect == pytest.approx(-3.0)
    assert result.rate_effect == pytest.approx(2.0)
    assert result.gap == pytest.approx(-1.0)
    assert [p.kind for p in result.parts] == ["dimension", "dimension"]
    assert_adds_up(result)


def test_ratio_with_a_new_component_and_one_that_disappeared():
    # C is new (no last year): baseline rate = the target; D had last year's volume and none now
    comps = [RatioComponent("A", 20, 80, 10, 50), RatioComponent("C", 4, 20, None, None),
             RatioComponent("D", 0, 0, 6, 50)]
    actual = 100 * 24 / 100
    result = ratio_mix_rate(actual, 20.0, comps, by="region", scale=100.0)
    c = next(p for p in result.parts if p.key == "C")
    assert c.baseline_weight == 0.0 and c.baseline_rate == pytest.approx(20.0)
    assert c.mix_effect == pytest.approx(0.2 * 20.0)
    d = next(p for p in result.parts if p.key == "D")
    assert d.rate_effect == 0.0 and d.mix_effect < 0
    assert_adds_up(result)


def test_ratio_without_history_is_all_rate_effect():
    result = ratio_mix_rate(25.0, 30.0, [RatioComponent("A", 10, 50), RatioComponent("B", 15, 50)], by="x", scale=100.0)
    assert result.mix_effect == pytest.approx(0.0)
    assert result.rate_effect == pytest.approx(-5.0)
    assert_adds_up(result)


def test_ratio_children_include_the_units_own_numerator_and_denominator():
    # unit 60/200 = 30 %; child X 20/100, child Y 30/80 → own 10/20; last year unit 50/200, X 20/100, Y 25/80
    total = RatioComponent("U", 60, 200, 50, 200)
    result = ratio_children(30.0, 32.0, total, [RatioComponent("X", 20, 100, 20, 100),
                                                RatioComponent("Y", 30, 80, 25, 80)], scale=100.0)
    keys = [p.key for p in result.parts]
    assert keys == ["X", "Y", OWN]
    own = result.parts[-1]
    assert own.kind == "own" and own.weight == pytest.approx(0.1) and own.rate == pytest.approx(50.0)
    assert [p.kind for p in result.parts[:2]] == ["child", "child"]
    assert_adds_up(result)


def test_dispatch_by_measure_type():
    children = [Component("A", 5.0, target=4.0)]
    assert gap_attribution("sum", 10.0, 8.0, children).method == "additive"
    assert gap_attribution("last", 10.0, 8.0, children).by == "org_unit"
    assert gap_attribution("count", 10.0, 8.0, [Component("x", 10.0, last_year=1.0)], by="channel").by == "channel"
    assert gap_attribution("percentile", 10.0, 8.0, children) is None
    assert gap_attribution("count_distinct", 10.0, 8.0, children) is None
    assert gap_attribution("derived", 10.0, 8.0, children) is None
    assert gap_attribution("ratio", 10.0, 8.0, [RatioComponent("A", 1, 10)]) is None  # children need the total
    assert gap_attribution("ratio", 10.0, 8.0, [RatioComponent("A", 1, 10)], by="channel", scale=100.0).method == "ratio"
    assert gap_attribution("sum", float("nan"), 8.0, children) is None


def test_reference_target_of_a_range_is_the_bound_that_was_missed():
    assert reference_target(12.0, None, 5.0, 10.0) == 10.0
    assert reference_target(3.0, None, 5.0, 10.0) == 5.0
    assert reference_target(7.0, None, 5.0, 10.0) == 7.0
    assert reference_target(7.0, 9.0) == 9.0
    assert reference_target(7.0, None) is None


def test_ratio_scale_recovers_the_percentage_factor():
    assert ratio_scale(25.0, 1.0, 4.0) == 100.0
    assert ratio_scale(0.25, 1.0, 4.0) == 1.0
    assert ratio_scale(None, 1.0, 4.0) == 1.0


def test_folding_small_parts_keeps_the_sum():
    comps = [Component(f"c{i}", float(i), last_year=1.0) for i in range(20)]
    full = additive_dimension(sum(c.actual for c in comps), 150.0, comps, by="product_category")
    folded = full.folded(6)
    assert len(folded.parts) == 6
    assert folded.parts[-1].key == OTHERS or any(p.key == OTHERS for p in folded.parts)
    assert math.isclose(folded.total, full.gap, rel_tol=1e-12)


@pytest.mark.parametrize("seed", range(25))
def test_every_decomposition_adds_up_to_the_gap(seed: int):
    rng = random.Random(seed)
    n = rng.randint(1, 7)
    actual_parts = [rng.uniform(-50, 500) for _ in range(n)]
    actual = sum(actual_parts) + rng.uniform(-20, 20)
    target = rng.uniform(1, 2000)
    children = [Component(f"u{i}", a, target=rng.choice([None, rng.uniform(0, 400)]),
                          last_year=rng.choice([None, rng.uniform(1, 400)])) for i, a in enumerate(actual_parts)]
    assert_adds_up(additive_children(actual, target, children, last_year=rng.choice([None, 900.0])))
    dims = [Component(f"v{i}", a, last_year=rng.choice([None, rng.uniform(0, 400)])) for i, a in enumerate(actual_parts)]
    assert_adds_up(additive_dimension(sum(actual_parts), target, dims, by="channel"))
    ratio = [RatioComponent(f"r{i}", rng.uniform(0, 50), rng.uniform(1, 100),
                            rng.choice([None, rng.uniform(0, 50)]), rng.choice([None, rng.uniform(1, 100)]))
             for i in range(n)]
    num, den = sum(c.numerator for c in ratio), sum(c.denominator for c in ratio)
    assert_adds_up(ratio_mix_rate(100 * num / den, rng.uniform(1, 60), ratio, by="segment", scale=100.0))
    total = RatioComponent("T", num + 5, den + 10, 40.0, 120.0)
    assert_adds_up(ratio_children(100 * (num + 5) / (den + 10), rng.uniform(1, 60), total, ratio, scale=100.0))
