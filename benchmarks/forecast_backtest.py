"""Forecast back-test for the benchmark report: 80 % interval coverage and the Brier score of
``probability_on_target`` against the 'pace so far' baseline, out of sample.

Every complete month / quarter / year of every KPI × org unit is forecast at 9 as-of dates (≈ 10 %,
20 %, … 90 % of the period elapsed) with ``pipelines.analytics.forecast``; each case gets its
interval and probability from the error pools of periods that ended *before* its as-of month (as in
production). Reported twice: over all evaluable cases, and from the 7th month of history on (when
the pools hold at least six months of errors — the steady state of a deployment).

Baselines for the probability (docs/anomaly_detection.md): ``pace`` = 1 if the actual to date is
on pace for the target phased to date (the attainment contract's ``expected_to_date``), else 0;
``pace (smoothed)`` = the pace attainment mapped linearly from 0 at ≤ 90 % to 1 at ≥ 110 %.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.analytics.bounds import kpi_bounds
from pipelines.analytics.evaluation import brier_score, interval_coverage
from pipelines.analytics.forecast import backtest_cases, evaluate_backtest


def _out_of_range(ev: pd.DataFrame, bounds: dict) -> np.ndarray:
    """Per case: the forecast, its low or its high lies outside the KPI's possible range."""
    lo = ev["kpi_id"].map(lambda k: bounds[k].low if k in bounds else -np.inf).to_numpy(dtype=float)
    hi = ev["kpi_id"].map(lambda k: bounds[k].high if k in bounds else np.inf).to_numpy(dtype=float)
    bad = np.zeros(len(ev), dtype=bool)
    for c in ("forecast_value", "forecast_low", "forecast_high"):
        x = ev[c].to_numpy(dtype=float)
        bad |= (x < lo - 1e-9) | (x > hi + 1e-9)
    return bad


def _summary(ev: pd.DataFrame, label: str) -> dict[str, Any]:
    with_target = ev[ev["met"].notna()]
    return {
        "cases": label,
        "n": int(len(ev)),
        "out_of_range": int(ev["out_of_range"].sum()) if "out_of_range" in ev else 0,
        "coverage_80": interval_coverage(ev["outcome"], ev["forecast_low"], ev["forecast_high"]),
        "median_abs_pct_error": float((ev["forecast_value"] / ev["outcome"] - 1).abs().median()),
        "n_with_target": int(len(with_target)),
        "brier": brier_score(with_target["probability_on_target"], with_target["met"]),
        "brier_pace": brier_score(with_target["pace_probability"], with_target["met"]),
        "brier_pace_smooth": brier_score(with_target["pace_probability_smooth"], with_target["met"]),
        "met_rate": float(with_target["met"].mean()) if len(with_target) else float("nan"),
    }


def forecast_report(inputs: list) -> dict[str, Any]:
    evs = []
    for inp in inputs:
        if inp.periods is None or inp.kpis is None:
            continue
        cases = backtest_cases(inp.daily, inp.kpis, inp.periods)
        if cases.empty:
            continue
        defs = getattr(inp, "definitions", None)
        bounds = kpi_bounds(defs if defs is not None else inp.kpis, inp.daily)
        ev = evaluate_backtest(cases, inp.targets, inp.kpis, bounds=bounds)
        ev["out_of_range"] = _out_of_range(ev, bounds)
        if ev.empty:
            continue
        start = cases["as_of_date"].min()
        ev["steady"] = ev["as_of_date"] >= start + pd.DateOffset(months=6)
        ev["input"] = inp.name
        evs.append(ev)
    if not evs:
        return {"note": "no complete periods to back-test", "summary": []}
    ev = pd.concat(evs, ignore_index=True)
    summary = [_summary(ev, "all evaluable"), _summary(ev[ev["steady"]], "from month 7")]
    steady = ev[ev["steady"]]
    by_grain = [{"grain": g, **{k: v for k, v in _summary(x, "from month 7").items() if k != "cases"}}
                for g, x in steady.groupby("grain")]
    by_kpi = [{"kpi_id": k, **{kk: v for kk, v in _summary(x, "from month 7").items() if kk != "cases"}}
              for k, x in steady.groupby("kpi_id")]
    bins = np.minimum((steady["elapsed_fraction"] * 10).astype(int), 9)
    by_elapsed = [{"elapsed": f"{b * 10}-{b * 10 + 10}%", **{
        k: v for k, v in _summary(x, "from month 7").items() if k not in ("cases",)}}
        for b, x in steady.groupby(bins)]
    return {
        "note": ("Out-of-sample back-test (intervals and probabilities from periods that ended before each "
                 "as-of month). Goal: coverage 0.75–0.85; Brier below the pace baselines."),
        "summary": summary,
        "by_grain": by_grain,
        "by_kpi": by_kpi,
        "by_elapsed": by_elapsed,
    }
