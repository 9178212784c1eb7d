"""Maturity: how long a KPI's daily values take to settle, learned from the data or declared.

A KPI counted on a date that later events complete — average resolution time by *opening* date
(only tickets resolved so far count), on-time delivery by order date (only orders delivered so far),
CSAT of resolved tickets — has recent values that are still filling in: the last days are not
anomalous "dips", they are incomplete. Such an **immature** value is neither judged by the anomaly
detector nor used by the forecast (``docs/anomaly_detection.md``, "Maturity").

How long a KPI takes to settle is

* **declared** in the catalog (``maturity_days`` of the KPI, optional), or
* **learned** from the data the warehouse already has: the *volume* behind each daily value (the
  denominator of a ratio — resolved tickets, delivered orders, rated tickets —, the value of an
  additive count) is compared, for each age ``a`` = 0, 1, … days before the as-of date, with the
  same weekday's volume of the same units in the eight weeks before the recent window. Pooled over
  all org units of the KPI as a ratio of sums, this is the KPI's **completion curve**: for
  resolution time at scale 1, 18 % of a day's tickets are resolved by the end of that day, 56 %
  after one day, 85 % after four … A day counts as complete once the curve reaches
  ``1 − tolerance`` and stays there (three ages in a row), and the deficit must be significant for a
  Poisson count of that size (a team with two new contracts a day does not look "immature" because
  it had one today).

The larger of the declared and the learned settle time wins. KPIs without a volume (percentiles,
derived KPIs, ``last``) use the declaration only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

#: measure types whose value is itself a volume (the count of what happened on the date)
VOLUME_MEASURES = ("sum", "count", "count_distinct")


@dataclass(frozen=True)
class MaturityParams:
    #: ages (days before the as-of date) examined; a KPI never settles later than this
    max_days: int = 28
    #: a day is complete when its volume reaches 1 − tolerance of the usual one
    tolerance: float = 0.15
    #: weeks of history before the recent window the usual volume is taken from
    reference_weeks: int = 8
    #: the shortfall must exceed this many Poisson standard deviations of the expected volume
    min_sigmas: float = 3.0
    #: consecutive complete ages that end the immature stretch
    run: int = 3


def completion_curve(daily: pd.DataFrame, as_of: date | pd.Timestamp, *, params: MaturityParams | None = None,
                     holidays: set[pd.Timestamp] | None = None) -> pd.DataFrame:
    """Per KPI and age: ``actual`` and ``expected`` volume pooled over units, ``completion`` =
    actual / expected and ``significant`` (the shortfall is beyond ``min_sigmas`` Poisson σ).

    ``daily``: ``kpi_id, org_unit_id, date, volume`` (one row per KPI × unit × day)."""
    prm = params or MaturityParams()
    as_of = pd.Timestamp(as_of).normalize()
    d = daily[["kpi_id", "org_unit_id", "date", "volume"]].copy()
    d["date"] = pd.to_datetime(d["date"]).dt.normalize()
    d = d[np.isfinite(d["volume"].astype(float)) & (d["date"] <= as_of)]
    recent_start = as_of - pd.Timedelta(days=prm.max_days - 1)
    ref_start = recent_start - pd.Timedelta(weeks=prm.reference_weeks)
    hol = holidays or set()
    ref = d[(d["date"] >= ref_start) & (d["date"] < recent_start) & ~d["date"].isin(hol)].copy()
    ref["dow"] = ref["date"].dt.day_of_week
    usual = ref.groupby(["kpi_id", "org_unit_id", "dow"], as_index=False)["volume"].median()
    rec = d[(d["date"] >= recent_start) & ~d["date"].isin(hol)].copy()
    rec["dow"] = rec["date"].dt.day_of_week
    rec["age"] = (as_of - rec["date"]).dt.days
    rec = rec.merge(usual.rename(columns={"volume": "expected"}), on=["kpi_id", "org_unit_id", "dow"], how="inner")
    rec = rec[rec["expected"] > 0]
    if rec.empty:
        return pd.DataFrame(columns=["kpi_id", "age", "actual", "expected", "completion", "significant"])
    cur = rec.groupby(["kpi_id", "age"], as_index=False).agg(actual=("volume", "sum"), expected=("expected", "sum"))
    cur["completion"] = cur["actual"] / cur["expected"]
    # how much a complete day's pooled volume moves around its usual value: Poisson for small
    # counts, the reference days' own spread (robust, on the log scale) for large or non-count volumes
    ref = ref.merge(usual.rename(columns={"volume": "expected"}), on=["kpi_id", "org_unit_id", "dow"], how="inner")
    per_day = ref[ref["expected"] > 0].groupby(["kpi_id", "date"]).agg(a=("volume", "sum"), e=("expected", "sum"))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day["lr"] = np.log(per_day["a"] / per_day["e"])
    per_day = per_day[np.isfinite(per_day["lr"])]
    spread = per_day.groupby("kpi_id")["lr"].agg(lambda x: 1.4826 * float(np.median(np.abs(x - np.median(x)))))
    rel = cur["kpi_id"].map(spread).fillna(0.0).to_numpy()
    shortfall = cur["expected"] - cur["actual"]
    noise = np.maximum(np.sqrt(cur["expected"].clip(lower=1.0)), rel * cur["expected"])
    cur["significant"] = shortfall > prm.min_sigmas * noise
    return cur.sort_values(["kpi_id", "age"]).reset_index(drop=True)


def settle_days_from_curve(curve: pd.DataFrame, params: MaturityParams | None = None) -> int:
    """Days one KPI's values take to settle from its completion curve (0 = complete on the day)."""
    prm = params or MaturityParams()
    c = curve.set_index("age").sort_index()
    incomplete = (c["completion"] < 1.0 - prm.tolerance) & c["significant"]
    ages = c.index.to_numpy()
    flags = incomplete.to_numpy()
    if not len(ages) or not flags[0]:
        return 0
    for i in range(len(ages)):
        window = flags[i: i + prm.run]
        if len(window) == prm.run and not window.any():
            return int(ages[i])
    return int(prm.max_days)


def learn_settle_days(daily: pd.DataFrame, as_of: date | pd.Timestamp, *, params: MaturityParams | None = None,
                      holidays: set[pd.Timestamp] | None = None) -> dict[str, int]:
    """{kpi_id: days} for every KPI of ``daily`` (``kpi_id, org_unit_id, date, volume``) whose
    completion curve shows recent days still filling in (KPIs that settle at once are left out)."""
    curve = completion_curve(daily, as_of, params=params, holidays=holidays)
    out: dict[str, int] = {}
    for kpi, g in curve.groupby("kpi_id"):
        days = settle_days_from_curve(g, params)
        if days > 0:
            out[str(kpi)] = days
    return out


def volumes(actuals: pd.DataFrame, definitions: pd.DataFrame) -> pd.DataFrame:
    """``kpi_id, org_unit_id, date, volume`` from daily ``kpi_actuals`` rows: the denominator of
    ratios, the value of additive counts and sums; KPIs without a volume are left out."""
    day = actuals[actuals["grain"] == "day"] if "grain" in actuals.columns else actuals
    mt = definitions.drop_duplicates("kpi_id", keep="last").set_index("kpi_id")["measure_type"]
    kind = day["kpi_id"].map(mt)
    den = day["denominator"] if "denominator" in day.columns else pd.Series(np.nan, index=day.index)
    vol = np.where(kind == "ratio", den, np.where(kind.isin(VOLUME_MEASURES), day["actual_value"], np.nan))
    date_col = "period_start" if "period_start" in day.columns else "date"
    out = pd.DataFrame({"kpi_id": day["kpi_id"], "org_unit_id": day["org_unit_id"], "date": day[date_col],
                        "volume": pd.to_numeric(pd.Series(vol, index=day.index), errors="coerce")})
    return out[out["volume"].notna()]


def settle_days(actuals: pd.DataFrame, definitions: pd.DataFrame, as_of: date | pd.Timestamp, *,
                declared: Mapping[str, int | None] | None = None, params: MaturityParams | None = None,
                holidays: set[pd.Timestamp] | None = None) -> dict[str, int]:
    """{kpi_id: days} — the larger of the declared (``kpi_definitions.maturity_days`` when the column
    exists, or ``declared``) and the learned settle time; KPIs that settle at once are left out."""
    learned = learn_settle_days(volumes(actuals, definitions), as_of, params=params, holidays=holidays)
    decl: dict[str, int] = {}
    if "maturity_days" in definitions.columns:
        cur = definitions.drop_duplicates("kpi_id", keep="last")
        decl.update({str(k): int(v) for k, v in zip(cur["kpi_id"], cur["maturity_days"], strict=True)
                     if v is not None and not pd.isna(v)})
    if declared:
        decl.update({str(k): int(v) for k, v in declared.items() if v is not None})
    out = dict(learned)
    for k, v in decl.items():
        out[k] = max(out.get(k, 0), v)
    return {k: v for k, v in out.items() if v > 0}


def immature(kpi_ids: pd.Series | np.ndarray, dates: pd.Series | np.ndarray, as_of: date | pd.Timestamp,
             days: Mapping[str, int]) -> np.ndarray:
    """Boolean per row: the value of that KPI on that date has not settled by ``as_of`` (its age is
    below the KPI's settle time)."""
    age = (pd.Timestamp(as_of).normalize() - pd.to_datetime(pd.Series(np.asarray(dates))).dt.normalize()).dt.days
    need = pd.Series(np.asarray(kpi_ids)).map(days).fillna(0).astype(int)
    return (age.to_numpy() < need.to_numpy()) & (age.to_numpy() >= 0)
