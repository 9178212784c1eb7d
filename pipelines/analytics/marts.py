"""The ``kpi_anomalies`` and ``kpi_forecast`` marts from the KPI marts, as plain DataFrame functions.

The dbt Python models (``dbt_project/models/marts/analytics/``) only read their inputs with
``dbt.ref`` and call these, so everything here is testable without dbt or a warehouse.

Inputs are the marts of docs/warehouse.md: ``kpi_actuals``, ``kpi_definitions``, ``dim_date``,
``kpi_targets``, and the seed ``anomaly_exclusions`` (``kpi_id, org_unit_id, start_date, end_date,
reason``; a null ``org_unit_id`` means every unit, a null ``kpi_id`` every KPI).
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pandas as pd

from pipelines.analytics.anomaly import DetectorParams, detect_frame
from pipelines.analytics.bounds import kpi_bounds
from pipelines.analytics.forecast import FORECAST_COLUMNS, ForecastParams, forecast_running
from pipelines.analytics.maturity import settle_days as learn_settle_days

ANOMALY_COLUMNS = [
    "anomaly_id", "kpi_id", "org_unit_id", "grain", "start_date", "end_date", "date", "actual_value",
    "expected_value", "lower", "upper", "score", "severity", "direction", "impact", "kind", "reason",
    "is_data_issue", "is_verified", "n_points", "kpi_version",
]
#: Measure types whose values are counts: scored by the detector's count model (Poisson z-scores).
COUNT_MEASURES = ("count", "count_distinct")
#: Measure fields whose change starts a new series (a different formula is not an anomaly).
MEASURE_FIELDS = ["measure_type", "measure_model", "measure_expression", "measure_filter", "numerator",
                  "denominator", "percentile", "formula"]


def current_definitions(definitions: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI: its current version (else its latest)."""
    d = definitions.copy()
    if "is_current" in d.columns:
        d["_cur"] = d["is_current"].fillna(False).astype(bool)
    else:
        d["_cur"] = False
    d = d.sort_values(["kpi_id", "_cur", "version"]).drop_duplicates("kpi_id", keep="last")
    return d.drop(columns="_cur")


def measure_segments(definitions: pd.DataFrame) -> pd.DataFrame:
    """(kpi_id, version) → segment: increments whenever a version changes the measure."""
    cols = [c for c in MEASURE_FIELDS if c in definitions.columns]
    d = definitions.sort_values(["kpi_id", "version"]).copy()
    def text(x: object) -> str:
        return "" if x is None or (not isinstance(x, list | tuple | np.ndarray) and pd.isna(x)) else str(x)

    d["_sig"] = ["|".join(text(x) for x in row) for row in d[cols].itertuples(index=False)] if cols else ""
    d["segment"] = d.groupby("kpi_id")["_sig"].transform(lambda s: (s != s.shift()).cumsum() - 1)
    return d[["kpi_id", "version", "segment"]]


def _anomaly_id(kpi: str, unit: str, grain: str, start: object) -> str:
    raw = f"{kpi}|{unit}|{grain}|{start}".encode()
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()[:16]


def _calendar(dim_date: pd.DataFrame, grain: str) -> pd.DataFrame:
    d = dim_date.copy()
    d["date"] = pd.to_datetime(d["date_day"]).dt.normalize()
    hol = d["is_holiday"].fillna(False).astype(bool)
    if grain == "day":
        out = pd.DataFrame({"date": d["date"], "is_holiday": hol})
        if "is_workday" in d.columns:
            out["is_workday"] = d["is_workday"]
        return out
    # a week is a holiday week when a Monday–Friday day of it is a day off
    weekday = pd.to_datetime(d["date_day"]).dt.day_of_week < 5
    d["_hol_wd"] = hol & weekday
    d["week"] = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    w = d.groupby("week", as_index=False)["_hol_wd"].any().rename(columns={"week": "date", "_hol_wd": "is_holiday"})
    return w


def _point_targets(points: pd.DataFrame, targets: pd.DataFrame | None, defs: pd.DataFrame,
                   grain: str) -> pd.DataFrame:
    """Target per point in the KPI's unit at this grain: the month's target ÷ days (× 7 for weeks)
    for additive KPIs, the target itself for others; and the range of target_range KPIs."""
    if targets is None or targets.empty:
        return points.assign(target=np.nan, target_low=np.nan, target_high=np.nan)
    t = targets[targets["grain"] == "month"][["kpi_id", "org_unit_id", "period_start", "target_value",
                                              "target_low", "target_high"]].copy()
    t["month"] = pd.to_datetime(t["period_start"]).dt.normalize()
    t = t.drop(columns="period_start").drop_duplicates(["kpi_id", "org_unit_id", "month"], keep="last")
    p = points.copy()
    p["month"] = p["date"].dt.to_period("M").dt.start_time
    p = p.merge(t, on=["kpi_id", "org_unit_id", "month"], how="left")
    additive = p["kpi_id"].map(defs.set_index("kpi_id")["measure_type"]).isin(["sum", "count"])
    per = np.where(grain == "week", 7.0, 1.0) / p["date"].dt.days_in_month
    p["target"] = np.where(additive, p["target_value"] * per, p["target_value"])
    return p.drop(columns=["month", "target_value"])


def holiday_dates(dim_date: pd.DataFrame) -> set[pd.Timestamp]:
    d = dim_date[dim_date["is_holiday"].fillna(False).astype(bool)]
    return set(pd.to_datetime(d["date_day"]).dt.normalize())


def last_complete_day(actuals: pd.DataFrame) -> pd.Timestamp | None:
    day = actuals[actuals["grain"] == "day"]
    complete = day[day["is_complete"].fillna(False).astype(bool)] if "is_complete" in day else day
    src = complete if len(complete) else day
    return pd.to_datetime(src["period_end"]).max() if len(src) else None


def mask_immature(points: pd.DataFrame, grain: str, as_of: pd.Timestamp | None,
                  settle: dict[str, int]) -> pd.DataFrame:
    """Values still filling in (the period ends within its KPI's settle time of ``as_of``) become
    missing: the detector neither judges nor learns from them."""
    if as_of is None or not settle:
        return points
    p = points.copy()
    last = p["date"] + pd.Timedelta(days=6 if grain == "week" else 0)
    need = p["kpi_id"].map(settle).fillna(0).astype(int)
    young = (pd.Timestamp(as_of) - last).dt.days < need
    for c in ("value", "numerator", "denominator"):
        if c in p.columns:
            p.loc[young, c] = np.nan
    return p


def anomalies_mart(
    actuals: pd.DataFrame,
    definitions: pd.DataFrame,
    dim_date: pd.DataFrame,
    *,
    targets: pd.DataFrame | None = None,
    exclusions: pd.DataFrame | None = None,
    grains: tuple[str, ...] = ("day", "week"),
    params: DetectorParams | None = None,
    settle_days: dict[str, int] | None = None,
) -> pd.DataFrame:
    """The ``kpi_anomalies`` rows: the detector over every complete daily and weekly series of every
    KPI × org unit (a KPI version that changes the measure starts a new series). Ratio KPIs of counts
    (numerator and denominator in ``kpi_actuals``) and ``count`` KPIs are scored by the detector's
    count model. Immature values (:mod:`pipelines.analytics.maturity`: learned, or ``settle_days``)
    are not judged."""
    defs = current_definitions(definitions)
    as_of = last_complete_day(actuals)
    settle = settle_days if settle_days is not None else (
        learn_settle_days(actuals, definitions, as_of, holidays=holiday_dates(dim_date)) if as_of is not None else {})
    segs = measure_segments(definitions)
    directions = dict(zip(defs["kpi_id"], defs["direction"], strict=True))
    names = dict(zip(defs["kpi_id"], defs["name"].fillna(defs["kpi_id"]), strict=True))
    units = dict(zip(defs["kpi_id"], defs["unit"].fillna(""), strict=True))
    counts = {k: m in COUNT_MEASURES for k, m in zip(defs["kpi_id"], defs["measure_type"], strict=True)} if (
        "measure_type" in defs.columns) else False
    excl = None
    if exclusions is not None and len(exclusions):
        excl = exclusions.copy()
        excl["start_date"] = pd.to_datetime(excl["start_date"])
        excl["end_date"] = pd.to_datetime(excl["end_date"])
    out = []
    for grain in grains:
        a = actuals[(actuals["grain"] == grain) & actuals["is_complete"].fillna(False).astype(bool)]
        if a.empty:
            continue
        cols = ["kpi_id", "org_unit_id", "period_start", "actual_value", "kpi_version", "is_verified"]
        cols += [c for c in ("numerator", "denominator") if c in a.columns]
        pts = a[cols].rename(columns={"period_start": "date", "actual_value": "value"})
        pts["date"] = pd.to_datetime(pts["date"]).dt.normalize()
        pts = pts.merge(segs, left_on=["kpi_id", "kpi_version"], right_on=["kpi_id", "version"], how="left")
        pts["segment"] = pts["segment"].fillna(0).astype(int)
        pts = mask_immature(pts, grain, as_of, settle)
        pts = _point_targets(pts, targets, defs, grain)
        pts["direction"] = pts["kpi_id"].map(directions).fillna("higher_is_better")
        res = detect_frame(
            pts, keys=["kpi_id", "org_unit_id", "segment"], date_col="date", value_col="value",
            freq="D" if grain == "day" else "W", direction=directions, calendar=_calendar(dim_date, grain),
            exclusions=excl, target_col="target", target_low_col="target_low", target_high_col="target_high",
            params=params, labels=names, units=units, numerator_col="numerator" if "numerator" in pts else None,
            denominator_col="denominator" if "denominator" in pts else None, counts=counts,
        )
        ev = res.events
        if ev.empty:
            continue
        ev = ev.copy()
        ev["grain"] = grain
        # data quality of the points behind each anomaly
        flags = res.flags.merge(pts[["kpi_id", "org_unit_id", "segment", "date", "is_verified", "kpi_version"]],
                                on=["kpi_id", "org_unit_id", "segment", "date"], how="left")
        q = flags.groupby(["kpi_id", "org_unit_id", "segment", "event_id"], as_index=False).agg(
            is_verified=("is_verified", lambda s: bool(s.fillna(False).astype(bool).all())),
            kpi_version=("kpi_version", "max"))
        ev = ev.merge(q, on=["kpi_id", "org_unit_id", "segment", "event_id"], how="left")
        out.append(ev)
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ANOMALY_COLUMNS})
    ev = pd.concat(out, ignore_index=True)
    ev["is_verified"] = ev["is_verified"].fillna(False).astype(bool)
    ev["is_data_issue"] = ~ev["is_verified"]
    ev["reason"] = np.where(ev["is_data_issue"], "data issue (the data behind it did not pass its quality "
                            "checks): " + ev["reason"].astype(str), ev["reason"])
    ev["anomaly_id"] = [_anomaly_id(k, u, g, s) for k, u, g, s in
                        zip(ev["kpi_id"], ev["org_unit_id"], ev["grain"], ev["start_date"], strict=True)]
    for c in ("start_date", "end_date", "date"):
        ev[c] = pd.to_datetime(ev[c]).dt.date
    for c in ("actual_value", "expected_value", "lower", "upper", "score"):
        ev[c] = pd.to_numeric(ev[c], errors="coerce").astype(float)
    ev["n_points"] = ev["n_points"].astype(int)
    ev["kpi_version"] = pd.to_numeric(ev["kpi_version"], errors="coerce").astype("Int64")
    return ev[ANOMALY_COLUMNS].sort_values(["kpi_id", "org_unit_id", "grain", "start_date"]).reset_index(drop=True)


def _ratio_scale(day: pd.DataFrame) -> dict[str, float]:
    """Per KPI, the factor between actual_value and numerator / denominator (e.g. 100 for percent)."""
    out = {}
    ok = day["numerator"].notna() & day["denominator"].notna() & (day["numerator"] != 0) & (
        day["denominator"] != 0) & day["actual_value"].notna()
    d = day[ok]
    for kpi, g in d.groupby("kpi_id"):
        r = (g["actual_value"] * g["denominator"] / g["numerator"]).median()
        if np.isfinite(r) and r > 0:
            p = 10 ** np.round(np.log10(r))
            out[str(kpi)] = float(p) if abs(r / p - 1) < 0.01 else float(r)
    return out


def forecast_mart(
    actuals: pd.DataFrame,
    definitions: pd.DataFrame,
    *,
    targets: pd.DataFrame | None = None,
    as_of: date | pd.Timestamp | None = None,
    params: ForecastParams | None = None,
    settle_days: dict[str, int] | None = None,
    holidays: set[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """The ``kpi_forecast`` rows: every running month / quarter / year of every KPI × org unit with a
    daily series, as of ``as_of`` (default: the last complete day in ``actuals``). Immature days are
    not forecast from (learned settle times, or ``settle_days``); every forecast stays within its
    KPI's possible range (:mod:`pipelines.analytics.bounds`)."""
    defs = current_definitions(definitions)
    kpis = defs[["kpi_id", "measure_type", "direction"]]
    day = actuals[actuals["grain"] == "day"].copy()
    if day.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FORECAST_COLUMNS})
    complete = day[day["is_complete"].fillna(False).astype(bool)]
    if as_of is None:
        as_of = pd.to_datetime(complete["period_end"]).max() if len(complete) else pd.to_datetime(
            day["period_end"]).max()
    scale = _ratio_scale(day)
    daily = day.rename(columns={"period_start": "date", "actual_value": "value"})[
        ["kpi_id", "org_unit_id", "date", "value", "numerator", "denominator"]].copy()
    bounds = kpi_bounds(definitions, daily)
    settle = settle_days if settle_days is not None else learn_settle_days(actuals, definitions, as_of,
                                                                            holidays=holidays)
    # ratios are projected from numerator and denominator: fold the display scale into the numerator
    daily["numerator"] = daily["numerator"] * daily["kpi_id"].map(scale).fillna(1.0)
    periods = actuals[actuals["grain"].isin(["month", "quarter", "year"])][
        ["kpi_id", "org_unit_id", "grain", "period_start", "period_end", "actual_value", "is_complete"]].copy()
    return forecast_running(daily, kpis, as_of=as_of, periods=periods, targets=targets, params=params,
                            settle_days=settle, bounds=bounds)


#: DuckDB types of the marts' columns (the dbt Python models cast to these, rows or no rows).
ANOMALY_TYPES = {
    "anomaly_id": "varchar", "kpi_id": "varchar", "org_unit_id": "varchar", "grain": "varchar",
    "start_date": "date", "end_date": "date", "date": "date", "actual_value": "double",
    "expected_value": "double", "lower": "double", "upper": "double", "score": "double",
    "severity": "varchar", "direction": "varchar", "impact": "varchar", "kind": "varchar", "reason": "varchar",
    "is_data_issue": "boolean", "is_verified": "boolean", "n_points": "integer", "kpi_version": "integer",
}
FORECAST_TYPES = {
    "kpi_id": "varchar", "org_unit_id": "varchar", "grain": "varchar", "period_start": "date",
    "period_end": "date", "as_of_date": "date", "actual_to_date": "double", "forecast_value": "double",
    "forecast_low": "double", "forecast_high": "double", "target_value": "double",
    "probability_on_target": "double", "method": "varchar",
}


def typed_select(types: dict[str, str]) -> str:
    """``cast("col" as type) as "col", …`` for the columns of ``types`` (names from a fixed list)."""
    return ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in types.items())
