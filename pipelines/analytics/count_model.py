"""Count models: calibrated scores for counts, and for intermittent (mostly-zero) series.

* :func:`count_z` / :func:`count_quantile` — a Poisson count against its expected value: the signed
  root of the Poisson deviance with a continuity correction (within ≈ 0.2 of the exact tail's normal
  quantile for expected counts ≥ 0.5), and an over-dispersed count's quantile (Cornish–Fisher).
* :class:`CountInput` / :func:`count_input` — which KPI series are scored as counts: ratios of
  integer counts (the minority count, with the denominator as exposure) and count KPIs.
* :class:`IntermittentModel` — a series that is zero most of the time (a rarely used endpoint, a
  product that sells a few times a week, purchases per hour at night) has no meaningful "level ±
  noise": its zeros are normal and its non-zero values are events. A zero is judged normal; a
  non-zero value is judged by how rare it is to see one at all and how large it is among the
  non-zero values seen before (a hurdle model): ``p = p(non-zero) × p(magnitude ≥ x | non-zero)``,
  with ``p(non-zero) = (k + ½) / (n + 1)`` over the recent ``window`` and the magnitude's tail from
  the robust location and scale of the log magnitudes (at least ``min_nonzero`` of them; before that,
  only the first factor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.analytics._robust import nanmedian_last, robust_location, robust_scale
from pipelines.analytics.calibration import gaussian_tail


def count_z(x: np.ndarray, mu: np.ndarray, correction: float = 0.5) -> np.ndarray:
    """Calibrated z-score of a count ``x`` against a Poisson mean ``mu``: the signed root of the
    Poisson deviance, with a continuity correction of ½ towards ``mu``. Within ≈ 0.2 of the exact
    (conservative) tail's normal quantile for ``mu`` ≥ 0.5 — a count of 12 where 2.5 are expected
    scores 4.1 (P(X ≥ 12) = 1.3·10⁻⁵), where a Gaussian z would say 6.0. ``correction=0`` gives the
    plain deviance residual (mean ≈ 0, variance ≈ 1: what a CUSUM accumulates)."""
    x = np.asarray(x, dtype=float)
    mu = np.asarray(mu, dtype=float)
    cc = correction
    xc = np.where(x > mu, np.maximum(x - cc, mu), np.where(x < mu, np.minimum(x + cc, mu), x))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.where(xc > 0, xc * np.log(xc / mu), 0.0) - (xc - mu)
    return np.sign(x - mu) * np.sqrt(2.0 * np.maximum(dev, 0.0))


def count_quantile(mu: np.ndarray, z: np.ndarray | float, phi: np.ndarray | float = 1.0) -> np.ndarray:
    """Approximate quantile of an over-dispersed Poisson count at normal quantile ``z``
    (Cornish-Fisher: ``mu + z·√(φ·mu) + φ·(z² − 1)/6``), at least 0."""
    z = np.asarray(z, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.maximum(mu + z * np.sqrt(phi * mu) + phi * (z * z - 1.0) / 6.0, 0.0)


@dataclass
class CountInput:
    """Which series are scored as counts, and their counts and exposures (arrays (S, T)).

    A ratio of counts (``numerator ≤ denominator``, both integers: complaints / tickets, good /
    produced units) is scored on its *minority* count — the numerator, or the denominator minus
    the numerator when the rate is mostly above ½ (defects behind a 98 % pass rate) — with the
    denominator as exposure; a count KPI (bugs) on the value itself with exposure 1. ``k`` maps a
    rate back to the KPI's unit (value = k · numerator / denominator, e.g. 100 for percent)."""

    is_count: np.ndarray  # (S,) bool
    x: np.ndarray  # (S, T) the count scored (NaN for other series)
    n: np.ndarray  # (S, T) its exposure
    k: np.ndarray  # (S,) value = k · rate
    flip: np.ndarray  # (S,) the count is denominator − numerator

    @staticmethod
    def none(s_n: int, t_n: int) -> CountInput:
        return CountInput(np.zeros(s_n, dtype=bool), np.full((s_n, t_n), np.nan), np.full((s_n, t_n), np.nan),
                          np.ones(s_n), np.zeros(s_n, dtype=bool))

    def to_value(self, mu: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Expected count and its band → the KPI's unit (a flipped count turns the band over)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            r, r_lo, r_hi = mu / n, lo / n, hi / n
        k, f = self.k, self.flip
        e = np.where(f, k * (1.0 - r), k * r)
        lower = np.where(f, k * (1.0 - r_hi), k * r_lo)
        upper = np.where(f, k * (1.0 - r_lo), k * r_hi)
        return e, lower, upper


def _is_integer(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isnan(a) | (np.abs(a - np.round(a)) < 1e-6)


def count_input(values: np.ndarray, numerator: np.ndarray | None, denominator: np.ndarray | None,
                counts: np.ndarray, mode: str) -> CountInput:
    """Decide per series whether it is scored as counts (see :class:`CountInput`): ``mode`` "off"
    never; "auto" for ratios of integer counts (numerator ≤ denominator on every point) and for the
    series flagged in ``counts`` whose values are non-negative integers."""
    s_n, t_n = values.shape
    out = CountInput.none(s_n, t_n)
    if mode == "off":
        return out
    valid = ~np.isnan(values)
    if numerator is not None and denominator is not None:
        num = np.asarray(numerator, dtype=float)
        den = np.asarray(denominator, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            pts_ok = np.isfinite(num) & np.isfinite(den) & (den > 0) & (num >= 0) & (num <= den)
            ratio_ok = (np.all(~valid | pts_ok, axis=1) & np.all(_is_integer(np.where(valid, num, np.nan)), axis=1)
                        & np.all(_is_integer(np.where(valid, den, np.nan)), axis=1) & (valid.sum(axis=1) > 0))
            share = np.where(valid & pts_ok, num / den, np.nan)
            med = nanmedian_last(share)
            flip = ratio_ok & (med > 0.5)
            kk = np.where(valid & pts_ok & (num > 0), values / share, np.nan)
            k = nanmedian_last(kk)
        k = np.where(np.isfinite(k) & (k != 0), k, 1.0)
        x = np.where(flip[:, None], den - num, num)
        out.is_count = ratio_ok.copy()
        out.x = np.where(ratio_ok[:, None] & valid, x, np.nan)
        out.n = np.where(ratio_ok[:, None] & valid, den, np.nan)
        out.k = np.where(ratio_ok, k, 1.0)
        out.flip = flip
    plain = np.asarray(counts, dtype=bool) & ~out.is_count
    if plain.any():
        with np.errstate(invalid="ignore"):
            ints = np.all(_is_integer(values), axis=1) & np.all(~valid | (values >= 0), axis=1)
        plain &= ints
        out.is_count = out.is_count | plain
        out.x = np.where(plain[:, None] & valid, values, out.x)
        out.n = np.where(plain[:, None] & valid, 1.0, out.n)
    return out


class IntermittentModel:
    """Hurdle model for mostly-zero series (see the module docstring), over raw values (S, T)."""

    def __init__(self, values: np.ndarray, *, window: int = 200, min_zero_share: float = 0.5,
                 min_points: int = 20, min_nonzero: int = 5, magnitude_window: int = 2000,
                 min_log_scale: float = 0.25):
        self.x = values
        self.window = window
        self.min_zero_share = min_zero_share
        self.min_points = min_points
        self.min_nonzero = min_nonzero
        self.magnitude_window = magnitude_window
        self.min_log_scale = min_log_scale

    def intermittent(self, t: int) -> np.ndarray:
        """(S,) the recent history is mostly zeros."""
        w = self.x[:, max(0, t - self.window):t]
        n = np.sum(np.isfinite(w), axis=1)
        zeros = np.sum(w == 0, axis=1)
        return (n >= self.min_points) & (zeros >= self.min_zero_share * np.maximum(n, 1))

    def p_value(self, t: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) one-sided tail probability of the value at t of each row (1 for a zero)."""
        x_t = self.x[rows, t]
        w = self.x[rows, max(0, t - self.magnitude_window):t]
        n = np.sum(np.isfinite(w), axis=1)
        nz = np.isfinite(w) & (w != 0)
        k = np.sum(nz, axis=1)
        p_nz = (k + 0.5) / (n + 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mags = np.where(nz, np.log(np.abs(w)), np.nan)
            loc = robust_location(mags)
            sc = np.fmax(robust_scale(mags), self.min_log_scale)
            z = (np.log(np.abs(x_t)) - loc) / sc
        p_mag = np.where((k >= self.min_nonzero) & np.isfinite(z), np.where(z > 0, gaussian_tail(z), 0.5), 1.0)
        # the empirical guard on magnitudes: as large a value seen before is not rare
        with np.errstate(invalid="ignore"):
            seen = np.sum(nz & (np.abs(w) >= np.abs(x_t)[:, None]), axis=1)
        p_mag = np.maximum(p_mag, np.where(k > 0, seen / np.maximum(k, 1), 0.0))
        p = np.where(np.isfinite(x_t) & (x_t != 0), p_nz * p_mag, 1.0)
        return np.clip(p, 0.0, 1.0)
