"""The scale of a series' normal one-step errors, with floors for quantized and noise-free series.

The scale is the robust standard deviation (MAD, refined by one winsorised step — a spike's
influence stays bounded) of the last ``window`` one-step errors of the predictor in use. Two
floors keep it meaningful where the errors have (almost) no spread:

* **quantum** — a series that moves in steps (integer counts, a metric rounded to 0.5, a value
  flipping between two levels) cannot be more precise than half its step: ``quantum / 2`` in the
  series' units, with the quantum the smallest positive gap between the distinct values seen;
* **range** — a series with no noise at all (a clean periodic signal, a constant) would otherwise
  call every tiny misfit a huge deviation: the scale is at least ``range_fraction`` of the robust
  range (2nd–98th percentile) of the series' recent values around their linear trend, so a deviation
  must be a visible share of how much the series normally moves (a trend is not movement: a ramp's
  floor comes from its noise).
"""

from __future__ import annotations

import numpy as np

from pipelines.analytics._robust import nanquantile_last, robust_scale


def quantum(values: np.ndarray, min_repeats: int = 2, max_distinct_share: float = 0.2) -> np.ndarray:
    """(S,) the step of each row's values: the smallest positive gap between distinct values that
    each occur at least ``min_repeats`` times — 0 for a row whose values rarely repeat (more than
    ``max_distinct_share`` of them distinct: a continuous measurement) or without two such values.
    A one-off value (a spike on a constant) is not a step."""
    out = np.zeros(values.shape[0])
    srt = np.sort(values, axis=1)
    n = np.sum(np.isfinite(values), axis=1)
    with np.errstate(invalid="ignore"):
        distinct = 1 + np.sum(np.diff(srt, axis=1) > 0, axis=1)
    few = np.nonzero((n >= 2) & (distinct <= max_distinct_share * n))[0]
    for i in few:
        row = values[i]
        fin = row[np.isfinite(row)]
        if fin.size < 2:
            continue
        u, counts = np.unique(fin, return_counts=True)
        if u.size > max_distinct_share * fin.size:
            continue
        u = u[counts >= min_repeats]
        if u.size > 1:
            gaps = np.diff(u)
            gaps = gaps[gaps > 1e-12 * max(1.0, float(np.max(np.abs(u))))]
            out[i] = float(gaps.min()) if gaps.size else 0.0
    return out


def _detrended(w: np.ndarray) -> np.ndarray:
    """Each row minus its least-squares line (NaN-aware): a trend is not how much a series moves."""
    x = np.arange(w.shape[1], dtype=float)[None, :]
    ok = np.isfinite(w)
    n = ok.sum(axis=1, keepdims=True).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(ok, x, 0.0).sum(axis=1, keepdims=True) / n
        my = np.where(ok, w, 0.0).sum(axis=1, keepdims=True) / n
        dx = np.where(ok, x - mx, 0.0)
        slope = (dx * np.where(ok, w - my, 0.0)).sum(axis=1, keepdims=True) / (dx * dx).sum(axis=1, keepdims=True)
    slope = np.where(np.isfinite(slope), slope, 0.0)
    return w - my - slope * (x - mx)


class ScaleModel:
    """Robust scale of S series' errors with floors (see the module docstring)."""

    def __init__(self, s_n: int, *, window: int = 128, min_errors: int = 10, range_fraction: float = 0.02,
                 range_window: int = 2000, refresh: int = 32, winsor: float = 2.5, absolute_floor: float = 1e-9):
        self.window = window
        self.min_errors = min_errors
        self.range_fraction = range_fraction
        self.range_window = range_window
        self.refresh = refresh
        self.winsor = winsor
        self.absolute_floor = absolute_floor
        self.range = np.zeros(s_n)
        self.quantum = np.zeros(s_n)
        self._next = 0

    def scale_of(self, errors: np.ndarray) -> np.ndarray:
        """(S,) robust scale of each row of recent ``errors`` (S, W), without floors; NaN where
        fewer than ``min_errors`` exist."""
        n = np.sum(np.isfinite(errors), axis=1)
        sc = robust_scale(errors, self.winsor) if errors.shape[1] else np.full(errors.shape[0], np.nan)
        return np.where(n >= self.min_errors, sc, np.nan)

    def update_range(self, t: int, z: np.ndarray) -> None:
        """Refresh the robust range of the recent values ``z`` (S, T) every ``refresh`` points."""
        if t < self._next:
            return
        self._next = t + min(self.refresh, max(1, t // 4))  # often while the history is short
        lo = max(0, t - self.range_window)
        w = z[:, lo:t]
        if w.shape[1] < 2:
            return
        ok = np.isfinite(w).sum(axis=1) >= 2
        if not ok.any():
            return
        q = nanquantile_last(_detrended(w[ok]), (0.02, 0.98))
        self.range[ok] = np.nan_to_num(q[1] - q[0], nan=0.0)
        self.quantum[ok] = quantum(w[ok])

    def floor(self) -> np.ndarray:
        """(S,) the floor: max(absolute floor, quantum / 2, range_fraction × robust range)."""
        return np.maximum(np.maximum(self.absolute_floor, 0.5 * self.quantum), self.range_fraction * self.range)
