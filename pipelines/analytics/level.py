"""The level of a series and sustained changes of it: three one-step predictors chosen by their
recent accuracy, and a CUSUM for shifts too small to stand out point by point.

Predictors of the next deseasonalised value, all from *clean* history (a flagged point enters
winsorised: see :mod:`pipelines.analytics.score`):

* ``long`` — the robust location of the last ``window`` points: best for a stable level with
  independent noise (most business KPIs), where it averages the noise away;
* ``trend`` — the last point plus the median of the last ``slope_window`` steps: best for smooth
  series, random walks and ramps (a ramp is not a shift: the next point is where the ramp goes);
* ``short`` — the median of the last ``short_window`` points: in between (wandering series with
  independent noise on top).

Each series uses, at each point, the predictor with the smallest median absolute error over its
last ``select_window`` points (another than ``long`` only when its error is ``margin`` × smaller) — the same autocorrelation that would make a long-window level raise
false "level shifts" (long runs of same-sign residuals on a smooth daily cycle) makes the trend
predictor win there. Until the errors exist, ``long`` is used.

:class:`ShiftMonitor` is a two-sided CUSUM of the standardized errors (clipped at ``clip``,
reference ``k``, decision interval ``h``): it raises an alarm for a run of moderate deviations of
one sign, and falls back to zero when they stop.
"""

from __future__ import annotations

import numpy as np

from pipelines.analytics._robust import nanmedian_last, robust_location

PREDICTORS = ("long", "trend", "short")


class LevelModel:
    """One-step predictions of S series from ``clean`` (S, T) — the deseasonalised clean history."""

    def __init__(self, clean: np.ndarray, *, window: int = 30, slope_window: int = 10, short_window: int = 5,
                 select_window: int = 32, min_select: int = 10, winsor: float = 2.5,
                 predictors: tuple[str, ...] = PREDICTORS, margin: float = 1.0):
        self.clean = clean
        self.window = window
        self.slope_window = slope_window
        self.short_window = short_window
        self.select_window = select_window
        self.min_select = min_select
        self.margin = margin
        self.winsor = winsor
        bad = sorted(set(predictors) - set(PREDICTORS))
        if bad or not predictors:
            raise ValueError(f"predictors must be among {PREDICTORS}, got {predictors}")
        self.enabled = np.array([p in predictors for p in PREDICTORS])
        s_n, t_n = clean.shape
        #: errors of each predictor (3, S, T): what selection and scale are computed from
        self.errors = np.full((len(PREDICTORS), s_n, t_n), np.nan)
        self.last_value = np.full(s_n, np.nan)

    def predict(self, t: int) -> np.ndarray:
        """(3, S) predictions of the next deseasonalised value (NaN without history)."""
        c = self.clean
        lo = max(0, t - self.window)
        long = robust_location(c[:, lo:t], self.winsor) if t > lo else np.full(c.shape[0], np.nan)
        lo_s = max(0, t - self.slope_window - 1)
        seg = c[:, lo_s:t]
        if seg.shape[1] >= 2:
            steps = _gap_steps(seg)
            slope = nanmedian_last(steps)
        else:
            slope = np.full(c.shape[0], np.nan)
        trend = self.last_value + np.where(np.isfinite(slope), slope, 0.0)
        lo_m = max(0, t - self.short_window)
        short = nanmedian_last(c[:, lo_m:t]) if t > lo_m else np.full(c.shape[0], np.nan)
        short = np.where(np.isfinite(short), short, self.last_value)
        return np.stack([long, trend, short])

    def choose(self, t: int) -> np.ndarray:
        """(S,) index of the predictor with the smallest recent median |error| (ties: the first)."""
        lo = max(0, t - self.select_window)
        if t <= lo:
            return np.zeros(self.clean.shape[0], dtype=np.int64)
        err = np.abs(self.errors[:, :, lo:t])
        n = np.sum(np.isfinite(err), axis=2)
        loss = nanmedian_last(err)
        loss = np.where((n >= self.min_select) & self.enabled[:, None], loss, np.inf)
        # the long level unless another predictor is clearly better (a coin flip between nearly equal
        # errors would make the level jumpy on plain noise)
        loss[1:] = loss[1:] * self.margin
        loss[0] = np.where(np.isfinite(loss[0]), loss[0], -np.inf)  # 'long' until others qualify
        return np.argmin(loss, axis=0)

    def record(self, t: int, d: np.ndarray, preds: np.ndarray, clean_value: np.ndarray,
               error_cap: np.ndarray | None = None) -> None:
        """Store point t: each predictor's error (capped at ± ``error_cap`` for a flagged point) and
        the value that enters the clean history (NaN = nothing)."""
        err = d[None, :] - preds
        if error_cap is not None:
            cap = error_cap[None, :]
            err = np.where(np.isfinite(cap), np.clip(err, -cap, cap), err)
        self.errors[:, :, t] = err
        self.clean[:, t] = clean_value
        ok = np.isfinite(clean_value)
        self.last_value = np.where(ok, clean_value, self.last_value)

    def accept(self, rows: np.ndarray, t0: np.ndarray, t: int, raw: np.ndarray) -> None:
        """A sustained change is the new normal: the clean history of ``rows`` from ``t0`` to ``t``
        becomes the raw deseasonalised values ``raw`` (S, T), and old errors are forgotten."""
        for r, start in zip(rows, t0, strict=True):
            self.clean[r, start: t + 1] = raw[r, start: t + 1]
            self.errors[:, r, start: t + 1] = np.nan
            last = raw[r, start: t + 1]
            fin = last[np.isfinite(last)]
            if fin.size:
                self.last_value[r] = fin[-1]


def _gap_steps(seg: np.ndarray) -> np.ndarray:
    """First differences between consecutive finite values of each row, per step of time."""
    s_n, w = seg.shape
    idx = np.arange(w)
    ok = np.isfinite(seg)
    last_idx = np.where(ok, idx, -1)
    last_idx = np.maximum.accumulate(last_idx, axis=1)
    prev = np.full_like(last_idx, -1)
    prev[:, 1:] = last_idx[:, :-1]
    has = ok & (prev >= 0)
    prev_c = np.clip(prev, 0, None)
    prev_v = np.take_along_axis(seg, prev_c, axis=1)
    gap = np.where(has, idx - prev, 1)
    return np.where(has, (seg - prev_v) / gap, np.nan)


class ShiftMonitor:
    """Two-sided CUSUM of standardized errors: ``update`` returns the sign of an open alarm (0 none)."""

    def __init__(self, s_n: int, *, k: float = 0.75, h: float = 8.0, clip: float = 3.0, quiet: int = 3):
        self.k, self.h, self.clip, self.quiet = k, h, clip, quiet
        self.up = np.zeros(s_n)
        self.down = np.zeros(s_n)
        self.sign = np.zeros(s_n, dtype=np.int64)
        self.start = np.full(s_n, -1, dtype=np.int64)
        self.length = np.zeros(s_n, dtype=np.int64)
        self.calm = np.zeros(s_n, dtype=np.int64)

    def update(self, t: int, z: np.ndarray, judged: np.ndarray, long_run: np.ndarray | None = None) -> np.ndarray:
        """Feed the standardized errors of point t (only where ``judged``); returns (S,) bool: the
        point belongs to an alarm on its own side (it is flagged as part of a sustained shift).

        ``long_run`` (S,) divides the errors first: for autocorrelated errors, √((1 + ρ)/(1 − ρ)) —
        a run of same-sign errors is then what their correlation makes it, not a shift."""
        x = np.clip(np.nan_to_num(z, nan=0.0), -self.clip, self.clip)
        if long_run is not None:
            x = x / np.where(np.isfinite(long_run) & (long_run > 0), long_run, 1.0)
        up = np.where(judged, np.maximum(0.0, self.up + x - self.k), self.up)
        dn = np.where(judged, np.maximum(0.0, self.down - x - self.k), self.down)
        opened = judged & (self.up == 0) & (self.down == 0) & ((up > 0) | (dn > 0))
        self.start = np.where(opened, t, self.start)
        self.up, self.down = up, dn
        new = judged & (self.sign == 0) & ((up >= self.h) | (dn >= self.h))
        self.sign = np.where(new, np.where(up >= dn, 1, -1), self.sign)
        self.length = np.where(new, 0, self.length)
        on = judged & (self.sign != 0)
        side = np.where(self.sign > 0, up, dn)
        flag = on & (side > 0) & (x * self.sign > self.k)
        self.length = np.where(flag, self.length + 1, self.length)
        self.calm = np.where(on, np.where(flag, 0, self.calm + 1), self.calm)
        ended = on & ((side == 0) | (self.calm >= self.quiet))
        self.reset(np.nonzero(ended)[0])
        return flag

    def reset(self, rows: np.ndarray) -> None:
        self.up[rows] = 0.0
        self.down[rows] = 0.0
        self.sign[rows] = 0
        self.length[rows] = 0
        self.calm[rows] = 0


def lag1_correlation(errors: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """(S,) lag-one autocorrelation of each row of standardized errors (S, W), each clipped at
    ±``clip`` (a spike must not decide it); NaN pairs are skipped; 0 with fewer than 10 pairs."""
    e = np.clip(errors, -clip, clip)
    a, b = e[:, :-1], e[:, 1:]
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=1)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a0.sum(axis=1) / n
        mb = b0.sum(axis=1) / n
        da = np.where(ok, a - ma[:, None], 0.0)
        db = np.where(ok, b - mb[:, None], 0.0)
        r = (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    return np.where((n >= 10) & np.isfinite(r), r, 0.0)


def long_run_factor(rho: np.ndarray, cap: float = 0.9) -> np.ndarray:
    """√((1 + ρ)/(1 − ρ)) for ρ in [0, cap]: how much wider a sum of AR(1) errors spreads."""
    r = np.clip(rho, 0.0, cap)
    return np.sqrt((1.0 + r) / (1.0 - r))
