"""The anomaly detector: causality, robustness, seasonality, holidays, month-end, exclusions,
direction, collapse, dropouts, weekly series — and the baseline's interface."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.anomaly import (
    DetectorParams,
    collapse_events,
    count_z,
    detect,
    detect_baseline,
    detect_frame,
    detect_panel,
)
from tests.analytics.series import daily_series

POINT_COLUMNS = ["expected", "lower", "upper", "score", "status", "is_anomaly", "kind", "direction", "impact",
                 "severity"]


def _flagged_dates(result) -> list[pd.Timestamp]:
    return list(result.frame.loc[result.frame["is_anomaly"], "date"])


def test_causal_appending_points_never_changes_the_past():
    values, dates = daily_series(260, noise=0.1, weekend=0.3, seed=1)
    values[142] *= 4  # an anomaly inside the prefix
    values[200:230] *= 1.7  # a level shift after it
    values[240:243] = 0.0  # and a dropout at the end
    prefix = detect(values[:180], dates[:180])
    full = detect(values, dates)
    left = prefix.frame[POINT_COLUMNS]
    right = full.frame[POINT_COLUMNS].iloc[:180].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)
    assert prefix.frame.loc[142, "is_anomaly"]  # the prefix really contained a judged anomaly


def test_a_huge_spike_does_not_widen_the_band_for_the_next_points():
    values, dates = daily_series(200, noise=0.08, seed=2)
    values[135] = values[135] * 60
    res = detect(values, dates).frame
    assert res.loc[135, "is_anomaly"] and res.loc[135, "kind"] == "spike"
    width = res["upper"] - res["lower"]
    before = width.iloc[125:135].mean()
    after = width.iloc[136:146]
    assert (after < before * 1.15).all(), (before, after.max())
    assert not res.loc[136:175, "is_anomaly"].any()
    # the trailing mean ± 3σ baseline is inflated by the same spike for 14 points
    base = detect_baseline(values, dates).frame
    b_width = base["upper"] - base["lower"]
    assert b_width.iloc[136:149].min() > 5 * b_width.iloc[125:135].mean()


def test_not_enough_history_means_no_score_and_no_flag():
    values, dates = daily_series(70, noise=0.05, seed=3)
    values[40] *= 100
    res = detect(values, dates).frame  # daily series: 56 clean points (8 of each weekday) first
    assert (res["status"].iloc[:56] == "not_enough_history").all()
    assert not res["is_anomaly"].iloc[:56].any()
    assert res["score"].iloc[:56].isna().all()
    # month-end days do not count towards the minimum: judging starts a few days later
    assert (res["status"].iloc[63:] == "ok").all()
    # a shorter minimum judges earlier (and sees the spike)
    short = detect(values, dates, min_history=28).frame
    assert short.loc[40, "status"] == "anomaly"


def test_weekly_seasonality_a_normal_monday_after_quiet_weekends_is_not_flagged():
    values, dates = daily_series(300, noise=0.06, weekend=0.08, seed=4)
    res = detect(values, dates).frame
    mondays = res[res["date"].dt.day_of_week == 0]
    assert (mondays["status"].iloc[9:] != "anomaly").all()
    assert (mondays["status"].iloc[9:] == "ok").mean() > 0.9  # (a few fall on a month-end still learned)
    assert res["is_anomaly"].sum() == 0
    # the expected value follows the weekly profile: weekdays ~12× weekends
    judged = res[res["status"] == "ok"]
    wk = judged[judged["date"].dt.day_of_week < 5]["expected"].median()
    we = judged[judged["date"].dt.day_of_week >= 5]["expected"].median()
    assert 8 < wk / we < 16


def test_holiday_dip_is_not_flagged_when_holidays_are_given():
    values, dates = daily_series(420, noise=0.05, weekend=0.4, seed=5)
    holidays = np.zeros(len(dates), dtype=bool)
    for start, days in (("2024-02-10", 8), ("2024-05-01", 5), ("2024-10-01", 7), ("2025-01-28", 8)):
        i = dates.get_loc(pd.Timestamp(start))
        holidays[i: i + days] = True
    rng = np.random.default_rng(55)
    values[holidays] = 12.0 * np.exp(rng.normal(0, 0.05, holidays.sum()))  # business is closed
    with_cal = detect(values, dates, holidays=holidays).frame
    assert not with_cal.loc[holidays, "is_anomaly"].any()
    assert set(with_cal.loc[holidays, "status"]) <= {"ok", "holiday_no_history", "not_enough_history"}
    # the last Spring Festival is judged against holiday history, not left out
    assert (with_cal.loc[holidays, "status"].iloc[-8:] == "ok").all()
    without = detect(values, dates).frame
    assert without.loc[holidays, "is_anomaly"].sum() >= 10


def test_month_end_peak_is_not_flagged_with_day_of_month_handling():
    values, dates = daily_series(330, noise=0.05, month_end=1.8, seed=6)
    res = detect(values, dates).frame
    days_left = np.asarray(dates.days_in_month - dates.day)
    month_end = (days_left < 3) & (np.arange(len(dates)) >= 120)  # after a few months of learning
    assert not res.loc[month_end, "is_anomaly"].any()
    assert res.loc[month_end, "expected"].mean() > 1.5 * res.loc[~month_end & (res.index >= 120), "expected"].mean()
    # without day-of-month handling the same peaks are anomalies
    plain = detect(values, dates, params=DetectorParams(month_end_days=0, month_start_days=0)).frame
    assert plain.loc[month_end, "is_anomaly"].sum() >= 10


def test_exclusion_calendar_is_respected():
    values, dates = daily_series(200, noise=0.05, seed=7)
    clean = values.copy()
    values[100:106] *= 6  # a known incident
    excl = [(dates[100].date(), dates[105].date())]
    res = detect(values, dates, exclusions=excl).frame
    assert (res.loc[100:105, "status"] == "excluded").all()
    assert not res["is_anomaly"].any()
    # the incident did not train the band: afterwards everything is as if it never happened
    ref = detect(clean, dates, exclusions=excl).frame
    np.testing.assert_allclose(res["expected"].iloc[106:], ref["expected"].iloc[106:])
    np.testing.assert_allclose(res["upper"].iloc[106:], ref["upper"].iloc[106:])


def test_direction_and_impact():
    values, dates = daily_series(160, noise=0.05, seed=8)
    values[135] *= 3
    values[140] *= 0.2
    revenue = detect(values, dates, direction="higher_is_better").frame
    complaints = detect(values, dates, direction="lower_is_better").frame
    assert (revenue.loc[135, "direction"], revenue.loc[135, "impact"]) == ("up", "good")
    assert (complaints.loc[135, "direction"], complaints.loc[135, "impact"]) == ("up", "bad")
    assert (revenue.loc[140, "direction"], revenue.loc[140, "impact"]) == ("down", "bad")
    assert (complaints.loc[140, "direction"], complaints.loc[140, "impact"]) == ("down", "good")
    # target_range: bad when the value leaves the range, good when it stays inside
    rng = detect(values, dates, direction="target_range", target_low=50.0, target_high=400.0).frame
    assert rng.loc[135, "impact"] == "good" and rng.loc[140, "impact"] == "bad"
    # the same deviation is more severe when bad than when good
    sev = ["low", "medium", "high", "critical"]
    assert sev.index(complaints.loc[135, "severity"]) > sev.index(revenue.loc[135, "severity"])


def test_severity_speaks_in_attainment_terms_when_a_target_is_given():
    values, dates = daily_series(160, noise=0.03, seed=9)
    values[135] *= 0.78  # −22 %: a clear dip, but modest relative to the expected value
    plain = detect(values, dates).frame
    big_target = detect(values, dates, target=np.full(len(values), 40.0)).frame  # deviation ≈ 55 % of target
    assert plain.loc[135, "is_anomaly"] and big_target.loc[135, "is_anomaly"]
    assert plain.loc[135, "severity"] == "low"
    assert big_target.loc[135, "severity"] in ("medium", "high")


def test_an_ongoing_event_collapses_to_one_anomaly_with_start_and_end():
    values, dates = daily_series(200, noise=0.05, seed=10)
    values[169:173] *= 4.0  # four days of a spike (Tuesday–Friday)
    res = detect(values, dates, label="net revenue", unit="CNY")
    events = collapse_events(res)
    assert len(events) == 1
    ev = events[0]
    assert (ev.start_date, ev.end_date) == (dates[169].date(), dates[172].date())
    assert ev.n_points == 4 and ev.direction == "up" and ev.impact == "good"
    assert "net revenue" in ev.reason and "expected" in ev.reason and "band" in ev.reason


def test_level_shift_is_flagged_until_learned_then_collapsed():
    values, dates = daily_series(260, noise=0.08, seed=11)
    values[150:] *= 1.6  # a permanent new level
    res = detect(values, dates)
    events = collapse_events(res)
    assert len(events) == 1
    ev = events[0]
    assert ev.kind == "level_shift" and ev.direction == "up"
    assert dates[150].date() <= ev.start_date <= dates[160].date()
    flagged = res.frame["is_anomaly"]
    assert 3 <= flagged.sum() <= 20  # flagged while the new level is not yet learned …
    assert not flagged.iloc[190:].any()  # … and then accepted as the new normal
    assert abs(res.frame["expected"].iloc[-20:].median() / (1.6 * 100) - 1) < 0.1


def test_a_temporary_shift_ends_where_the_series_returns():
    values, dates = daily_series(300, noise=0.08, seed=12)
    values[150:185] *= 1.7
    res = detect(values, dates)
    events = collapse_events(res)
    assert len(events) == 1  # the return to the old level is not a new anomaly
    assert events[0].kind == "level_shift"
    assert events[0].end_date == dates[184].date()


def test_dropout_kind():
    values, dates = daily_series(200, noise=0.1, weekend=0.3, seed=13)
    values[163:165] = 0.0  # Wednesday, Thursday: nothing booked
    res = detect(values, dates, label="net revenue")
    events = collapse_events(res)
    assert len(events) == 1
    ev = events[0]
    assert ev.kind == "dropout" and ev.impact == "bad"
    assert (ev.start_date, ev.end_date) == (dates[163].date(), dates[164].date())
    assert "dropped to 0" in ev.reason


def test_zeros_of_a_low_count_series_are_not_dropouts():
    rng = np.random.default_rng(14)
    dates = pd.date_range("2024-01-01", periods=400)
    values = rng.poisson(np.where(dates.day_of_week < 5, 3.0, 0.5)).astype(float)  # zeros are common
    res = detect(values, dates, direction="lower_is_better").frame
    assert (res["kind"] == "dropout").sum() == 0
    assert res["is_anomaly"].sum() <= 2


def test_weekly_frequency():
    dates = pd.date_range("2024-01-01", periods=90, freq="W-MON")
    rng = np.random.default_rng(15)
    values = 1000 * np.exp(rng.normal(0, 0.05, len(dates)))
    values[60] *= 2.5
    res = detect(values, dates, freq="W").frame
    assert list(res.index[res["is_anomaly"]]) == [60]
    assert (res["status"].iloc[:8] == "not_enough_history").all()
    assert "week" in collapse_events(detect(values, dates, freq="W"))[0].reason


def test_panel_series_are_independent():
    a, dates = daily_series(150, noise=0.05, seed=16)
    b, _ = daily_series(150, noise=0.2, weekend=0.1, seed=17)
    b[100] = 0
    panel = detect_panel(np.vstack([a, b]), dates)
    one = detect_panel(a[None, :], dates)
    np.testing.assert_array_equal(panel.score[0], one.score[0])
    np.testing.assert_array_equal(panel.flag[0], one.flag[0])


def test_detect_frame_many_series_with_exclusions_for_all_units():
    frames = []
    for i, unit in enumerate(["U1", "U2", "U3"]):
        v, dates = daily_series(150, noise=0.05, seed=20 + i)
        v[135] *= 5
        frames.append(pd.DataFrame({"kpi_id": "k", "org_unit_id": unit, "date": dates, "value": v}))
    data = pd.concat(frames, ignore_index=True)
    res = detect_frame(data, direction={"k": "lower_is_better"})
    assert sorted(res.events["org_unit_id"]) == ["U1", "U2", "U3"]
    assert set(res.events["impact"]) == {"bad"}
    excl = pd.DataFrame({"kpi_id": ["k"], "org_unit_id": [None], "start_date": [dates[135]],
                         "end_date": [dates[135]]})
    assert detect_frame(data, exclusions=excl).events.empty


def test_baseline_has_the_same_interface():
    values, dates = daily_series(120, noise=0.05, seed=21)
    values[100] *= 3
    res = detect_baseline(values, dates, holidays=np.zeros(len(dates), dtype=bool))
    assert list(res.frame.columns) == list(detect(values, dates).frame.columns)
    assert res.frame.loc[100, "is_anomaly"]
    assert (res.frame["status"].iloc[:14] == "not_enough_history").all()
    assert len(collapse_events(res)) >= 1


def test_bad_input_is_named():
    values, dates = daily_series(20)
    with pytest.raises(ValueError, match="strictly increasing"):
        detect(values, dates[::-1])
    with pytest.raises(ValueError, match="direction"):
        detect(values, dates, direction="up_is_good")
    with pytest.raises(ValueError, match="one value per date"):
        detect(values[:-1], dates)


# --- the count model -------------------------------------------------------------------------------


def _poisson_upper(k: int, mu: float) -> float:
    """P(X ≥ k), X ~ Poisson(mu), summed upwards (exact for the tails used here)."""
    return sum(math.exp(j * math.log(mu) - mu - math.lgamma(j + 1)) for j in range(k, k + 400))


@pytest.mark.parametrize("mu", [1.3, 2.5, 8.0, 150.0])
def test_count_z_is_calibrated_on_the_poisson_tail(mu):
    for k in range(int(mu) + 1, int(mu + 8 * math.sqrt(mu)) + 3):
        exact = -NormalDist().inv_cdf(_poisson_upper(k, mu))
        if not 2.0 <= exact <= 6.0:
            continue
        z = float(count_z(np.array([k]), np.array([mu]))[0])
        # close to the exact tail's normal quantile, and never much bolder than it
        assert abs(z - exact) <= 0.3 and z <= exact + 0.05, (mu, k, z, exact)
    # a Gaussian z would call 12 complaints where 2.5 are expected a 6σ event; it is ≈ 4σ
    assert 3.8 < float(count_z(np.array([12.0]), np.array([2.5]))[0]) < 4.4


def _complaints(n: int, seed: int, p: float = 0.04) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n)
    tickets = rng.poisson(np.where(dates.day_of_week < 5, 60.0, 33.0)).astype(float)
    complaints = rng.binomial(tickets.astype(int), p).astype(float)
    return complaints, tickets, dates


def test_a_ratio_of_few_counts_is_scored_on_its_counts():
    """≈ 2.4 complaints a working day: a day with 12 is an anomaly, Poisson noise is not — and the
    detector gets both from the numerator and denominator, while the rate alone says neither."""
    frames = []
    for unit, seed in (("TM-A", 31), ("TM-B", 32)):
        num, den, dates = _complaints(560, seed)
        if unit == "TM-A":
            num[400] = 12.0  # a Wednesday: +400 %
        frames.append(pd.DataFrame({"kpi_id": "complaint_rate", "org_unit_id": unit, "date": dates,
                                    "value": 100 * num / den, "numerator": num, "denominator": den}))
    data = pd.concat(frames, ignore_index=True)
    res = detect_frame(data, direction={"complaint_rate": "lower_is_better"}, numerator_col="numerator",
                       denominator_col="denominator")
    ev = res.events
    hit = ev[(ev["org_unit_id"] == "TM-A") & (ev["start_date"] == dates[400].date())]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert (row["kind"], row["direction"], row["impact"]) == ("spike", "up", "bad")
    assert 2.5 < row["expected_value"] < 5.0  # in the KPI's unit (percent): ≈ 3–4 % on a Wednesday
    assert row["actual_value"] > row["upper"]
    assert len(ev) - 1 <= 1  # 2 × 500 days of Poisson noise: at most one false alarm
    # the rate alone (robust z-scores of a few-count ratio) cannot see it
    alone = detect_frame(data, direction={"complaint_rate": "lower_is_better"}).events
    assert not ((alone["org_unit_id"] == "TM-A") & (alone["start_date"] == dates[400].date())).any()


def test_a_pass_rate_is_scored_on_its_defects():
    """98.5 % of ≈ 9000 units pass: a day at 95.5 % (3 % lower, 3× the defects) is a dip."""
    rng = np.random.default_rng(34)
    dates = pd.date_range("2024-01-01", periods=300)
    produced = rng.poisson(np.where(dates.day_of_week < 5, 9000.0, 4000.0)).astype(float)
    good = produced - rng.binomial(produced.astype(int), 0.015)
    good[250] = np.round(produced[250] * 0.985 * 0.97)
    res = detect(good / produced, dates, numerator=good, denominator=produced, label="Pass rate")
    ev = collapse_events(res)
    assert [(e.start_date, e.kind, e.direction, e.impact) for e in ev] == [(dates[250].date(), "dip", "down", "bad")]
    assert ev[0].expected_value == pytest.approx(0.985, abs=0.002)
    assert ev[0].lower < ev[0].expected_value < ev[0].upper


def test_a_count_dropout_needs_enough_zeros():
    """≈ 3 bugs a working day: one day without any is noise; four in a row is a broken feed."""
    rng = np.random.default_rng(37)
    dates = pd.date_range("2024-01-01", periods=400)
    bugs = rng.poisson(np.where(dates.day_of_week < 5, 3.0, 0.4)).astype(float)
    bugs[300] = 0.0  # a Wednesday
    bugs[344:348] = 0.0  # Tuesday to Friday
    res = detect(bugs, dates, direction="lower_is_better", counts=True, label="Bugs")
    ev = collapse_events(res)
    drop = [e for e in ev if e.kind == "dropout"]
    assert len(drop) == 1 and drop[0].start_date >= dates[345].date() and drop[0].end_date == dates[347].date()
    assert not res.frame.loc[300, "is_anomaly"]
    assert len(ev) <= 2


def test_a_learned_shift_that_ends_is_restored_without_a_false_alarm():
    """A 40 % drop for 20 days is learned as the new level; when the series comes back, the old level
    is restored (a sequential test — one point at +1.7σ does not prove it) and the event ends there."""
    values, dates = daily_series(300, noise=0.25, seed=35)
    values[200:220] *= 0.6
    res = detect(values, dates)
    ev = collapse_events(res)
    assert len(ev) == 1, ev
    assert ev[0].kind == "level_shift" and ev[0].direction == "down"
    assert dates[200].date() <= ev[0].start_date <= dates[210].date()
    assert dates[215].date() <= ev[0].end_date <= dates[232].date()
    assert not res.frame.loc[220:, "is_anomaly"].any()


def test_a_short_event_does_not_keep_an_alarm_open():
    """Six days 35 % low (too short to be learned), then normal: the alarm ends with the event
    instead of draining for weeks and flagging every noisy point on its side."""
    values, dates = daily_series(260, noise=0.1, seed=36)
    values[200:206] *= 0.65
    res = detect(values, dates).frame
    flagged = np.flatnonzero(res["is_anomaly"].to_numpy())
    assert flagged.size and flagged.min() >= 200 and flagged.max() <= 208
