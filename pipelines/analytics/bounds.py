"""What values a KPI can possibly take — so that forecasts and bands stay within it.

From the catalog (``kpi_definitions``: its ``value_min``/``value_max``, the KPI's declared ``range``
or the one the compiler infers from its unit, win) and, where the definition cannot say, from the data:

* a **ratio of counts** (numerator and denominator both counts, ``numerator ≤ denominator`` on every
  day seen: complaint rate, pass rate, promoters %) is a share: within ``[0, scale]`` (1, or 100 for
  percent);
* a **derived difference of two shares** (NPS = promoters % − detractors %) lies within
  ``[−scale, scale]``;
* **counts, distinct counts and sums** of non-negative values (every daily value ≥ 0) are ≥ 0, and a
  running period can only end at or above what it has already counted;
* **percentiles** and other measures whose values have never been negative are ≥ 0.

Everything else is unbounded (a margin, a growth rate, a derived ratio that can go negative).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: measures whose period value is never below the value counted so far
CUMULATIVE = ("sum", "count", "count_distinct")


@dataclass(frozen=True)
class Bounds:
    low: float = -np.inf
    high: float = np.inf
    #: the period value can only grow from the actual to date (counts, non-negative sums)
    cumulative: bool = False

    def clip(self, x: np.ndarray | float) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=float), self.low, self.high)


def _scale(row: pd.Series) -> float:
    s = row.get("measure_scale")
    try:
        s = float(s)
    except (TypeError, ValueError):
        return 1.0
    return s if np.isfinite(s) and s > 0 else 1.0


def kpi_bounds(definitions: pd.DataFrame, daily: pd.DataFrame | None = None) -> dict[str, Bounds]:
    """{kpi_id: Bounds} for the current version of each KPI.

    ``daily`` (optional): ``kpi_id, value[, numerator, denominator]`` rows, to check that a ratio's
    numerator never exceeds its denominator and which values have ever been negative."""
    d = definitions.copy()
    if "is_current" in d.columns:
        d = d.sort_values(["kpi_id", "is_current"]).drop_duplicates("kpi_id", keep="last")
    else:
        d = d.drop_duplicates("kpi_id", keep="last")
    stats = _data_stats(daily)
    out: dict[str, Bounds] = {}
    for _, row in d.iterrows():
        kid = str(row["kpi_id"])
        mt = str(row.get("measure_type"))
        st = stats.get(kid, {})
        nonneg = st.get("min_value", 0.0) >= 0
        if mt == "ratio" and _is_share(row, st):
            out[kid] = Bounds(0.0, st.get("scale", _scale(row)) if "measure_scale" not in row.index else _scale(row))
        elif mt in CUMULATIVE and nonneg:
            out[kid] = Bounds(0.0, np.inf, cumulative=True)
        elif mt != "derived" and nonneg and st:
            out[kid] = Bounds(0.0, np.inf)
        else:
            out[kid] = Bounds()
    for _, row in d[d.get("measure_type", pd.Series(dtype=object)) == "derived"].iterrows():
        out[str(row["kpi_id"])] = _derived_bounds(str(row.get("formula") or ""), out)
    for _, row in d.iterrows():
        out[str(row["kpi_id"])] = _with_catalog_range(out[str(row["kpi_id"])], row)
    return out


def _with_catalog_range(inferred: Bounds, row: pd.Series) -> Bounds:
    """The catalog's own range (``kpi_definitions.value_min``/``value_max``: declared in the KPI's
    ``range`` or inferred from its unit by the compiler) wins over what the data suggests."""
    def num(key: str) -> float | None:
        v = pd.to_numeric(pd.Series([row.get(key)]), errors="coerce").iloc[0]
        return float(v) if pd.notna(v) else None

    low, high = num("value_min"), num("value_max")
    if low is None and high is None:
        return inferred
    return Bounds(inferred.low if low is None else low, inferred.high if high is None else high,
                  cumulative=inferred.cumulative)


def _is_share(row: pd.Series, st: dict[str, float]) -> bool:
    num, den = str(row.get("numerator") or ""), str(row.get("denominator") or "")
    counts = "count" in num and "count" in den and "sum" not in num and "sum" not in den
    if st:
        return bool(st.get("num_le_den", False)) and (counts or st.get("max_share", 2.0) <= 1.0 + 1e-9)
    return counts


def _derived_bounds(formula: str, known: dict[str, Bounds]) -> Bounds:
    """``a − b`` of two bounded shares → [−high, high]; anything else is unbounded."""
    m = re.fullmatch(r'\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*-\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*', formula)
    if m:
        a, b = known.get(m.group(1)), known.get(m.group(2))
        if a and b and a.low == 0 and b.low == 0 and np.isfinite(a.high) and np.isfinite(b.high):
            hi = max(a.high, b.high)
            return Bounds(-hi, hi)
    return Bounds()


def _data_stats(daily: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    if daily is None or daily.empty:
        return {}
    out: dict[str, dict[str, float]] = {}
    has_nd = {"numerator", "denominator"} <= set(daily.columns)
    for kid, g in daily.groupby("kpi_id"):
        v = pd.to_numeric(g["value"], errors="coerce")
        st: dict[str, float] = {"min_value": float(v.min()) if v.notna().any() else 0.0}
        if has_nd:
            n = pd.to_numeric(g["numerator"], errors="coerce")
            den = pd.to_numeric(g["denominator"], errors="coerce")
            ok = n.notna() & den.notna() & (den > 0)
            if ok.any():
                st["num_le_den"] = bool(((n[ok] <= den[ok]) & (n[ok] >= 0)).all())
                st["max_share"] = float((n[ok] / den[ok]).max())
                k = (v * den / n)[ok & (n > 0)].median()  # value = k · numerator / denominator
                if np.isfinite(k) and k > 0:
                    p10 = 10 ** np.round(np.log10(k))
                    st["scale"] = float(p10) if abs(k / p10 - 1) < 0.01 else float(k)
        out[str(kid)] = st
    return out


def clip_forecast(frame: pd.DataFrame, bounds: dict[str, Bounds]) -> pd.DataFrame:
    """Keep ``forecast_value``/``forecast_low``/``forecast_high`` of each row within its KPI's range,
    and — for cumulative measures — at or above ``actual_to_date`` (what is counted stays counted).
    The interval keeps ``low ≤ value ≤ high``."""
    f = frame.copy()
    lo = f["kpi_id"].map(lambda k: bounds.get(str(k), Bounds()).low).to_numpy(dtype=float)
    hi = f["kpi_id"].map(lambda k: bounds.get(str(k), Bounds()).high).to_numpy(dtype=float)
    cum = f["kpi_id"].map(lambda k: bounds.get(str(k), Bounds()).cumulative).to_numpy(dtype=bool)
    a = pd.to_numeric(f["actual_to_date"], errors="coerce").to_numpy(dtype=float)
    floor = np.where(cum & np.isfinite(a), np.maximum(lo, a), lo)
    for col in ("forecast_value", "forecast_low", "forecast_high"):
        x = pd.to_numeric(f[col], errors="coerce").to_numpy(dtype=float)
        f[col] = np.where(np.isfinite(x), np.clip(x, floor, hi), x)
    return f
