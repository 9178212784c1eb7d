"""Forecast and pace: intervals that contain the truth, probabilities that follow the target,
the methods per measure type, and the back-test's honesty (no look-ahead)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.forecast import (
    FORECAST_COLUMNS,
    backtest_cases,
    evaluate_backtest,
    forecast_running,
)

KPIS = pd.DataFrame({
    "kpi_id": ["revenue", "pass_rate", "headcount"],
    "measure_type": ["sum", "ratio", "last"],
    "direction": ["higher_is_better", "higher_is_better", "target_range"],
})


def _daily(n_units: int = 12, days: int = 700, seed: int = 0) -> pd.DataFrame:
    """Clean additive series: level × weekday profile × growth × lognormal noise (no anomalies)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days)
    dow = np.asarray(dates.day_of_week)
    years = np.arange(days) / 365.25
    rows = []
    for u in range(n_units):
        level = 1000 * (1 + u)
        growth = 0.05 + 0.02 * u
        v = level * np.where(dow < 5, 1.0, 0.3) * (1 + growth) ** years * np.exp(rng.normal(0, 0.25, days))
        rows.append(pd.DataFrame({"kpi_id": "revenue", "org_unit_id": f"U{u}", "date": dates, "value": v}))
    return pd.concat(rows, ignore_index=True)


def _month_totals(daily: pd.DataFrame) -> pd.DataFrame:
    d = daily.assign(period_start=daily["date"].dt.to_period("M").dt.start_time)
    return d.groupby(["kpi_id", "org_unit_id", "period_start"], as_index=False)["value"].sum()


def test_interval_contains_the_truth_most_of_the_time():
    daily = _daily()
    totals = _month_totals(daily)
    hits, n = 0, 0
    for as_of in pd.date_range("2025-03-10", "2025-10-20", freq="23D"):
        f = forecast_running(daily, KPIS, as_of=as_of, grains=("month",))
        assert list(f.columns) == FORECAST_COLUMNS
        m = f.merge(totals.rename(columns={"value": "truth"}).assign(
            period_start=lambda x: x["period_start"].dt.date), on=["kpi_id", "org_unit_id", "period_start"])
        assert len(m) == 12
        hits += int(((m["truth"] >= m["forecast_low"]) & (m["truth"] <= m["forecast_high"])).sum())
        n += len(m)
        assert (m["method"] == "seasonal_run_rate").all()  # last year's same month exists
        assert (m["forecast_low"] <= m["forecast_value"]).all() and (m["forecast_value"] <= m["forecast_high"]).all()
    assert 0.65 <= hits / n <= 0.97, hits / n


def test_probability_follows_the_target():
    daily = _daily()
    as_of = date(2025, 6, 15)
    f = forecast_running(daily, KPIS, as_of=as_of, grains=("month",))
    targets = f[["kpi_id", "org_unit_id"]].assign(grain="month", period_start=date(2025, 6, 1))
    far_ahead = targets.assign(target_value=f["forecast_value"].to_numpy() * 0.5)
    far_behind = targets.assign(target_value=f["forecast_value"].to_numpy() * 2.0)
    at_par = targets.assign(target_value=f["forecast_value"].to_numpy())
    p_ahead = forecast_running(daily, KPIS, as_of=as_of, grains=("month",), targets=far_ahead)
    p_behind = forecast_running(daily, KPIS, as_of=as_of, grains=("month",), targets=far_behind)
    p_par = forecast_running(daily, KPIS, as_of=as_of, grains=("month",), targets=at_par)
    assert (p_ahead["probability_on_target"] > 0.95).all()
    assert (p_behind["probability_on_target"] < 0.05).all()
    assert p_par["probability_on_target"].between(0.3, 0.7).all()
    # lower is better turns it around
    lower = KPIS.assign(direction="lower_is_better")
    q = forecast_running(daily, lower, as_of=as_of, grains=("month",), targets=far_ahead)
    assert (q["probability_on_target"] < 0.05).all()


def test_additive_forecast_adds_the_actual_to_date():
    daily = _daily(n_units=2)
    as_of = date(2025, 4, 20)
    f = forecast_running(daily, KPIS, as_of=as_of, grains=("month", "quarter", "year"))
    d = daily[(daily["org_unit_id"] == "U0") & (daily["date"] >= "2025-04-01") & (daily["date"] <= "2025-04-20")]
    row = f[(f["org_unit_id"] == "U0") & (f["grain"] == "month")].iloc[0]
    assert row["actual_to_date"] == pytest.approx(d["value"].sum())
    assert row["forecast_value"] > row["actual_to_date"]
    assert (row["period_start"], row["period_end"], row["as_of_date"]) == (
        date(2025, 4, 1), date(2025, 4, 30), as_of)
    # a month is about a third of a quarter
    q = f[(f["org_unit_id"] == "U0") & (f["grain"] == "quarter")].iloc[0]
    assert 2.4 < q["forecast_value"] / row["forecast_value"] < 3.6


def test_ratio_is_projected_from_numerator_and_denominator_and_last_takes_the_latest_value():
    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-01", periods=600)
    den = rng.poisson(200, len(dates)).astype(float)
    num = rng.binomial(den.astype(int), 0.97).astype(float)
    ratio = pd.DataFrame({"kpi_id": "pass_rate", "org_unit_id": "L1", "date": dates, "value": num / den,
                          "numerator": num, "denominator": den})
    head = pd.DataFrame({"kpi_id": "headcount", "org_unit_id": "L1", "date": dates,
                         "value": np.repeat([40.0, 42.0, 45.0], 200)})
    daily = pd.concat([ratio, head], ignore_index=True)
    f = forecast_running(daily, KPIS, as_of=dates[-1], grains=("month",))
    pr = f[f["kpi_id"] == "pass_rate"].iloc[0]
    assert pr["method"] == "ratio_seasonal_run_rate"
    assert pr["forecast_value"] == pytest.approx(0.97, abs=0.005)
    hc = f[f["kpi_id"] == "headcount"].iloc[0]
    assert hc["method"] == "last_value" and hc["actual_to_date"] == 45.0


def test_backtest_uses_only_periods_that_ended_before_the_as_of_date():
    daily = _daily(n_units=4)
    cases = backtest_cases(daily, KPIS, grains=("month",))
    assert (cases["as_of_date"] <= cases["period_end"]).all()
    assert set(cases["method"]) == {"run_rate", "seasonal_run_rate"}  # 2024 has no last year
    # the forecast of a running period does not change when the future outcome changes
    as_of = date(2025, 5, 10)
    base = forecast_running(daily, KPIS, as_of=as_of, grains=("month",))
    future = daily.copy()
    future.loc[future["date"] > pd.Timestamp(as_of), "value"] *= 10
    again = forecast_running(future, KPIS, as_of=as_of, grains=("month",))
    pd.testing.assert_frame_equal(base, again)
    ev = evaluate_backtest(cases, None, KPIS)
    assert 0.6 < ev["covered"].mean() < 0.95
