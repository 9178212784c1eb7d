"""The kpi_anomalies and kpi_forecast marts from kpi_actuals-shaped frames (what the dbt Python
models do, without dbt)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines.analytics.forecast import FORECAST_COLUMNS
from pipelines.analytics.marts import ANOMALY_COLUMNS, anomalies_mart, forecast_mart, measure_segments
from tests.analytics.series import daily_series

AS_OF = pd.Timestamp("2025-06-20")


def _definitions() -> pd.DataFrame:
    base = {"name": None, "unit": None, "measure_model": "fct", "measure_expression": "x", "measure_filter": None,
            "numerator": None, "denominator": None, "percentile": None, "formula": None}
    return pd.DataFrame([
        {**base, "kpi_id": "net_revenue", "version": 1, "is_current": True, "name": "Net revenue", "unit": "CNY",
         "direction": "higher_is_better", "measure_type": "sum"},
        {**base, "kpi_id": "complaint_rate", "version": 1, "is_current": False, "name": "Complaint rate",
         "unit": "%", "direction": "lower_is_better", "measure_type": "ratio", "numerator": "c", "denominator": "t"},
        {**base, "kpi_id": "complaint_rate", "version": 2, "is_current": True, "name": "Complaint rate",
         "unit": "%", "direction": "lower_is_better", "measure_type": "ratio", "numerator": "c2", "denominator": "t"},
    ])


def _actuals() -> pd.DataFrame:
    rows = []
    n = (AS_OF - pd.Timestamp("2024-01-01")).days + 1
    for i, unit in enumerate(["TM-1", "TM-2"]):
        rev, dates = daily_series(n, noise=0.08, weekend=0.3, seed=40 + i, level=50_000.0)
        if unit == "TM-1":
            rev[dates.get_loc(pd.Timestamp("2025-03-12"))] *= 5
        rng = np.random.default_rng(60 + i)
        den = rng.poisson(400, n).astype(float)
        num = rng.binomial(den.astype(int), 0.05).astype(float)
        version = np.where(dates >= pd.Timestamp("2025-01-01"), 2, 1)
        verified = ~((unit == "TM-1") & (dates == pd.Timestamp("2025-03-12")))
        rows.append(pd.DataFrame({"kpi_id": "net_revenue", "org_unit_id": unit, "grain": "day", "period_start": dates,
                                  "period_end": dates, "actual_value": rev, "numerator": np.nan,
                                  "denominator": np.nan, "kpi_version": 1, "is_complete": True,
                                  "is_verified": verified}))
        rows.append(pd.DataFrame({"kpi_id": "complaint_rate", "org_unit_id": unit, "grain": "day",
                                  "period_start": dates, "period_end": dates, "actual_value": 100 * num / den,
                                  "numerator": num, "denominator": den, "kpi_version": version,
                                  "is_complete": True, "is_verified": True}))
    day = pd.concat(rows, ignore_index=True)
    per = []
    for grain, code in (("week", "W-SUN"), ("month", "M"), ("quarter", "Q")):
        d = day.assign(period_start=day["period_start"].dt.to_period(code).dt.start_time)
        g = d.groupby(["kpi_id", "org_unit_id", "period_start"], as_index=False).agg(
            s=("actual_value", "sum"), num=("numerator", "sum"), den=("denominator", "sum"))
        g["actual_value"] = np.where(g["kpi_id"] == "net_revenue", g["s"], 100 * g["num"] / g["den"])
        g["period_end"] = g["period_start"].dt.to_period(code).dt.end_time.dt.normalize()
        g["grain"] = grain
        g["is_complete"] = g["period_end"] <= AS_OF
        g["is_verified"] = True
        g["kpi_version"] = 2
        per.append(g.rename(columns={"num": "numerator", "den": "denominator"}).drop(columns="s"))
    return pd.concat([day, *per], ignore_index=True)


def _dim_date() -> pd.DataFrame:
    days = pd.date_range("2023-01-01", "2025-12-31")
    return pd.DataFrame({"date_day": days, "is_holiday": False, "is_workday": days.day_of_week < 5})


def test_a_formula_change_starts_a_new_series():
    segs = measure_segments(_definitions())
    assert segs.set_index(["kpi_id", "version"])["segment"].to_dict() == {
        ("complaint_rate", 1): 0, ("complaint_rate", 2): 1, ("net_revenue", 1): 0}


def test_anomalies_mart():
    out = anomalies_mart(_actuals(), _definitions(), _dim_date())
    assert list(out.columns) == ANOMALY_COLUMNS
    assert out["anomaly_id"].is_unique
    spike = out[(out["kpi_id"] == "net_revenue") & (out["start_date"] == date(2025, 3, 12)) & (out["grain"] == "day")]
    assert len(spike) == 1
    row = spike.iloc[0]
    assert (row["kind"], row["direction"], row["impact"]) == ("spike", "up", "good")
    # the data behind it did not pass its checks: a data issue, said in the reason
    assert row["is_data_issue"] and not row["is_verified"]
    assert row["reason"].startswith("data issue") and "Net revenue" in row["reason"]
    # the week containing it is flagged in the weekly series too
    weekly = out[(out["grain"] == "week") & (out["kpi_id"] == "net_revenue") & (out["org_unit_id"] == "TM-1")]
    assert date(2025, 3, 10) in set(weekly["start_date"])
    # complaint rate v2 (2025-01-01) restarts: nothing is judged in its first 8 weeks
    cr = out[(out["kpi_id"] == "complaint_rate") & (out["grain"] == "day")]
    assert not ((cr["start_date"] >= date(2025, 1, 1)) & (cr["start_date"] < date(2025, 2, 26))).any()


def test_anomalies_mart_scores_ratios_of_counts_on_their_counts():
    """complaint_rate has a numerator and a denominator in kpi_actuals: the detector's count model
    scores the complaints (≈ 20 a day here) given the expected rate × tickets."""
    actuals = _actuals()
    day = pd.Timestamp("2025-04-16")
    sel = ((actuals["kpi_id"] == "complaint_rate") & (actuals["org_unit_id"] == "TM-2")
           & (actuals["grain"] == "day") & (actuals["period_start"] == day))
    actuals.loc[sel, "numerator"] = 45.0
    actuals.loc[sel, "actual_value"] = 100 * 45.0 / actuals.loc[sel, "denominator"]
    out = anomalies_mart(actuals, _definitions(), _dim_date(), grains=("day",))
    cr = out[(out["kpi_id"] == "complaint_rate") & (out["org_unit_id"] == "TM-2")]
    hit = cr[cr["start_date"] == day.date()]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert (row["kind"], row["direction"], row["impact"]) == ("spike", "up", "bad")
    assert 4.0 < row["expected_value"] < 6.0  # percent, as the KPI
    assert row["score"] > 4
    assert len(cr) <= 2  # binomial noise of ≈ 20 complaints a day is not flagged


def test_anomalies_mart_respects_the_exclusion_calendar():
    excl = pd.DataFrame({"kpi_id": ["net_revenue"], "org_unit_id": [None], "start_date": [date(2025, 3, 10)],
                         "end_date": [date(2025, 3, 16)], "reason": ["ERP migration"]})
    out = anomalies_mart(_actuals(), _definitions(), _dim_date(), exclusions=excl, grains=("day",))
    rev = out[out["kpi_id"] == "net_revenue"]
    assert not ((rev["start_date"] >= date(2025, 3, 10)) & (rev["start_date"] <= date(2025, 3, 16))).any()


def test_forecast_mart():
    actuals = _actuals()
    targets = pd.DataFrame({"kpi_id": ["net_revenue", "complaint_rate"], "org_unit_id": ["TM-1", "TM-1"],
                            "grain": ["month", "month"], "period_start": [date(2025, 6, 1)] * 2,
                            "target_value": [1.0, 3.0], "target_low": [np.nan] * 2, "target_high": [np.nan] * 2})
    out = forecast_mart(actuals, _definitions(), targets=targets, as_of=AS_OF)
    assert list(out.columns) == FORECAST_COLUMNS
    assert set(out["grain"]) == {"month", "quarter"}
    assert (out["as_of_date"] == AS_OF.date()).all()
    rev = out[(out["kpi_id"] == "net_revenue") & (out["org_unit_id"] == "TM-1") & (out["grain"] == "month")].iloc[0]
    assert rev["method"] == "seasonal_run_rate"
    assert rev["probability_on_target"] > 0.95  # a target of 1 CNY
    cr = out[(out["kpi_id"] == "complaint_rate") & (out["org_unit_id"] == "TM-1") & (out["grain"] == "month")].iloc[0]
    # the rate is projected in the KPI's own unit (percent): Σ numerator / Σ denominator × 100
    assert 4.0 < cr["forecast_value"] < 6.0
    assert cr["actual_to_date"] == actuals[(actuals["kpi_id"] == "complaint_rate") & (actuals["org_unit_id"] == "TM-1")
                                           & (actuals["grain"] == "month")
                                           & (actuals["period_start"] == "2025-06-01")]["actual_value"].iloc[0]
    assert cr["probability_on_target"] < 0.05  # lower is better: 3 % is far below the ~5 % it runs at
