"""Seasonality found from the data: periods from the autocorrelation, and a robust seasonal profile.

* :func:`find_periods` — the dominant period of a series (and a second one that is a multiple of
  it, e.g. a week of 168 hourly points on top of a day of 24), from the autocorrelation of the
  robustly clipped, linearly detrended values: a period is a clear local peak (ACF ≥ ``min_acf``,
  rising at least ``min_prominence`` above the lowest ACF before it). Among peaks that are multiples
  of each other the shortest one within 0.1 of the best wins (a daily cycle also peaks at 2 days).
* :func:`snap_period` — a period found within 5 % of a natural one for the sampling step (24 or
  168 for hourly data, 1440 for minutes, 7 for days…) is taken as that one: data measured per hour
  repeat daily even when a noisy ACF peaks at 23.
* :class:`SeasonalProfile` — the seasonal component at time *t* of S series at once: the robust
  location (median, one winsorised step) of the clean deviations from the level at *t − k·P + j*
  for the last ``cycles`` cycles *k* and neighbouring phases ``|j| ≤ half_width`` (pooling nearby
  phases keeps a 1440-minute profile from resting on one point a day). Strictly causal: only
  indices before *t* are read. A second period adds the profile of what the first leaves over.
"""

from __future__ import annotations

import numpy as np

from pipelines.analytics._robust import MAD_TO_SIGMA, nanmedian_last, robust_location

#: natural periods (in points) per sampling step in seconds
NATURAL_PERIODS: dict[int, tuple[int, ...]] = {
    60: (60, 1440, 10080),
    300: (12, 288, 2016),
    600: (6, 144, 1008),
    900: (4, 96, 672),
    1800: (2, 48, 336),
    3600: (24, 168),
    86400: (7, 365),
    604800: (52,),
}


def snap_period(period: int, step_seconds: float | None) -> int:
    """``period``, or the natural period for this sampling step it is within 5 % of."""
    if not step_seconds:
        return period
    for q in NATURAL_PERIODS.get(int(round(step_seconds)), ()):
        if abs(period - q) <= max(1.0, 0.05 * q):
            return q
    return period


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation over the last axis of gap-free series for lags 0..max_lag (batched FFT)."""
    x = np.asarray(x, dtype=float)
    x = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    size = 1 << int(np.ceil(np.log2(max(2 * n, 2))))
    f = np.fft.rfft(x, size, axis=-1)
    ac = np.fft.irfft(f * np.conj(f), size, axis=-1)[..., : max_lag + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ac / ac[..., :1]
    return np.where(ac[..., :1] > 0, out, 0.0)


def _prepared(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows (R, n), usable (R,)): gaps interpolated, clipped at median ± 5 MAD-σ (a spike must not
    own the ACF), linearly detrended."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    r_n, n = z.shape
    out = np.zeros((r_n, n))
    usable = np.zeros(r_n, dtype=bool)
    idx = np.arange(n)
    for i, row in enumerate(z):
        ok = np.isfinite(row)
        if ok.sum() < 8:
            continue
        zz = np.interp(idx, idx[ok], row[ok])
        med = float(np.median(zz))
        sc = MAD_TO_SIGMA * float(np.median(np.abs(zz - med)))
        if not sc > 0:
            sc = float(np.std(zz))
        if not sc > 0:
            continue
        out[i] = np.clip(zz, med - 5 * sc, med + 5 * sc)
        usable[i] = True
    # least-squares line per row, removed
    tc = idx - idx.mean()
    slope = (out * tc).sum(axis=1) / max(float((tc * tc).sum()), 1e-12)
    before = out.std(axis=1)
    out = out - out.mean(axis=1, keepdims=True) - slope[:, None] * tc[None, :]
    # a straight line leaves only rounding errors: no cycle to find in them
    usable &= out.std(axis=1) > 1e-6 * np.maximum(before, 1e-300)
    return out, usable


def _peak_mask(r: np.ndarray, lo: int, min_acf: float, min_prominence: float) -> np.ndarray:
    """(R, L) lags that are clear local peaks of each row's ACF ``r`` (R, L), from ``lo`` on."""
    r_n, length = r.shape
    mask = np.zeros((r_n, length), dtype=bool)
    if length < 3:
        return mask
    running_min = np.minimum.accumulate(np.concatenate([np.full((r_n, 1), np.inf), r[:, 1:]], axis=1), axis=1)
    for lag in range(max(lo, 2), length - 1):
        w = max(1, lag // 10)
        cand = r[:, lag] >= min_acf
        if not cand.any():
            continue
        cand &= r[:, lag] >= r[:, max(1, lag - w): lag + w + 1].max(axis=1)
        cand &= r[:, lag] - running_min[:, lag - 1] >= min_prominence
        mask[:, lag] = cand
    return mask


def find_periods_batch(z: np.ndarray, *, min_cycles: int = 3, min_acf: float = 0.3, min_prominence: float = 0.15,
                       max_periods: int = 2, step_seconds: float | None = None, max_period: int | None = None
                       ) -> list[list[int]]:
    """:func:`find_periods` for each row of ``z`` (R, n) — one batched FFT for all rows."""
    zz, usable = _prepared(z)
    r_n, n = zz.shape
    max_lag = n // min_cycles
    if max_period:
        max_lag = min(max_lag, max_period)
    if max_lag < 3 or not usable.any():
        return [[] for _ in range(r_n)]
    r = acf(zz, max_lag + 1)
    peaks = _peak_mask(r, 2, min_acf, min_prominence)
    firsts = np.zeros(r_n, dtype=np.int64)
    seconds = np.zeros(r_n, dtype=np.int64)
    for i in np.nonzero(usable & peaks.any(axis=1))[0]:
        lags = [int(v) for v in np.nonzero(peaks[i])[0]]
        best = max(lags, key=lambda lag: r[i, lag])
        divisors = [lag for lag in lags if lag < best and _is_multiple(best, lag)]
        firsts[i] = snap_period(divisors[0] if divisors else best, step_seconds)
        seconds[i] = snap_period(best, step_seconds) if divisors else 0
    if max_periods > 1:
        # a longer cycle on top of the first: peaks of what the first cycle's profile leaves over
        for first in np.unique(firsts[(firsts > 0) & (seconds == 0)]):
            if max_lag < 2 * first:
                continue
            rows = np.nonzero((firsts == first) & (seconds == 0))[0]
            phase = np.arange(n) % first
            counts = np.maximum(np.bincount(phase, minlength=first), 1)
            prof = np.stack([np.bincount(phase, weights=zz[i], minlength=first) for i in rows]) / counts
            r2 = acf(zz[rows] - prof[:, phase], max_lag + 1)
            mask = _peak_mask(r2, 2 * int(first) - 1, min_acf, min_prominence)
            for k, i in enumerate(rows):
                more = [int(lag) for lag in np.nonzero(mask[k])[0] if _is_multiple(int(lag), int(first))]
                if more:
                    seconds[i] = snap_period(max(more, key=lambda lag: r2[k, lag]), step_seconds)
    out: list[list[int]] = []
    for f, sec in zip(firsts, seconds, strict=True):
        periods = [int(f)] if f > 0 else []
        if f > 0 and max_periods > 1 and sec > f and sec % f == 0:
            periods.append(int(sec))
        out.append(periods)
    return out


def find_periods(z: np.ndarray, *, min_cycles: int = 3, min_acf: float = 0.3, min_prominence: float = 0.15,
                 max_periods: int = 2, step_seconds: float | None = None, max_period: int | None = None
                 ) -> list[int]:
    """Periods (in points) of ``z``: the dominant one and, optionally, one multiple of it.

    A period needs ``min_cycles`` cycles in ``z`` (gaps allowed). Returns [] when there is no clear
    seasonality (white noise, a random walk, a trend)."""
    return find_periods_batch(np.asarray(z, dtype=float)[None, :], min_cycles=min_cycles, min_acf=min_acf,
                              min_prominence=min_prominence, max_periods=max_periods, step_seconds=step_seconds,
                              max_period=max_period)[0]


def _is_multiple(big: int, small: int) -> bool:
    k = round(big / small)
    return k >= 2 and abs(big - k * small) <= 1


class SeasonalProfile:
    """The seasonal component of S series from their clean deviations ``dev`` (S, T) — value minus
    the level of its time, NaN where the point did not train (flagged, missing, warm-up).

    ``periods`` (S, 2) per series (0 = none); the second period models what the first leaves over.
    ``component(t)`` reads only ``dev[:, :t]``."""

    def __init__(self, dev: np.ndarray, *, cycles: int = 5, max_half_width: int = 30, min_cycles: int = 2,
                 width_divisor: int = 96):
        self.dev = dev
        self.width_divisor = width_divisor
        s_n = dev.shape[0]
        self.periods = np.zeros((s_n, 2), dtype=np.int64)
        self.cycles = cycles
        self.max_half_width = max_half_width
        self.min_cycles = min_cycles
        #: the first component at each time (S, T), so the second can use what the first left over
        self.first = np.full(dev.shape, np.nan)

    def set_periods(self, rows: np.ndarray, periods: list[list[int]]) -> np.ndarray:
        """Set the periods of ``rows``; returns the rows whose periods changed."""
        changed = []
        for r, ps in zip(rows, periods, strict=True):
            new = np.zeros(2, dtype=np.int64)
            new[: len(ps[:2])] = ps[:2]
            if not np.array_equal(new, self.periods[r]):
                changed.append(r)
            self.periods[r] = new
        return np.asarray(changed, dtype=np.int64)

    def half_width(self, period: np.ndarray) -> np.ndarray:
        return np.minimum(period // self.width_divisor, self.max_half_width)

    def gather(self, source: np.ndarray, t: int, period: np.ndarray, minus: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values (R, M)): ``source`` (− ``minus``) at t − k·P + j for the rows with a period and
        at least ``min_cycles`` cycles with a finite value (NaN where out of range)."""
        has = period > 0
        if not has.any():
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
        rows = np.nonzero(has)[0]
        p = period[rows]
        hw = self.half_width(p)
        width = int(hw.max()) if hw.size else 0
        ks = np.arange(1, self.cycles + 1)
        js = np.arange(-width, width + 1)
        idx = t - ks[None, :, None] * p[:, None, None] + js[None, None, :]  # (R, K, J)
        inside = (np.abs(js)[None, None, :] <= hw[:, None, None]) & (idx >= 0) & (idx < t)
        idx_c = np.clip(idx, 0, max(source.shape[1] - 1, 0)).reshape(len(rows), -1)
        vals = source[rows[:, None], idx_c]
        if minus is not None:
            vals = vals - minus[rows[:, None], idx_c]
        vals = np.where(inside.reshape(len(rows), -1), vals, np.nan)
        per_cycle = np.isfinite(vals.reshape(len(rows), len(ks), -1)).any(axis=2).sum(axis=1)
        keep = per_cycle >= self.min_cycles
        return rows[keep], vals[keep]

    def _lookup(self, t: int, period: np.ndarray, minus: np.ndarray | None = None) -> np.ndarray:
        """(S,) robust location of ``dev`` (− ``minus``) at t − k·P + j (NaN without enough cycles)."""
        out = np.full(self.dev.shape[0], np.nan)
        rows, vals = self.gather(self.dev, t, period, minus)
        if rows.size:
            out[rows] = robust_location(vals)
        return out

    def spread(self, source: np.ndarray, t: int) -> np.ndarray:
        """(S,) robust spread (1.4826 × median |x|) of ``source`` — e.g. one-step errors — at the same
        phase of the last cycles of the first period: the noise of this time of the day (NaN
        without a period)."""
        out = np.full(source.shape[0], np.nan)
        rows, vals = self.gather(source, t, self.periods[:, 0])
        if rows.size:
            out[rows] = MAD_TO_SIGMA * nanmedian_last(np.abs(vals))
        return out

    def component(self, t: int) -> np.ndarray:
        """(S,) seasonal component at t (0 where there is none yet)."""
        c1 = self._lookup(t, self.periods[:, 0])
        c1 = np.where(np.isfinite(c1), c1, 0.0)
        self.first[:, t] = c1
        total = c1
        if (self.periods[:, 1] > 0).any():
            c2 = self._lookup(t, self.periods[:, 1], minus=self.first)
            total = total + np.where(np.isfinite(c2), c2, 0.0)
        return total
