"""The named parts of the detectors, each on its own: seasonality, level predictors and the CUSUM,
scale floors, calibration, the count models, and the calendar-aware detector's parts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.analytics.calibration import (
    TailModel,
    empirical_tail,
    gaussian_tail,
    gpd_fit,
    score_tail,
    tail_score,
    z_for_tail,
)
from pipelines.analytics.count_model import IntermittentModel, count_z
from pipelines.analytics.kpi_engine import RecentScores
from pipelines.analytics.kpi_parts import (
    CalendarProfile,
    DayEffects,
    LevelWindow,
    PendingQueue,
    PointRecord,
    ResidualScale,
    Transform,
)
from pipelines.analytics.level import PREDICTORS, LevelModel, ShiftMonitor, lag1_correlation, long_run_factor
from pipelines.analytics.scale import ScaleModel, quantum
from pipelines.analytics.seasonality import SeasonalProfile, find_periods, find_periods_batch, snap_period

RNG = np.random.default_rng(2024)

# --- seasonality ------------------------------------------------------------------------------------


def test_periods_are_found_from_the_data_and_snapped_to_the_natural_one():
    t = np.arange(2000)
    assert find_periods(np.sin(2 * np.pi * t / 24) + 0.1 * RNG.normal(size=2000), step_seconds=3600) == [24]
    # a day and a week at once (hourly data)
    both = np.sin(2 * np.pi * t / 24) + 0.5 * (t % 168 < 48) + 0.1 * RNG.normal(size=2000)
    assert find_periods(both, step_seconds=3600) == [24, 168]
    # any period, not only calendar ones
    assert find_periods(np.sin(2 * np.pi * t / 17.3)) == [17]
    # a noisy ACF peak at 23 for hourly data is the daily cycle
    assert snap_period(23, 3600) == 24 and snap_period(23, None) == 23 and snap_period(30, 3600) == 30
    # no seasonality in noise, a random walk, a trend, or a straight line
    assert find_periods(RNG.normal(size=2000)) == []
    assert find_periods(np.cumsum(RNG.normal(size=2000))) == []
    assert find_periods(3.0 + 0.5 * t) == []
    # too short for three cycles: not found
    assert find_periods(np.sin(2 * np.pi * t[:60] / 24)) == []
    rows = np.vstack([np.sin(2 * np.pi * t / 24), RNG.normal(size=2000)])
    assert find_periods_batch(rows, step_seconds=3600) == [[24], []]


def test_the_seasonal_profile_is_causal_and_robust():
    period = 24
    dev = np.tile(np.sin(2 * np.pi * np.arange(period) / period), 8)[None, :].copy()
    dev[0, 24 * 6 + 5] = 50.0  # one wild point in the history
    prof = SeasonalProfile(dev, cycles=5, width_divisor=96)
    prof.set_periods(np.array([0]), [[period]])
    t = 24 * 7 + 5
    c = prof.component(t)
    assert abs(c[0] - math.sin(2 * math.pi * 5 / 24)) < 1e-9  # the median of 5 cycles ignores the 50
    dev[0, t:] = 1e6  # the future cannot change it
    assert prof.component(t)[0] == c[0]
    # without enough cycles there is no component
    early = SeasonalProfile(dev.copy(), cycles=5)
    early.set_periods(np.array([0]), [[period]])
    assert early.component(30)[0] == 0.0


# --- level and shifts -------------------------------------------------------------------------------


def _choose_after(values: np.ndarray) -> str:
    s_n, t_n = 1, len(values)
    lm = LevelModel(np.full((s_n, t_n), np.nan))
    for t in range(t_n):
        preds = lm.predict(t)
        lm.record(t, np.array([values[t]]), preds, np.array([values[t]]))
    return PREDICTORS[int(lm.choose(t_n)[0])]


def test_the_predictor_with_the_smallest_recent_error_wins():
    assert _choose_after(100 + RNG.normal(size=600)) == "long"  # independent noise: average it away
    assert _choose_after(np.cumsum(RNG.normal(size=300))) == "trend"  # a random walk: the last value
    assert _choose_after(5.0 * np.arange(300)) == "trend"  # a ramp: where it goes


def test_the_cusum_flags_a_shift_but_not_autocorrelated_noise():
    shift = ShiftMonitor(1, k=0.75, h=8.0)
    flags = [bool(shift.update(t, np.array([0.0 if t < 50 else 1.5]), np.array([True]))[0]) for t in range(80)]
    assert not any(flags[:50]) and sum(flags[50:]) >= 20
    # AR(1) errors with ρ = 0.8 (each standardized to variance 1): runs of one sign are their nature
    e = np.zeros(3000)
    for t in range(1, 3000):
        e[t] = 0.8 * e[t - 1] + 0.6 * RNG.normal()
    rho = lag1_correlation(e[None, :500])[0]
    assert 0.7 < rho < 0.9
    plain, corrected = ShiftMonitor(1, h=8.0), ShiftMonitor(1, h=8.0)
    lr = long_run_factor(np.array([rho]))
    n_plain = sum(bool(plain.update(t, e[t:t + 1], np.array([True]))[0]) for t in range(3000))
    n_corr = sum(bool(corrected.update(t, e[t:t + 1], np.array([True]), lr)[0]) for t in range(3000))
    assert n_corr < n_plain / 3


# --- scale --------------------------------------------------------------------------------------------


def test_the_scale_floor_knows_quantized_and_noise_free_series():
    counts = RNG.poisson(3, (1, 400)).astype(float)
    assert quantum(counts)[0] == 1.0
    assert quantum(np.where(RNG.random((1, 400)) < 0.5, 5.0, 7.0))[0] == 2.0
    spike_on_constant = np.full((1, 400), 42.0)
    spike_on_constant[0, 100] = 60.0
    assert quantum(spike_on_constant)[0] == 0.0  # a one-off value is not a step
    assert quantum(RNG.normal(size=(1, 400)))[0] == 0.0  # continuous values have none
    sm = ScaleModel(2, range_fraction=0.02)
    t = np.arange(500)
    z = np.vstack([np.sin(2 * np.pi * t / 24), 0.5 * t + RNG.normal(size=500)])  # a sine, a noisy ramp
    sm.update_range(500, z)
    assert abs(sm.range[0] - 2.0) < 0.1  # the sine moves over [−1, 1]
    assert sm.range[1] < 10  # the ramp's range comes from its noise, not from its trend
    assert np.allclose(sm.floor(), 0.02 * sm.range)


# --- calibration ----------------------------------------------------------------------------------------


def test_scores_are_tail_probabilities():
    for z in (0.5, 2.0, 4.0, 8.0):
        assert float(gaussian_tail(z)) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-6)
    assert float(gaussian_tail(30.0)) > 0  # far tails stay positive
    assert tail_score(1e-3, 1e-3) == pytest.approx(0.5)
    assert tail_score(1e-6, 1e-3) == pytest.approx(0.75)
    assert tail_score(1.0, 1e-3) == pytest.approx(0.0)
    assert float(score_tail(tail_score(3e-5, 1e-3), 1e-3)) == pytest.approx(3e-5)
    assert abs(float(gaussian_tail(z_for_tail(1e-4))) - 1e-4) < 1e-9
    hist = np.array([[5.0, 6.0, 0.1, -0.2, 0.3, 7.0] + [0.0] * 94])
    assert empirical_tail(hist, np.array([5.5]), 2)[0] == pytest.approx(0.02)  # 6 and 7: 2 of 100
    assert empirical_tail(hist, np.array([6.5]), 2)[0] == 0.0  # seen once: the model decides
    assert empirical_tail(hist, np.array([-5.5]), 1)[0] == 0.0  # the other side was never that far


def test_the_tail_model_learns_heavy_tails():
    xi, sigma = gpd_fit(RNG.pareto(3.0, 5000))  # Pareto tail index 3: ξ ≈ 1/3
    assert 0.2 < xi < 0.5 and sigma > 0
    assert gpd_fit(RNG.exponential(2.0, 5000))[0] < 0.1
    heavy = RNG.standard_t(3, size=(1, 3000))
    tm = TailModel(1, quantile=0.97, min_exceedances=20, window=5000)
    tm.update(3000, heavy)
    p = tm.p_value(np.array([8.0]))[0]
    assert p > 10 * float(gaussian_tail(8.0))  # far more likely than a Gaussian says
    assert 0.3 * 0.5 * 0.0055 < p < 3 * 0.5 * 0.0055  # P(|t3| > 8) ≈ 0.0040–0.0055


# --- count models -----------------------------------------------------------------------------------------


def test_an_intermittent_series_is_judged_by_how_rare_and_how_large_a_burst_is():
    x = np.zeros((1, 1000))
    x[0, ::50] = 1.0  # one event now and then
    x[0, 500] = 8.0
    hm = IntermittentModel(x)
    assert hm.intermittent(900)[0]
    assert hm.p_value(901, np.array([0]))[0] == 1.0  # a zero is normal
    assert hm.p_value(550, np.array([0]))[0] > 0.01  # an ordinary single event is not rare
    assert hm.p_value(500, np.array([0]))[0] < 1e-4  # eight at once is
    assert abs(float(count_z(12.0, 2.5)) - 4.1) < 0.15


# --- the calendar-aware detector's parts ------------------------------------------------------------------


class _P:
    min_history, softness, count_softness, threshold, cusum_h = 8, 0.3, 0.5, 4.0, 8.0
    count_threshold_factor, count_model_threshold, count_cusum_factor, transform = 1.25, None, 1.0, "auto"


def test_the_transform_is_log_like_for_levels_and_linear_for_two_signed_kpis():
    vals = np.vstack([np.full(20, 1000.0), np.r_[np.full(10, -20.5), np.full(10, 30.5)], np.full(20, 3.0)])
    tf = Transform(vals, _P, np.zeros(3, dtype=bool))
    assert not tf.linear[0] and tf.linear[1]
    assert tf.countlike.tolist() == [False, False, True]  # small integers
    assert tf.threshold.tolist() == [4.0, 4.0, 5.0]
    assert np.allclose(tf.back(tf.z[:, 5]), vals[:, 5])


def test_profile_day_effects_level_and_scale_parts():
    prof = CalendarProfile(1, 7, cycles=4, winsor=2.5)
    for _ in range(4):
        for d in range(7):
            prof.push(np.array([0]), np.array([d]), np.array([1.0 if d < 5 else -2.0]))
    p = prof.profile()[0]
    assert np.allclose(p[:5], 0.0) and np.allclose(p[5:7], -3.0) and p[7] == 0.0  # centred on the median day
    days = DayEffects(1, 2, history=12, min_history=3, fallback=np.array([0, 0, 1]))
    for _ in range(3):
        days.push(np.array([0]), np.array([1]), np.array([0.4]), np.array([np.nan]), np.array([np.nan]))
    d, known, inflation, fb_used, fb = days.effect(2)  # bucket 2 falls back to bucket 1 while unknown
    assert known[0] and d[0] == pytest.approx(0.4) and fb_used[0] and fb == 1 and inflation[0] > 1
    lv = LevelWindow(1, 4, winsor=2.5)
    for t, v in enumerate([1.0, 1.0, 9.0, 1.0, 1.0]):
        lv.push(np.array([0]), np.array([v]), np.array([0]), np.array([t]), np.array([np.nan]), np.array([np.nan]))
    assert lv.level(np.zeros((1, 9)))[0] == pytest.approx(1.0, abs=0.1)  # the last 4, robustly
    lv.forget_since(np.array([0]), np.array([3]))
    assert np.isnan(lv.z[0]).sum() == 2
    rs = ResidualScale(1, window=50, min_class=5, winsor=2.5, floor=0.03, weekly_classes=True)
    for i in range(50):
        rs.push(np.array([0]), np.array([RNG.normal() * (0.1 if i % 7 < 5 else 1.0)]), np.array([i % 7]))
    assert rs.scale(6)[0] > 3 * rs.scale(1)[0]  # days off are noisier than working days here


def test_the_pending_queue_and_recent_scores():
    q = PendingQueue(2, 3)
    rec = PointRecord(*(np.array([float(i), float(i)]) for i in range(12)))
    q.add(np.array([1]), rec.take(np.array([1])), np.array([True]))
    assert q.n.tolist() == [0, 1] and q.flagged[1, 0]
    assert q.slot(np.array([1]), 0).z[0] == 0.0
    rs = RecentScores(1, 40)
    x = np.zeros(60)
    for t in range(1, 60):
        x[t] = 0.9 * x[t - 1] + RNG.normal()
    for t in range(60):
        rs.push(np.array([0]), np.array([x[t]]), t)
    assert rs.correlation()[0] > 0.6
