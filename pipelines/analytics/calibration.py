"""Calibrated scores: a deviation becomes a tail probability, and one threshold means the same
probability on every series.

A detector's raw output is a z-like number whose meaning differs from series to series (a
quantized count, a smooth rate, a heavy-tailed latency). Here it becomes the probability ``p`` of a
deviation at least this large under the series' normal behaviour, and then a score in [0, 1]:

``score = 1 − ½ ^ (ln p / ln α)`` — 0.5 exactly at ``p = α`` (the flag threshold), 0.75 at ``α²``,
→ 1 as ``p`` → 0 and 0 for ``p = 1``. Scores of different series are comparable: the same score is
the same tail probability.

``p`` is the larger (the more conservative) of

* the Gaussian tail of the standardized deviation ``z`` (robust location and scale — see
  :mod:`pipelines.analytics.scale`), and
* the **empirical guard**: the share of the series' own recent points that deviated at least as far
  on the same side, once that happened at least ``min_count`` times. A deviation the series shows
  every few hundred points (a service whose traffic jumps every morning, a metric that flips between
  two values) is not a one-in-a-thousand event, whatever its z says; a deviation larger than
  anything seen before keeps the Gaussian probability.
"""

from __future__ import annotations

import math

import numpy as np

#: default flag threshold: the two-sided tail probability of a flagged point under normal behaviour
DEFAULT_ALPHA = 1e-3


def gaussian_tail(z: np.ndarray | float) -> np.ndarray:
    """One-sided P(Z ≥ |z|) for a standard normal Z (vectorised, exact via erfc)."""
    a = np.abs(np.asarray(z, dtype=float)) / math.sqrt(2.0)
    return 0.5 * _erfc(a)


def _erfc(x: np.ndarray) -> np.ndarray:
    """erfc of non-negative values, vectorised (Chebyshev fit, relative error < 1.2e-7 everywhere:
    Numerical Recipes' ``erfcc``), so that tails far beyond 1e-300 stay exact in ratio."""
    t = 1.0 / (1.0 + 0.5 * x)
    poly = -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    with np.errstate(under="ignore"):
        return t * np.exp(poly)


def z_for_tail(p: float) -> float:
    """The |z| whose one-sided Gaussian tail is ``p`` (bisection; for bands and docs)."""
    lo, hi = 0.0, 40.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def tail_score(p: np.ndarray | float, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Map a tail probability to a score in [0, 1]: 0.5 at ``p = alpha``; NaN stays NaN."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    pp = np.clip(np.asarray(p, dtype=float), 1e-300, 1.0)
    with np.errstate(invalid="ignore"):
        return 1.0 - np.power(0.5, np.log(pp) / math.log(alpha))


def score_tail(score: np.ndarray | float, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Inverse of :func:`tail_score`: the tail probability a score stands for."""
    s = np.clip(np.asarray(score, dtype=float), 0.0, 1.0 - 1e-16)
    return np.exp(np.log(alpha) * np.log(1.0 - s) / math.log(0.5))


def empirical_tail(history: np.ndarray, z: np.ndarray, min_count: int) -> np.ndarray:
    """(S,) share of each row's finite ``history`` values on the side of ``z`` at least as far out as
    ``|z|`` — 0 when fewer than ``min_count`` of them are (a first-time extreme keeps its model
    probability). ``history`` (S, H) holds past standardized deviations, NaN where none."""
    h = np.asarray(history, dtype=float)
    zz = np.asarray(z, dtype=float)[:, None]
    n = np.sum(np.isfinite(h), axis=1)
    with np.errstate(invalid="ignore"):
        same = np.where(zz >= 0, h >= zz, h <= zz)
    k = np.sum(same, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, k / np.maximum(n, 1), 0.0)
    return np.where(k >= min_count, share, 0.0)


def gpd_fit(exceedances: np.ndarray) -> tuple[float, float]:
    """(shape ξ, scale σ) of a generalized Pareto distribution fitted to positive ``exceedances`` by
    probability-weighted moments (Hosking & Wallis 1987); ξ is kept within [0, 0.8] — never lighter
    than an exponential tail, so an extrapolated probability is not over-confident."""
    y = np.sort(np.asarray(exceedances, dtype=float))
    n = y.size
    if n < 3:
        return 0.0, float(np.mean(y)) if n else 1.0
    a0 = float(np.mean(y))
    a1 = float(np.sum(y * (n - np.arange(1, n + 1)) / (n - 1)) / n)
    denom = a0 - 2.0 * a1
    if denom <= 0:
        return 0.8, max(a0 * 0.2, 1e-12)
    k = a0 / denom - 2.0
    sigma = 2.0 * a0 * a1 / denom
    xi = float(np.clip(-k, 0.0, 0.8))
    return xi, max(float(sigma), 1e-12)


class TailModel:
    """Peaks over threshold of S series' past |standardized deviations|: refitted every ``refresh``
    points from the last ``window`` of them, once ``min_exceedances`` lie above their
    ``quantile``; ``p_value`` then gives the one-sided tail probability of |z| under the fitted
    generalized Pareto tail (NaN where there is no fit — the Gaussian stands)."""

    def __init__(self, s_n: int, *, quantile: float = 0.99, min_exceedances: int = 20, window: int = 5000,
                 refresh: int = 32):
        self.quantile = quantile
        self.min_exceedances = min_exceedances
        self.window = window
        self.refresh = refresh
        self.u = np.full(s_n, np.nan)
        self.rate = np.full(s_n, np.nan)
        self.xi = np.zeros(s_n)
        self.sigma = np.ones(s_n)
        self._next = 0

    def update(self, t: int, history: np.ndarray) -> None:
        if t < self._next:
            return
        self._next = t + self.refresh
        w = np.abs(history[:, max(0, t - self.window):t])
        n = np.sum(np.isfinite(w), axis=1)
        need = self.min_exceedances / (1.0 - self.quantile)
        for r in np.nonzero(n >= need)[0]:
            row = w[r][np.isfinite(w[r])]
            u = float(np.quantile(row, self.quantile))
            ex = row[row > u] - u
            if ex.size < self.min_exceedances:
                continue
            self.xi[r], self.sigma[r] = gpd_fit(ex)
            self.u[r] = u
            self.rate[r] = ex.size / row.size

    def p_value(self, z: np.ndarray) -> np.ndarray:
        """(S,) one-sided P(deviation ≥ |z|) from the tail fit (NaN without a fit or below u)."""
        a = np.abs(np.asarray(z, dtype=float))
        over = np.isfinite(self.u) & (a > self.u)
        y = np.where(over, a - self.u, 0.0)
        xi = self.xi
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            surv = np.where(xi > 1e-6, np.power(1.0 + xi * y / self.sigma, -1.0 / np.maximum(xi, 1e-6)),
                            np.exp(-y / self.sigma))
        return np.where(over, 0.5 * self.rate * surv, np.nan)
