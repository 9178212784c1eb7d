"""score_series: one series of any regular frequency in, a calibrated score and a flag per point out —
quiet on clean series of many shapes, finds what is injected, causal, and honest about bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.calibration import score_tail
from pipelines.analytics.score import ScoreParams, score_panel, score_series

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from shape_series import evaluate, make_shapes


def _hourly(n: int, seed: int = 0) -> tuple[pd.DatetimeIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.date_range("2024-03-01", periods=n, freq="h"), 100 + 30 * np.sin(2 * np.pi * t / 24) + 3 * rng.normal(
        size=n)


def test_the_documented_call_returns_a_calibrated_score_and_a_flag_per_point():
    ts, v = _hourly(600)
    v[450] += 40  # a spike of ≈ 13 σ
    res = score_series(ts, v, direction="both")
    f = res.frame
    assert len(f) == 600 and list(f["timestamp"]) == list(ts)
    assert {"score", "is_anomaly", "expected", "lower", "upper", "status", "kind"} <= set(f.columns)
    judged = f["score"].notna()
    assert judged.sum() > 500 and (f.loc[judged, "score"].between(0, 1)).all()
    assert (f["is_anomaly"] == (f["score"] >= 0.5)).all()  # the flag is the score at 0.5
    assert f.loc[450, "is_anomaly"] and f.loc[450, "kind"] == "spike"
    assert f["is_anomaly"].sum() <= 3
    assert res.periods == [24]  # the daily cycle, found from the data
    assert f.loc[450, "lower"] < f.loc[450, "expected"] < f.loc[450, "upper"] < v[450]


def test_one_score_means_one_tail_probability_on_every_series():
    """Gaussian noise of very different levels and scales, and noise that is quantized: the share of
    points at or above a score is the tail probability that score stands for."""
    rng = np.random.default_rng(7)
    n, s_n = 1500, 60
    smooth = 1e6 + 2e4 * rng.normal(size=(s_n // 2, n))
    tiny = 0.003 + 1e-4 * rng.normal(size=(s_n // 2, n))
    res = score_panel(np.vstack([smooth, tiny]), step_seconds=60.0)
    sc = res.score[np.isfinite(res.score)]
    for threshold in (0.5, 0.3):
        share = float(np.mean(sc >= threshold))
        nominal = float(score_tail(threshold, ScoreParams().alpha))
        assert 0.2 * nominal < share < 3.0 * nominal, (threshold, share, nominal)
    # and the two halves flag alike (one threshold, same meaning)
    flags = res.flag[:, 200:].mean(axis=1)
    assert abs(flags[: s_n // 2].mean() - flags[s_n // 2:].mean()) < 2e-3


@pytest.mark.slow
def test_clean_series_of_many_shapes_stay_quiet_and_injected_events_are_found():
    shapes = make_shapes(2)
    res = evaluate(shapes, lambda sh: score_series(sh.timestamps, sh.values).is_anomaly)
    res["clean"] = ~res["shape"].str.endswith("+anomalies")
    clean = res[res["clean"]].set_index("shape")
    # noise-free periodic, two-valued, constant, noise-free ramp, weekly, short: no false alarm at all
    quiet = ["sine_noise_free_hourly", "sine_tiny_noise_hourly", "two_values_alternating", "constant",
             "ramp_noise_free", "weekly_data", "short_series"]
    assert clean.loc[quiet, "false_alarms"].sum() == 0, clean.loc[quiet, "false_alarms"]
    # every clean shape: at most 1 % of its points flagged — except heavy-tailed noise (Student t, 3
    # degrees of freedom), whose tail is only learned after ≈ 670 points (a known weakness): ≤ 2 %
    light = clean.drop(index="student_t3")
    assert (light["flagged_share"] <= 0.01).all(), light["flagged_share"]
    assert clean.loc["student_t3", "flagged_share"] <= 0.02
    twins = res[~res["clean"]]
    assert twins["found"].sum() >= 0.6 * twins["true_events"].sum()
    found = twins.set_index("shape")["found"]
    assert found[["sine_noise_free_hourly+anomalies", "constant+anomalies", "ramp_noise_free+anomalies",
                  "trend_weekly_daily+anomalies", "poisson_3+anomalies"]].min() == 3


def test_a_smooth_ramp_is_not_a_level_shift():
    ts = pd.date_range("2024-01-01", periods=900, freq="min")
    t = np.arange(900)
    v = 500 + 0.8 * t + np.where(t > 400, 0.004 * (t - 400) ** 2, 0.0) + np.random.default_rng(3).normal(0, 2, 900)
    assert score_series(ts, v).is_anomaly.sum() == 0


def test_an_intermittent_series_is_judged_on_its_counts():
    rng = np.random.default_rng(5)
    v = rng.poisson(0.15, 2000).astype(float)
    v[0] = 1
    v[1500] = 9.0  # a burst: never more than 3 before
    res = score_series(pd.date_range("2024-01-01", periods=2000, freq="h"), v)
    assert res.frame.loc[1500, "is_anomaly"]
    assert res.is_anomaly.sum() <= 2  # zeros and ordinary ones and twos are normal


def test_appending_points_never_changes_what_was_said_about_the_past():
    ts, v = _hourly(500, seed=9)
    v[300] += 60
    full = score_series(ts, v).frame
    part = score_series(ts[:350], v[:350]).frame
    cols = ["score", "is_anomaly", "expected", "lower", "upper", "status"]
    pd.testing.assert_frame_equal(part[cols], full[cols].iloc[:350].reset_index(drop=True))
    assert part.loc[300, "is_anomaly"]


def test_gaps_missing_values_and_direction():
    ts, v = _hourly(700, seed=11)
    keep = np.ones(700, dtype=bool)
    keep[200:260] = False  # a gap in the timestamps
    v[np.random.default_rng(1).random(700) < 0.05] = np.nan
    v[500], v[600] = 200.0, 10.0
    ts2, v2 = ts[keep], v[keep]
    both = score_series(ts2, v2).frame.set_index("timestamp")
    assert both.loc[ts[500], "is_anomaly"] and both.loc[ts[600], "is_anomaly"]
    assert both["score"][np.isnan(v2)].isna().all() and not both["is_anomaly"][np.isnan(v2)].any()
    up = score_series(ts2, v2, direction="up").frame.set_index("timestamp")
    down = score_series(ts2, v2, direction="down").frame.set_index("timestamp")
    assert up.loc[ts[500], "is_anomaly"] and not up.loc[ts[600], "is_anomaly"]
    assert down.loc[ts[600], "is_anomaly"] and not down.loc[ts[500], "is_anomaly"]


def test_bad_input_is_named():
    ts, v = _hourly(50)
    with pytest.raises(ValueError, match="direction must be one of both, up, down"):
        score_series(ts, v, direction="sideways")
    with pytest.raises(ValueError, match="one value per timestamp"):
        score_series(ts, v[:-1])
    with pytest.raises(ValueError, match="increasing order: point 10"):
        score_series(list(ts[:10]) + [ts[0]] + list(ts[11:]), v)
    assert score_series(ts[:10], v[:10]).frame["score"].isna().all()  # too short to judge: no score
