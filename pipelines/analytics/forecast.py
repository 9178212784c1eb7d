"""Period-end forecasts ("pace") for running periods, with an empirical 80 % interval and the
probability of reaching the target; the back-test that calibrates and measures them.

No Dagster, no database: long pandas frames in, frames out. ``docs/anomaly_detection.md`` ("Forecast
and pace") has the full description.

Methods (per KPI × org unit × period × as-of date; ``A`` = actual to date, ``e`` = elapsed days)
------------------------------------------------------------------------------------------------
* ``run_rate`` — additive KPIs (``sum``, ``count``): ``A`` + every remaining day valued at the
  mean of the same weekday over the last 28 days (so weekends and the weekday mix count).
* ``seasonal_run_rate`` — additive KPIs with last year's same period: the mean of the run rate and
  the last-year projection ``A + g × (LY_full − LY_to_same_day)``, whose growth factor
  ``g = (A + P) / (LY_to_same_day + LY_P)`` also uses the ``lookback_days`` (28) before the period
  (``P``) and the same days last year (``LY_P``): it is ``A × LY_full / LY_to_same_day`` late in the
  period and borrows the trailing weeks early on, when ``A`` is a few noisy days. (Alone, the LY
  projection carries last year's day-to-day noise and the run rate misses month-end pushes and
  holidays; the back-test shows their mean beats either.)
* ``ratio_seasonal_run_rate`` / ``ratio_run_rate`` — ratios: numerator and denominator are projected
  separately (as above) and divided: the rate is projected, never averaged.
* ``last_value`` — semi-additive KPIs (``last``): the latest daily value.
* ``daily_level`` — other non-additive KPIs (percentiles, distinct counts, derived): the mean of the
  period's daily values so far; its systematic gap to the period value is removed by the median
  back-test error (below).

Interval and probability (empirical, no normal assumption)
-----------------------------------------------------------
The back-test forecasts every complete period of the history at ``points_per_period`` as-of dates
(every ~10 % of the period) with the same method and records the error — relative,
``actual / forecast − 1``, for KPIs whose values are positive; absolute otherwise. Errors are pooled
by (KPI, grain, method, elapsed-fraction decile); a pool with fewer than ``min_pool`` errors falls back
to (grain, method, decile) across KPIs. With the pool's quantiles ``q10, q50, q90``:
``forecast_value = F × (1 + q50)``, ``forecast_low = F × (1 + q10)``, ``forecast_high = F × (1 + q90)``
(``F + q`` in absolute mode), and ``probability_on_target`` = the share of the pool's errors with which
the outcome would meet the target — ``outcome ≥ target`` (higher is better), ``≤`` (lower is
better), inside ``[target_low, target_high]`` (range) — smoothed as ``(k + ½) / (n + 1)``. Only
periods that ended before the as-of date feed a pool, so a forecast never uses its own outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipelines.analytics.bounds import Bounds

KEYS = ["kpi_id", "org_unit_id"]
GRAINS = ("month", "quarter", "year")
ADDITIVE = ("sum", "count")
METHODS = ("seasonal_run_rate", "run_rate", "ratio_seasonal_run_rate", "ratio_run_rate", "last_value",
           "daily_level")
FORECAST_COLUMNS = ["kpi_id", "org_unit_id", "grain", "period_start", "period_end", "as_of_date", "actual_to_date",
                    "forecast_value", "forecast_low", "forecast_high", "target_value", "probability_on_target",
                    "method"]


@dataclass(frozen=True)
class ForecastParams:
    #: days before the period whose pace (vs last year) stabilises the growth factor early on
    lookback_days: int = 28
    #: as-of dates per complete period in the back-test (at ~10 %, 20 %, … 90 % elapsed)
    points_per_period: int = 9
    #: errors a pool needs before its quantiles are used
    min_pool: int = 30
    #: elapsed-fraction buckets of the error pools
    buckets: int = 10
    #: central interval (0.8 → 10 % and 90 % quantiles)
    coverage: float = 0.8
    #: recalibrate the interval's level per elapsed bucket on the most recent periods (see
    #: :func:`calibrated_levels`): the last ``recalibration_days`` of periods, at least
    #: ``min_recalibration`` errors per bucket
    recalibrate: bool = True
    recalibration_days: int = 92
    min_recalibration: int = 100


# ---------------------------------------------------------------------------------------------
# Dense per-KPI panels
# ---------------------------------------------------------------------------------------------


@dataclass
class _Panel:
    kpi_id: str
    kind: str  # additive | ratio | last | level
    units: np.ndarray  # (S,) org unit ids
    dates: pd.DatetimeIndex  # (T,)
    value: np.ndarray  # (S, T) NaN = no data
    num: np.ndarray | None
    den: np.ndarray | None
    first: np.ndarray  # (S,) first index with data

    def cum(self, x: np.ndarray) -> np.ndarray:
        c = np.zeros((x.shape[0], x.shape[1] + 1))
        np.cumsum(np.nan_to_num(x), axis=1, out=c[:, 1:])
        return c


def _kind(measure_type: str, has_num_den: bool) -> str:
    if measure_type in ADDITIVE:
        return "additive"
    if measure_type == "last":
        return "last"
    if has_num_den:
        return "ratio"
    return "level"


def _panels(daily: pd.DataFrame, kpis: pd.DataFrame) -> list[_Panel]:
    meta = kpis.drop_duplicates("kpi_id").set_index("kpi_id")
    out = []
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.normalize()
    for kpi, g in d.groupby("kpi_id", sort=True):
        if kpi not in meta.index:
            continue
        measure = str(meta.loc[kpi, "measure_type"])
        has_nd = {"numerator", "denominator"} <= set(g.columns) and g["denominator"].notna().any() and (
            g["numerator"].notna().any())
        kind = _kind(measure, bool(has_nd))
        dates = pd.date_range(g["date"].min(), g["date"].max(), freq="D")
        wide = g.pivot_table(index="org_unit_id", columns="date", values="value", aggfunc="first", dropna=False)
        wide = wide.reindex(columns=dates)
        units = wide.index.to_numpy()
        value = wide.to_numpy(dtype=float)
        num = den = None
        if kind == "ratio":
            num = g.pivot_table(index="org_unit_id", columns="date", values="numerator", aggfunc="first",
                                dropna=False).reindex(index=units, columns=dates).to_numpy(dtype=float)
            den = g.pivot_table(index="org_unit_id", columns="date", values="denominator", aggfunc="first",
                                dropna=False).reindex(index=units, columns=dates).to_numpy(dtype=float)
        # a series starts at its first non-zero value (zeros before it are "no data yet": the KPI
        # engine fills additive KPIs with 0 before a unit has any facts)
        base = value if kind != "ratio" else den
        has = ~np.isnan(base) & (np.nan_to_num(base) != 0)
        first = np.where(has.any(axis=1), np.argmax(has, axis=1), len(dates))
        after = np.arange(len(dates))[None, :] >= first[:, None]
        value = np.where(after, value, np.nan)
        if kind == "additive":  # a day without a row is a day with nothing: 0 after the series starts
            value = np.where(np.isnan(value) & after, 0.0, value)
        if kind == "ratio":
            num = np.where(after, np.nan_to_num(num), np.nan)
            den = np.where(after, np.nan_to_num(den), np.nan)
        out.append(_Panel(str(kpi), kind, units, dates, value, num, den, first))
    return out


# ---------------------------------------------------------------------------------------------
# Projection of one batch of (series, period, as-of) cases
# ---------------------------------------------------------------------------------------------


@dataclass
class _Cases:
    s: np.ndarray  # series index
    ps: np.ndarray  # period start index (may be < 0? no: periods start within the panel)
    pe: np.ndarray  # period end index (may be ≥ T for a running period)
    a: np.ndarray  # as-of index (ps ≤ a ≤ min(pe, T − 1))


def _date_index(dates: pd.DatetimeIndex, d: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Day offsets of ``d`` from the panel start (may be negative or beyond the end)."""
    d0 = dates[0]
    return ((pd.DatetimeIndex(d) - d0) / pd.Timedelta(days=1)).to_numpy().astype(np.int64)


def _ly_index(dates: pd.DatetimeIndex, idx: np.ndarray) -> np.ndarray:
    """Index of the same calendar day one year earlier (Feb 29 → Feb 28)."""
    d = dates[0] + pd.to_timedelta(idx, unit="D")
    return _date_index(dates, d - pd.DateOffset(years=1))


def _sum(c: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Σ of days [lo, hi) of series s from a cumulative array (indices clipped to the panel)."""
    t = c.shape[1] - 1
    lo_c, hi_c = np.clip(lo, 0, t), np.clip(hi, 0, t)
    return np.where(hi_c > lo_c, c[s, hi_c] - c[s, lo_c], 0.0)


def _additive_projection(x: np.ndarray, panel: _Panel, cs: _Cases, lookback: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(to_date, forecast, seasonal?, ly_phase) for an additive quantity x (S, T)."""
    c = panel.cum(x)
    s, ps, pe, a = cs.s, cs.ps, cs.pe, cs.a
    e = a - ps + 1
    A = _sum(c, s, ps, a + 1)
    first = panel.first[s]
    # last year's same period, aligned by calendar date
    ly_ps = _ly_index(panel.dates, ps)
    ly_pe = _ly_index(panel.dates, pe + 1)  # exclusive end
    ly_a = np.minimum(ly_ps + e, ly_pe)
    has_ly = ly_ps >= first
    LY_td = _sum(c, s, ly_ps, ly_a)
    LY_full = _sum(c, s, ly_ps, ly_pe)
    has_lb = (ps - lookback >= first) & (ly_ps - lookback >= first)
    P = np.where(has_lb, _sum(c, s, ps - lookback, ps), 0.0)
    LY_P = np.where(has_lb, _sum(c, s, ly_ps - lookback, ly_ps), 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g = (A + P) / (LY_td + LY_P)
        seasonal = has_ly & np.isfinite(g) & (LY_td + LY_P > 0) & (LY_full > 0)
        f_seasonal = A + np.where(seasonal, g, 0.0) * (LY_full - LY_td)
    # weekday-aware run rate: each remaining day at the mean of its weekday over the last 28 days
    dow0 = panel.dates[0].day_of_week
    t_n = x.shape[1]
    days = np.arange(t_n)
    f_run = A.copy()
    lo = np.maximum(a + 1 - 28, first)
    n_rem_total = np.maximum(pe - a, 0)
    for d in range(7):
        mask = ((days + dow0) % 7 == d).astype(float)
        cd = panel.cum(np.where(np.isnan(x), 0.0, x) * mask[None, :])
        cnt = panel.cum(np.broadcast_to(mask, x.shape))
        w_sum = _sum(cd, s, lo, a + 1)
        w_cnt = _sum(cnt, s, lo, a + 1)
        # remaining days (a, pe] with this weekday
        first_rem = a + 1
        offset = (d - (first_rem + dow0)) % 7
        n_d = np.where(n_rem_total > offset, (n_rem_total - offset - 1) // 7 + 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_d = np.where(w_cnt > 0, w_sum / w_cnt, np.nan)
        f_run = f_run + n_d * np.nan_to_num(mean_d, nan=0.0)
    # with last year: the mean of the LY-seasonal projection and the run rate (LY's remaining days
    # carry last year's noise, the run rate misses month-end pushes and holidays; their errors are
    # only partly correlated and the back-test shows the mean beats either)
    forecast = np.where(seasonal, 0.5 * (f_seasonal + f_run), f_run)
    with np.errstate(invalid="ignore", divide="ignore"):
        phase = np.where(seasonal, LY_td / LY_full, e / (pe - ps + 1))
    return A, forecast, seasonal, phase


def _project(panel: _Panel, cs: _Cases, params: ForecastParams) -> pd.DataFrame:
    """Forecast, actual to date, method and pace phase of each case."""
    s, ps, pe, a = cs.s, cs.ps, cs.pe, cs.a
    e = a - ps + 1
    n = pe - ps + 1
    if panel.kind == "additive":
        A, F, seasonal, phase = _additive_projection(panel.value, panel, cs, params.lookback_days)
        method = np.where(seasonal, "seasonal_run_rate", "run_rate")
    elif panel.kind == "ratio":
        An, Fn, sn, _ = _additive_projection(panel.num, panel, cs, params.lookback_days)
        Ad, Fd, sd, _ = _additive_projection(panel.den, panel, cs, params.lookback_days)
        with np.errstate(invalid="ignore", divide="ignore"):
            A = np.where(Ad != 0, An / Ad, np.nan)
            F = np.where(Fd != 0, Fn / Fd, np.nan)
        method = np.where(sn & sd, "ratio_seasonal_run_rate", "ratio_run_rate")
        phase = np.ones_like(F)
    elif panel.kind == "last":
        v = panel.value
        # the latest non-missing value at or before a
        filled = pd.DataFrame(v.T).ffill().to_numpy().T
        A = filled[s, np.clip(a, 0, v.shape[1] - 1)]
        F = A
        method = np.full(len(s), "last_value", dtype=object)
        phase = np.ones_like(F)
    else:
        v = panel.value
        c = panel.cum(v)
        cnt = panel.cum((~np.isnan(v)).astype(float))
        tot = _sum(c, s, ps, a + 1)
        k = _sum(cnt, s, ps, a + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            A = np.where(k > 0, tot / k, np.nan)
        F = A
        method = np.full(len(s), "daily_level", dtype=object)
        phase = np.ones_like(F)
    return pd.DataFrame({
        "kpi_id": panel.kpi_id,
        "org_unit_id": panel.units[s],
        "period_start": panel.dates[0] + pd.to_timedelta(ps, unit="D"),
        "period_end": panel.dates[0] + pd.to_timedelta(pe, unit="D"),
        "as_of_date": panel.dates[0] + pd.to_timedelta(a, unit="D"),
        "elapsed_days": e,
        "days_in_period": n,
        "elapsed_fraction": e / n,
        "actual_to_date_calc": A,
        "forecast_raw": F,
        "method": method,
        "pace_phase": phase,
    })


def _period_rows(periods: pd.DataFrame | None, panel: _Panel, grains: Sequence[str]) -> pd.DataFrame:
    """Periods of a KPI: from ``periods`` (kpi_actuals rows) when given, else calendar periods."""
    if periods is not None and len(periods):
        p = periods[periods["kpi_id"] == panel.kpi_id]
        p = p[p["grain"].isin(grains)][["org_unit_id", "grain", "period_start", "period_end"]].copy()
        p["period_start"] = pd.to_datetime(p["period_start"]).dt.normalize()
        p["period_end"] = pd.to_datetime(p["period_end"]).dt.normalize()
        return p.drop_duplicates()
    rows = []
    code = {"month": "M", "quarter": "Q", "year": "Y"}
    for grain in grains:
        per = pd.period_range(panel.dates[0], panel.dates[-1], freq=code[grain])
        for u in panel.units:
            for pr in per:
                rows.append((u, grain, pr.start_time.normalize(), pr.end_time.normalize()))
    return pd.DataFrame(rows, columns=["org_unit_id", "grain", "period_start", "period_end"])


# ---------------------------------------------------------------------------------------------
# Back-test cases and error pools
# ---------------------------------------------------------------------------------------------


def _outcomes(periods: pd.DataFrame | None) -> pd.DataFrame | None:
    if periods is None or not len(periods):
        return None
    o = periods[KEYS + ["grain", "period_start", "actual_value"]].copy()
    o["period_start"] = pd.to_datetime(o["period_start"]).dt.normalize()
    return o.rename(columns={"actual_value": "outcome"})


def backtest_cases(daily: pd.DataFrame, kpis: pd.DataFrame, periods: pd.DataFrame | None = None, *,
                   grains: Sequence[str] = GRAINS, params: ForecastParams | None = None) -> pd.DataFrame:
    """Forecast every complete period of the history at ``points_per_period`` as-of dates.

    ``daily``: ``kpi_id, org_unit_id, date, value[, numerator, denominator]`` (day grain);
    ``kpis``: ``kpi_id, measure_type, direction``; ``periods`` (optional, recommended): the
    month/quarter/year rows of ``kpi_actuals`` (``kpi_id, org_unit_id, grain, period_start,
    period_end, actual_value``) — the outcomes. Returns one row per case with ``forecast_raw``,
    ``outcome``, ``error`` (relative or absolute, see ``error_mode``) and the elapsed bucket.
    """
    prm = params or ForecastParams()
    out = []
    outcomes = _outcomes(periods)
    for panel in _panels(daily, kpis):
        pr = _period_rows(periods, panel, grains)
        if pr.empty:
            continue
        ps = _date_index(panel.dates, pr["period_start"])
        pe = _date_index(panel.dates, pr["period_end"])
        unit_pos = {u: i for i, u in enumerate(panel.units)}
        s = pr["org_unit_id"].map(unit_pos).to_numpy()
        ok = ~pd.isna(s)
        s = np.where(ok, s, -1).astype(np.int64)
        ok &= (ps >= 0) & (pe <= len(panel.dates) - 1)
        ok &= ps >= panel.first[np.clip(s, 0, None)]
        grain = pr["grain"].to_numpy()
        s, ps, pe, grain = s[ok], ps[ok], pe[ok], grain[ok]
        if not s.size:
            continue
        n = pe - ps + 1
        k = np.arange(1, prm.points_per_period + 1)
        e = np.maximum(1, np.floor(n[:, None] * k[None, :] / (prm.points_per_period + 1)).astype(np.int64))
        rep = e.shape[1]
        cs = _Cases(np.repeat(s, rep), np.repeat(ps, rep), np.repeat(pe, rep), (ps[:, None] + e - 1).ravel())
        proj = _project(panel, cs, prm)
        proj["grain"] = np.repeat(grain, rep)
        if panel.kind in ("additive", "ratio", "last"):
            final = _Cases(s, ps, pe, pe)
            fin = _project(panel, final, prm)
            proj["outcome_calc"] = np.repeat(fin["actual_to_date_calc"].to_numpy(), rep)
        else:
            proj["outcome_calc"] = np.nan
        out.append(proj)
    if not out:
        return pd.DataFrame()
    cases = pd.concat(out, ignore_index=True)
    if outcomes is not None:
        cases = cases.merge(outcomes, on=KEYS + ["grain", "period_start"], how="left")
        cases["outcome"] = cases["outcome"].fillna(cases["outcome_calc"])
    else:
        cases["outcome"] = cases["outcome_calc"]
    cases = cases.drop(columns=["outcome_calc"])
    cases = _with_error(cases, kpis)
    cases["bucket"] = np.minimum((cases["elapsed_fraction"] * prm.buckets).astype(int), prm.buckets - 1)
    return cases


def _error_mode(cases: pd.DataFrame, kpis: pd.DataFrame) -> dict[str, str]:
    """Relative errors for KPIs whose outcomes and forecasts are (almost always) positive."""
    modes = {}
    for kpi, g in cases.groupby("kpi_id"):
        pos = ((g["outcome"] > 0) & (g["forecast_raw"] > 0)).mean() if len(g) else 0.0
        modes[str(kpi)] = "relative" if pos >= 0.95 else "absolute"
    return modes


def _with_error(cases: pd.DataFrame, kpis: pd.DataFrame) -> pd.DataFrame:
    modes = _error_mode(cases, kpis)
    cases["error_mode"] = cases["kpi_id"].map(modes)
    rel = cases["error_mode"] == "relative"
    with np.errstate(invalid="ignore", divide="ignore"):
        cases["error"] = np.where(rel, cases["outcome"] / cases["forecast_raw"] - 1.0,
                                  cases["outcome"] - cases["forecast_raw"])
    cases.loc[~np.isfinite(cases["error"]), "error"] = np.nan
    return cases


#: Pools, most specific first: a case uses the first pool that has ``min_pool`` errors.
POOL_LEVELS: tuple[tuple[str, ...], ...] = (
    ("kpi_id", "grain", "method", "bucket"),
    ("kpi_id", "grain", "method"),
    ("grain", "method", "bucket"),
    ("kpi_id", "grain", "bucket"),
    ("grain", "bucket"),
)
#: methods whose errors only mean something for their own KPI (the gap between the mean of a
#: percentile's or a distinct count's daily values and its period value is the KPI's own): they
#: never borrow another KPI's errors
KPI_SPECIFIC_METHODS = ("daily_level", "last_value")


def error_pools(cases: pd.DataFrame, cutoff: date | pd.Timestamp | None = None,
                params: ForecastParams | None = None) -> list[pd.Series]:
    """Sorted error arrays per pool, from cases whose period ended before ``cutoff`` (all if None):
    one Series per level of :data:`POOL_LEVELS`, indexed by that level's keys, holding numpy arrays
    (pools with fewer than ``min_pool`` errors are left out)."""
    prm = params or ForecastParams()
    c = cases[np.isfinite(cases["error"])] if len(cases) else cases
    if cutoff is not None and len(c):
        c = c[c["period_end"] < pd.Timestamp(cutoff)]
    out = []
    for keys in POOL_LEVELS:
        if c.empty:
            out.append(pd.Series(dtype=object))
            continue
        g = c.groupby(list(keys))["error"].agg(lambda x: np.sort(x.to_numpy()))
        out.append(g[g.map(len) >= prm.min_pool])
    return out


def calibrated_levels(cases: pd.DataFrame, cutoff: date | pd.Timestamp, params: ForecastParams | None = None
                      ) -> dict[int, float]:
    """Nominal interval level per elapsed bucket that made the intervals cover ``params.coverage``
    of the outcomes lately — out of sample: the errors of the periods that ended in the last
    ``recalibration_days`` before ``cutoff`` are placed in the pools of the periods that ended before
    them, and the level is the one (on a grid from 0.6 to 0.98) whose coverage of those recent errors
    is closest to the goal. Errors drift (growth, a new mix of units): intervals built from last
    year's errors alone cover a little less than they promise, and late in a period a little more.
    Buckets with fewer than ``min_recalibration`` recent errors keep the nominal level."""
    prm = params or ForecastParams()
    if not prm.recalibrate or cases.empty:
        return {}
    cutoff = pd.Timestamp(cutoff)
    split = cutoff - pd.Timedelta(days=prm.recalibration_days)
    c = cases[np.isfinite(cases["error"])]
    recent = c[(c["period_end"] >= split) & (c["period_end"] < cutoff)]
    if len(recent) < prm.min_recalibration:
        return {}
    pools = error_pools(c, cutoff=split, params=prm)
    found = _pool_for(recent, pools)
    err = recent["error"].to_numpy(dtype=float)
    pit = np.array([(np.searchsorted(p, e, side="left") + np.searchsorted(p, e, side="right")) / 2 / (len(p) + 1)
                    if p is not None else np.nan for p, e in zip(found, err, strict=True)])
    grid = np.round(np.arange(0.60, 0.981, 0.01), 2)
    out: dict[int, float] = {}
    buckets = recent["bucket"].to_numpy()
    for b in np.unique(buckets):
        u = pit[(buckets == b) & np.isfinite(pit)]
        if len(u) < prm.min_recalibration:
            continue
        cov = np.array([np.mean((u >= (1 - g) / 2) & (u <= 1 - (1 - g) / 2)) for g in grid])
        out[int(b)] = float(grid[int(np.argmin(np.abs(cov - prm.coverage)))])
    return out


def _pool_for(rows: pd.DataFrame, pools: list[pd.Series]) -> list[np.ndarray | None]:
    """The error array of each row: from the most specific pool level that has one (rows of
    KPI-specific methods only from their own KPI's pools)."""
    found: list[np.ndarray | None] = [None] * len(rows)
    own = rows["method"].isin(KPI_SPECIFIC_METHODS).to_numpy() if "method" in rows else np.zeros(len(rows), bool)
    for keys, pool in zip(POOL_LEVELS, pools, strict=True):
        if not len(pool):
            continue
        lookup = pool.to_dict()
        cols = [rows[k].to_numpy() for k in keys]
        cross = "kpi_id" not in keys
        for i in range(len(rows)):
            if found[i] is None and not (cross and own[i]):
                key = tuple(c[i] for c in cols) if len(keys) > 1 else cols[0][i]
                got = lookup.get(key)
                if isinstance(got, np.ndarray):
                    found[i] = got
    return found


def _conformal_quantiles(errs: np.ndarray, lo_q: float, hi_q: float) -> np.ndarray:
    """(low, median, high) of sorted errors with finite-sample (split-conformal) ranks: the
    ⌈(n + 1)·hi_q⌉-th and ⌊(n + 1)·lo_q⌋-th smallest, so that a new error falls between them with
    probability ≥ hi_q − lo_q when errors are exchangeable."""
    n = len(errs)
    hi_rank = min(int(np.ceil((n + 1) * hi_q)), n)
    lo_rank = max(int(np.floor((n + 1) * lo_q)), 1)
    return np.array([errs[lo_rank - 1], np.median(errs), errs[hi_rank - 1]])


def _with_targets(rows: pd.DataFrame, targets: pd.DataFrame | None) -> pd.DataFrame:
    """``rows`` with the period's ``target_value``, ``target_low`` and ``target_high`` (NaN without)."""
    if targets is not None and len(targets):
        t = targets[KEYS + ["grain", "period_start", "target_value"] + [
            c for c in ("target_low", "target_high") if c in targets.columns]].copy()
        t["period_start"] = pd.to_datetime(t["period_start"]).dt.normalize()
        t = t.drop_duplicates(KEYS + ["grain", "period_start"], keep="last")
        rows = rows.drop(columns=[c for c in ("target_value", "target_low", "target_high") if c in rows.columns])
        rows = rows.merge(t, on=KEYS + ["grain", "period_start"], how="left")
    for c in ("target_value", "target_low", "target_high"):
        if c not in rows.columns:
            rows[c] = np.nan
    return rows


def _outcomes_on_target(outcomes: np.ndarray, direction: object, tv: float, tl: float, th: float) -> int | None:
    """How many of the possible outcomes meet the target (None: no target to meet). ``outcomes``
    are sorted for a target range, as the callers' conformal errors are."""
    if direction == "target_range":
        lo = tl if np.isfinite(tl) else -np.inf
        hi = th if np.isfinite(th) else np.inf
        if not (np.isfinite(tl) or np.isfinite(th)):
            return None
        return np.searchsorted(outcomes, hi, side="right") - np.searchsorted(outcomes, lo, side="left")
    if not np.isfinite(tv):
        return None
    if direction == "lower_is_better":
        return np.searchsorted(np.sort(outcomes), tv, side="right")
    return len(outcomes) - np.searchsorted(np.sort(outcomes), tv, side="left")


def apply_pools(rows: pd.DataFrame, pools: list[pd.Series], targets: pd.DataFrame | None,
                kpis: pd.DataFrame, params: ForecastParams | None = None,
                levels: Mapping[int, float] | None = None) -> pd.DataFrame:
    """Add ``forecast_value``, ``forecast_low``, ``forecast_high``, ``target_value``, ``target_low``,
    ``target_high`` and ``probability_on_target`` to projected rows (``forecast_raw``, ``error_mode``,
    ``bucket`` …). ``levels``: the nominal level of the interval per elapsed bucket
    (:func:`calibrated_levels`; ``params.coverage`` for the others)."""
    prm = params or ForecastParams()
    rows = _with_targets(rows.copy(), targets)
    direction = rows["kpi_id"].map(kpis.drop_duplicates("kpi_id").set_index("kpi_id")["direction"])
    pool = _pool_for(rows, pools)
    level = rows["bucket"].map(levels or {}).fillna(prm.coverage).to_numpy(dtype=float) if "bucket" in rows else (
        np.full(len(rows), prm.coverage))
    f = rows["forecast_raw"].to_numpy(dtype=float)
    rel = (rows["error_mode"] == "relative").to_numpy()
    q = np.full((len(rows), 3), np.nan)
    prob = np.full(len(rows), np.nan)
    tv = rows["target_value"].to_numpy(dtype=float)
    tl = rows["target_low"].to_numpy(dtype=float)
    th = rows["target_high"].to_numpy(dtype=float)
    dirs = direction.to_numpy()
    # what the period can possibly end at (bounds.py): the KPI's range, and for cumulative measures
    # at least what is already counted
    b_lo = rows["bound_low"].to_numpy(dtype=float) if "bound_low" in rows else np.full(len(rows), -np.inf)
    b_hi = rows["bound_high"].to_numpy(dtype=float) if "bound_high" in rows else np.full(len(rows), np.inf)
    memo: dict[tuple[int, float], np.ndarray] = {}
    for i, errs in enumerate(pool):
        if errs is None or not np.isfinite(f[i]):
            continue
        key = (id(errs), level[i])
        if key not in memo:
            memo[key] = _conformal_quantiles(errs, (1 - level[i]) / 2, 1 - (1 - level[i]) / 2)
        q[i] = memo[key]
        outcomes = np.clip(f[i] * (1.0 + errs) if rel[i] else f[i] + errs, b_lo[i], b_hi[i])
        k = _outcomes_on_target(outcomes, dirs[i], tv[i], tl[i], th[i])
        if k is None:
            continue
        prob[i] = (k + 0.5) / (len(outcomes) + 1.0)
    with np.errstate(invalid="ignore"):
        if rel.any() or (~rel).any():
            fv = np.where(rel, f * (1 + q[:, 1]), f + q[:, 1])
            flo = np.where(rel, f * (1 + q[:, 0]), f + q[:, 0])
            fhi = np.where(rel, f * (1 + q[:, 2]), f + q[:, 2])
    no_pool = np.isnan(q[:, 1])
    with np.errstate(invalid="ignore"):
        rows["forecast_value"] = np.clip(np.where(no_pool, f, fv), b_lo, b_hi)
        rows["forecast_low"] = np.clip(np.where(no_pool, np.nan, np.minimum(flo, fhi)), b_lo, b_hi)
        rows["forecast_high"] = np.clip(np.where(no_pool, np.nan, np.maximum(flo, fhi)), b_lo, b_hi)
    rows["probability_on_target"] = prob
    return rows


def with_bounds(rows: pd.DataFrame, bounds: Mapping[str, Bounds] | None, to_date: str = "actual_to_date") -> pd.DataFrame:
    """Add ``bound_low`` / ``bound_high`` per row: the KPI's range (:mod:`pipelines.analytics.bounds`),
    the low one raised to the actual to date for cumulative measures (what is counted stays counted)."""
    rows = rows.copy()
    if not bounds:
        rows["bound_low"], rows["bound_high"] = -np.inf, np.inf
        return rows
    b = rows["kpi_id"].map(lambda k: bounds.get(str(k), Bounds()))
    lo = np.array([x.low for x in b], dtype=float)
    hi = np.array([x.high for x in b], dtype=float)
    cum = np.array([x.cumulative for x in b], dtype=bool)
    a = pd.to_numeric(rows[to_date], errors="coerce").to_numpy(dtype=float)
    rows["bound_low"] = np.where(cum & np.isfinite(a), np.maximum(lo, a), lo)
    rows["bound_high"] = hi
    return rows


# ---------------------------------------------------------------------------------------------
# Forecasts for the running periods
# ---------------------------------------------------------------------------------------------


def forecast_running(
    daily: pd.DataFrame,
    kpis: pd.DataFrame,
    *,
    as_of: date | pd.Timestamp | None = None,
    periods: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
    grains: Sequence[str] = GRAINS,
    params: ForecastParams | None = None,
    settle_days: Mapping[str, int] | None = None,
    bounds: Mapping[str, Bounds] | None = None,
) -> pd.DataFrame:
    """Forecast rows (``FORECAST_COLUMNS``, the ``kpi_forecast`` mart) for every period of
    ``grains`` that contains ``as_of`` (default: the last date in ``daily``) and ends after it.

    ``periods``: the month/quarter/year rows of ``kpi_actuals`` (periods, actual to date of
    non-additive KPIs, and the back-test's outcomes); ``targets``: ``kpi_targets`` rows;
    ``cases``: a back-test from :func:`backtest_cases` (computed here when not given);
    ``settle_days``: per KPI, how many of the last days are immature (:mod:`pipelines.analytics.maturity`):
    they are not forecast from — the projection starts after the last mature day, the days after it
    are projected like the rest of the period; ``bounds``: per KPI, the range its value can take
    (:mod:`pipelines.analytics.bounds`): forecasts, intervals and the probability respect it.
    """
    prm = params or ForecastParams()
    if daily.empty:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.normalize()
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else d["date"].max()
    d = d[d["date"] <= as_of_ts]
    if cases is None:
        cases = backtest_cases(d, kpis, None if periods is None else periods[
            pd.to_datetime(periods["period_end"]) <= as_of_ts], grains=grains, params=prm)
    pools = error_pools(cases, cutoff=as_of_ts + pd.Timedelta(days=1), params=prm)
    levels = calibrated_levels(cases, as_of_ts + pd.Timedelta(days=1), prm)
    rows = [r for panel in _panels(d, kpis)
            if (r := _project_running(panel, periods, grains, as_of_ts, (settle_days or {}).get(panel.kpi_id, 0),
                                      prm)) is not None]
    if not rows:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    out = pd.concat(rows, ignore_index=True)
    modes = _error_mode(cases, kpis) if len(cases) else {}
    out["error_mode"] = out["kpi_id"].map(modes).fillna("relative")
    out.loc[(out["error_mode"] == "relative") & ~(out["forecast_raw"] > 0), "error_mode"] = "absolute"
    out["bucket"] = np.minimum((out["elapsed_fraction"] * prm.buckets).astype(int), prm.buckets - 1)
    out = _engine_to_date(out, periods)
    out = apply_pools(with_bounds(out, bounds), pools, targets, kpis, prm, levels)
    out["as_of_date"] = as_of_ts
    for c in ("period_start", "period_end", "as_of_date"):
        out[c] = pd.to_datetime(out[c]).dt.date
    return out[FORECAST_COLUMNS].sort_values(["kpi_id", "org_unit_id", "grain", "period_start"]).reset_index(
        drop=True)


def _project_running(panel: _Panel, periods: pd.DataFrame | None, grains: Sequence[str], as_of: pd.Timestamp,
                     lag: int, prm: ForecastParams) -> pd.DataFrame | None:
    """Projections of one KPI's running periods; with ``lag`` immature days, from the last mature day
    (``actual_to_date_calc`` still counts every day so far)."""
    if periods is not None and len(periods):
        pr = _period_rows(periods, panel, grains)
    else:
        pr = _calendar_running(panel, grains, as_of)
    pr = pr[(pr["period_start"] <= as_of) & (pr["period_end"] > as_of)]
    if pr.empty:
        return None
    unit_pos = {u: i for i, u in enumerate(panel.units)}
    s = pr["org_unit_id"].map(unit_pos)
    keep = s.notna().to_numpy()
    pr = pr[keep]
    s = s[keep].to_numpy().astype(np.int64)
    ps = _date_index(panel.dates, pr["period_start"])
    pe = _date_index(panel.dates, pr["period_end"])
    a_all = np.full(len(s), _date_index(panel.dates, pd.DatetimeIndex([as_of]))[0])
    a = np.maximum(a_all - max(int(lag), 0), ps - 1)  # the last mature day (before the period: none yet)
    ok = (ps >= 0) & (a_all >= ps) & (a_all < panel.value.shape[1])
    if not ok.any():
        return None
    proj = _project(panel, _Cases(s[ok], ps[ok], pe[ok], a[ok]), prm)
    if lag > 0:
        now = _project(panel, _Cases(s[ok], ps[ok], pe[ok], a_all[ok]), prm)
        proj["actual_to_date_calc"] = now["actual_to_date_calc"].to_numpy()
    proj["grain"] = pr["grain"].to_numpy()[ok]
    return proj


def _engine_to_date(out: pd.DataFrame, periods: pd.DataFrame | None) -> pd.DataFrame:
    """``actual_to_date``: the projection's own sum to date, or — for non-additive KPIs — the KPI
    engine's value of the period so far (``kpi_actuals``)."""
    out = out.copy()
    out["actual_to_date"] = out["actual_to_date_calc"]
    if periods is None or not len(periods):
        return out
    p = periods[KEYS + ["grain", "period_start", "actual_value"]].copy()
    p["period_start"] = pd.to_datetime(p["period_start"]).dt.normalize()
    out["period_start"] = pd.to_datetime(out["period_start"]).dt.normalize()
    out = out.merge(p.rename(columns={"actual_value": "_engine_to_date"}), how="left",
                    on=KEYS + ["grain", "period_start"])
    engine = out["method"].isin(["daily_level", "last_value"]) | out["method"].str.startswith("ratio")
    out.loc[engine & out["_engine_to_date"].notna(), "actual_to_date"] = out["_engine_to_date"]
    return out.drop(columns=["_engine_to_date"])


def _calendar_running(panel: _Panel, grains: Sequence[str], as_of: pd.Timestamp) -> pd.DataFrame:
    code = {"month": "M", "quarter": "Q", "year": "Y"}
    rows = []
    for grain in grains:
        pr = pd.Period(as_of, freq=code[grain])
        for u in panel.units:
            rows.append((u, grain, pr.start_time.normalize(), pr.end_time.normalize()))
    return pd.DataFrame(rows, columns=["org_unit_id", "grain", "period_start", "period_end"])


# ---------------------------------------------------------------------------------------------
# Honest back-test evaluation: coverage and Brier score vs the 'pace so far' baseline
# ---------------------------------------------------------------------------------------------


def evaluate_backtest(cases: pd.DataFrame, targets: pd.DataFrame | None, kpis: pd.DataFrame,
                      params: ForecastParams | None = None, min_history_days: int = 0,
                      bounds: Mapping[str, Bounds] | None = None) -> pd.DataFrame:
    """Score the back-test out of sample: every case gets the interval and probability from the
    pools of periods that ended before its own as-of date (as in production). Adds ``covered``,
    ``met`` (the outcome met the target), ``probability_on_target``, ``pace_probability`` (1 if the
    pace so far is on target, else 0) and ``pace_probability_smooth`` (see :func:`pace_probability`)."""
    prm = params or ForecastParams()
    if cases.empty:
        return cases
    out = []
    months = cases["as_of_date"].dt.to_period("M")
    for m, g in cases.groupby(months):
        cutoff = m.start_time
        pools = error_pools(cases, cutoff=cutoff, params=prm)
        if not any(len(p) for p in pools):
            continue
        levels = calibrated_levels(cases, cutoff, prm)
        out.append(apply_pools(with_bounds(g, bounds, to_date="actual_to_date_calc"), pools, targets, kpis, prm,
                               levels))
    if not out:
        return pd.DataFrame()
    ev = pd.concat(out, ignore_index=True)
    ev = ev[ev["forecast_low"].notna()]
    ev["covered"] = (ev["outcome"] >= ev["forecast_low"]) & (ev["outcome"] <= ev["forecast_high"])
    direction = ev["kpi_id"].map(kpis.drop_duplicates("kpi_id").set_index("kpi_id")["direction"])
    ev["met"] = met_target(ev["outcome"], ev["target_value"], ev["target_low"], ev["target_high"], direction)
    hard, smooth = pace_probability(ev, direction)
    ev["pace_probability"] = hard
    ev["pace_probability_smooth"] = smooth
    return ev


def met_target(value: pd.Series, target: pd.Series, low: pd.Series, high: pd.Series,
               direction: pd.Series) -> pd.Series:
    """1.0 / 0.0 whether ``value`` meets the target (attainment ≥ 1), NaN without a target."""
    v, t, lo, hi = (pd.to_numeric(x, errors="coerce") for x in (value, target, low, high))
    hib = v >= t
    lib = v <= t
    rng = (lo.isna() | (v >= lo)) & (hi.isna() | (v <= hi))
    out = np.where(direction == "lower_is_better", lib, np.where(direction == "target_range", rng, hib))
    missing = np.where(direction == "target_range", lo.isna() & hi.isna(), t.isna()) | v.isna()
    return pd.Series(np.where(missing, np.nan, out.astype(float)), index=value.index)


def pace_probability(rows: pd.DataFrame, direction: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The 'pace so far' baseline: the to-date value against the target phased to date (additive
    KPIs: target × last year's share of the period to date, linear without history — the
    attainment contract's ``expected_to_date``; other KPIs: the target itself).

    Returns (hard, smooth): hard = 1 if on pace else 0; smooth = the pace attainment mapped linearly
    from 0 (≤ 90 % of pace) to 1 (≥ 110 %)."""
    additive = rows["method"].isin(["seasonal_run_rate", "run_rate"]).to_numpy()
    phase = np.where(additive, rows["pace_phase"].to_numpy(dtype=float), 1.0)
    t = rows["target_value"].to_numpy(dtype=float)
    a = rows["actual_to_date_calc"].to_numpy(dtype=float)
    expected = t * phase
    d = direction.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        att = np.where(d == "lower_is_better", 2 - a / expected, a / expected)
        lo = rows["target_low"].to_numpy(dtype=float)
        hi = rows["target_high"].to_numpy(dtype=float)
        inside = (np.isnan(lo) | (a >= lo)) & (np.isnan(hi) | (a <= hi))
        att = np.where(d == "target_range", np.where(inside, 1.0, 0.0), att)
    hard = np.where(np.isfinite(att), (att >= 1.0).astype(float), np.nan)
    smooth = np.where(np.isfinite(att), np.clip((att - 0.9) / 0.2, 0.0, 1.0), np.nan)
    return hard, smooth
