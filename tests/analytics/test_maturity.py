"""Maturity (values still filling in are neither judged nor forecast from) and bounds (forecasts stay
within what a KPI can possibly be)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines.analytics.bounds import Bounds, clip_forecast, kpi_bounds
from pipelines.analytics.forecast import forecast_running
from pipelines.analytics.marts import anomalies_mart, forecast_mart
from pipelines.analytics.maturity import completion_curve, immature, learn_settle_days, settle_days
from quality.catalog.schema import KpiSpec

AS_OF = pd.Timestamp("2025-06-20")
RNG = np.random.default_rng(11)


def _tickets(days: int = 400, units: int = 4) -> pd.DataFrame:
    """Resolution time by opening date: a day's tickets resolve over the following week, so as of
    AS_OF the last days count only the quick ones (fewer tickets, shorter average)."""
    dates = pd.date_range(end=AS_OF, periods=days)
    age = (AS_OF - dates).days.to_numpy()
    done = 1.0 - np.exp(-(age + 0.5) / 2.0)  # share of the day's tickets resolved by now
    rows = []
    for u in range(units):
        opened = RNG.poisson(60, days).astype(float)
        resolved = np.round(opened * done)
        hours = resolved * 20.0 * (0.3 + 0.7 * done) * np.exp(RNG.normal(0, 0.05, days))  # quick ones first
        rows.append(pd.DataFrame({"kpi_id": "avg_resolution_hours", "org_unit_id": f"TM-{u}", "grain": "day",
                                  "period_start": dates, "period_end": dates, "actual_value": hours / resolved,
                                  "numerator": hours, "denominator": resolved, "is_complete": True,
                                  "is_verified": True, "kpi_version": 1}))
        sales = RNG.poisson(40, days).astype(float)
        rows.append(pd.DataFrame({"kpi_id": "orders", "org_unit_id": f"TM-{u}", "grain": "day", "period_start": dates,
                                  "period_end": dates, "actual_value": sales, "numerator": np.nan,
                                  "denominator": np.nan, "is_complete": True, "is_verified": True, "kpi_version": 1}))
    return pd.concat(rows, ignore_index=True)


DEFINITIONS = pd.DataFrame({
    "kpi_id": ["avg_resolution_hours", "orders"], "version": 1, "is_current": True,
    "name": ["Average resolution time", "Orders"], "unit": ["hours", "orders"],
    "direction": ["lower_is_better", "higher_is_better"], "measure_type": ["ratio", "count"],
    "numerator": ["sum(resolution_hours)", None], "denominator": ["count(resolution_hours)", None],
    "formula": None, "measure_model": "fct", "measure_expression": None, "measure_filter": None, "percentile": None,
})


def _dim_date() -> pd.DataFrame:
    days = pd.date_range("2024-01-01", "2025-12-31")
    return pd.DataFrame({"date_day": days, "is_holiday": False, "is_workday": days.day_of_week < 5})


def test_settle_times_are_learned_from_how_much_of_a_day_is_in():
    act = _tickets()
    vol = act.assign(volume=act["denominator"].where(act["kpi_id"] != "orders", act["actual_value"]),
                     date=act["period_start"])
    curve = completion_curve(vol, AS_OF)
    res = curve[curve["kpi_id"] == "avg_resolution_hours"].set_index("age")["completion"]
    assert res[0] < 0.3 and res[3] > 0.75 and res[10] > 0.85  # the completion curve
    learned = learn_settle_days(vol, AS_OF)
    assert 3 <= learned["avg_resolution_hours"] <= 6  # ≥ 85 % resolved after ≈ 4 days
    assert "orders" not in learned  # counted on the day it happens: mature at once
    # a declaration can only make it longer (the catalog's maturity_days, or an explicit mapping)
    declared = DEFINITIONS.assign(maturity_days=[2, 3])
    both = settle_days(act, declared, AS_OF)
    assert both["avg_resolution_hours"] == learned["avg_resolution_hours"] and both["orders"] == 3
    assert settle_days(act, DEFINITIONS, AS_OF, declared={"avg_resolution_hours": 9})["avg_resolution_hours"] == 9
    young = immature(pd.Series(["orders", "avg_resolution_hours"]), pd.Series([AS_OF, AS_OF]), AS_OF, learned)
    assert young.tolist() == [False, True]
    assert KpiSpec.model_fields["maturity_days"].default is None  # optional in the catalog


def test_no_anomaly_is_flagged_on_a_value_still_filling_in():
    act = _tickets()
    out = anomalies_mart(act, DEFINITIONS, _dim_date(), grains=("day",))
    recent = out[pd.to_datetime(out["end_date"]) >= AS_OF - pd.Timedelta(days=7)]
    assert recent.empty, recent[["kpi_id", "org_unit_id", "start_date", "kind"]]
    # without maturity the incomplete last days are "good news" dips of resolution time
    naive = anomalies_mart(act, DEFINITIONS, _dim_date(), grains=("day",), settle_days={})
    dips = naive[(naive["kpi_id"] == "avg_resolution_hours")
                 & (pd.to_datetime(naive["end_date"]) >= AS_OF - pd.Timedelta(days=2))]
    assert len(dips) >= 2


def test_immature_days_are_not_forecast_from():
    act = _tickets()
    per = []
    for grain, code in (("month", "M"), ("quarter", "Q")):
        d = act.assign(period_start=act["period_start"].dt.to_period(code).dt.start_time)
        g = d.groupby(["kpi_id", "org_unit_id", "period_start"], as_index=False).agg(
            s=("actual_value", "sum"), num=("numerator", "sum"), den=("denominator", "sum"))
        g["actual_value"] = np.where(g["kpi_id"] == "orders", g["s"], g["num"] / g["den"])
        g["period_end"] = g["period_start"].dt.to_period(code).dt.end_time.dt.normalize()
        g["grain"], g["is_complete"] = grain, g["period_end"] <= AS_OF
        per.append(g.drop(columns=["s", "num", "den"]))
    actuals = pd.concat([act, *per], ignore_index=True)
    with_maturity = forecast_mart(actuals, DEFINITIONS, as_of=AS_OF)
    without = forecast_mart(actuals, DEFINITIONS, as_of=AS_OF, settle_days={})
    key = (with_maturity["kpi_id"] == "avg_resolution_hours") & (with_maturity["grain"] == "month")
    # the truth is ≈ 20 h; the incomplete last days (quick tickets only) drag the naive forecast down
    truth = 20.0
    assert abs(with_maturity.loc[key, "forecast_value"].mean() - truth) < abs(without.loc[key, "forecast_value"].mean()
                                                                               - truth)


def test_bounds_come_from_the_definition_and_the_data():
    defs = pd.DataFrame({
        "kpi_id": ["pass_rate", "promoters", "detractors", "nps", "p90", "active", "margin"],
        "measure_type": ["ratio", "ratio", "ratio", "derived", "percentile", "count_distinct", "sum"],
        "numerator": ["sum(good)", "count(*) where promoter", "count(*) where detractor", None, None, None, None],
        "denominator": ["sum(produced)", "count(*)", "count(*)", None, None, None, None],
        "formula": [None, None, None, '"promoters" - "detractors"', None, None, None],
        "measure_scale": [1.0, 100.0, 100.0, 1.0, 1.0, 1.0, 1.0], "is_current": True,
    })
    daily = pd.DataFrame({
        "kpi_id": ["pass_rate", "promoters", "detractors", "p90", "active", "margin", "margin"],
        "value": [0.98, 60.0, 10.0, 55.0, 300.0, 5.0, -2.0],
        "numerator": [98.0, 6.0, 1.0, np.nan, np.nan, np.nan, np.nan],
        "denominator": [100.0, 10.0, 10.0, np.nan, np.nan, np.nan, np.nan],
    })
    b = kpi_bounds(defs, daily)
    assert b["pass_rate"] == Bounds(0.0, 1.0) and b["promoters"] == Bounds(0.0, 100.0)
    assert b["nps"] == Bounds(-100.0, 100.0)
    assert b["p90"] == Bounds(0.0, np.inf) and b["active"] == Bounds(0.0, np.inf, cumulative=True)
    assert b["margin"] == Bounds()  # negative days seen: no bound
    f = pd.DataFrame({"kpi_id": ["pass_rate", "nps", "active"], "actual_to_date": [0.97, 40.0, 19972.0],
                      "forecast_value": [1.013, 60.0, 565.0], "forecast_low": [0.95, -250.0, 500.0],
                      "forecast_high": [1.02, 1763.0, 700.0]})
    c = clip_forecast(f, b)
    assert c["forecast_high"].tolist() == [1.0, 100.0, 19972.0]
    assert c["forecast_low"].tolist() == [0.95, -100.0, 19972.0] and c["forecast_value"].iloc[2] == 19972.0


def test_forecasts_respect_the_range_and_what_is_counted():
    """A share near its ceiling and a count: no forecast, low or high beyond 100 % or below the count so far,
    and the probability of an impossible outcome is not counted."""
    dates = pd.date_range("2024-01-01", "2025-06-20")
    n = len(dates)
    rows = []
    for u in range(6):
        den = RNG.poisson(500, n).astype(float)
        num = den - RNG.binomial(den.astype(int), 0.004)
        rows.append(pd.DataFrame({"kpi_id": "pass", "org_unit_id": f"U{u}", "date": dates, "value": num / den,
                                  "numerator": num, "denominator": den}))
        c = RNG.poisson(3, n).astype(float)
        rows.append(pd.DataFrame({"kpi_id": "bugs", "org_unit_id": f"U{u}", "date": dates, "value": c,
                                  "numerator": np.nan, "denominator": np.nan}))
    daily = pd.concat(rows, ignore_index=True)
    kpis = pd.DataFrame({"kpi_id": ["pass", "bugs"], "measure_type": ["ratio", "count"],
                         "direction": ["higher_is_better", "lower_is_better"]})
    bounds = {"pass": Bounds(0.0, 1.0), "bugs": Bounds(0.0, np.inf, cumulative=True)}
    targets = pd.DataFrame({"kpi_id": "bugs", "org_unit_id": "U0", "grain": "month", "period_start": [date(2025, 6, 1)],
                            "target_value": [10.0]})
    out = forecast_running(daily, kpis, as_of=AS_OF, grains=("month",), bounds=bounds, targets=targets)
    p = out[out["kpi_id"] == "pass"]
    assert (p[["forecast_value", "forecast_low", "forecast_high"]] <= 1.0).all().all()
    b = out[out["kpi_id"] == "bugs"]
    assert (b["forecast_low"] >= b["actual_to_date"]).all() and (b["forecast_value"] >= b["actual_to_date"]).all()
    u0 = b[b["org_unit_id"] == "U0"].iloc[0]
    assert u0["actual_to_date"] > 10  # already above a lower-is-better target of 10: no chance left
    assert u0["probability_on_target"] < 0.05
