"""The named parts of the calendar-aware KPI detector (:mod:`pipelines.analytics.kpi_engine`).

Each part owns its ring buffers (vectorised over S series) and answers one question:

* :class:`Transform` — what is compared (asinh or linear, fixed from the first values) and how a
  count-like series is treated;
* :class:`CalendarProfile` — the weekday (seasonal position) profile;
* :class:`DayEffects` — day-of-month / quarter-end effects (buckets), learned before judged;
* :class:`HolidayEffects` — holidays compared with holiday history;
* :class:`LevelWindow` — the robust level of the current regime (and the count model's rate);
* :class:`ResidualScale` — the robust scale of one-step residuals per day class;
* :class:`ZeroRates` — how often each position is (near) zero, for dropouts;
* :class:`CountProfile` — the count model's weekday factors and over-dispersion;
* :class:`PendingQueue` — points held back while a CUSUM is open.

The level/CUSUM logic that ties them together (alarms, learning a new level, returning to the old
one) is :class:`pipelines.analytics.kpi_engine.ShiftTracker`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from pipelines.analytics._robust import nanmad_last, nanmedian_last, robust_location, robust_scale
from pipelines.analytics.count_model import count_z


def push(buf: np.ndarray, count: np.ndarray, rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Append vals[i] to the ring buffer row rows[i] (buf (S, K)); returns the slots written."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    slot = count[rows] % buf.shape[1]
    buf[rows, slot] = vals
    count[rows] += 1
    return slot


def push3(buf: np.ndarray, count: np.ndarray, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Append to the ring buffer (rows[i], cols[i]) of buf (S, C, K); returns the slots written."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    slot = count[rows, cols] % buf.shape[2]
    buf[rows, cols, slot] = vals
    count[rows, cols] += 1
    return slot


# ---------------------------------------------------------------------------------------------
# Transform
# ---------------------------------------------------------------------------------------------


class Transform:
    """``z = asinh(y / c)`` (or ``y / c`` for two-signed KPIs), ``c`` = softness × q75(|y|) of the
    first ``min_history`` values; count-like series (≥ 5 % zeros, or small integers) get the softer
    ``count_softness`` and ``count_threshold_factor`` × the thresholds (their discrete residuals keep
    heavier tails), series scored by the count model the plain thresholds."""

    def __init__(self, vals: np.ndarray, p: object, is_count: np.ndarray):
        s_n, t_n = vals.shape
        valid = ~np.isnan(vals)
        rank = np.cumsum(valid, axis=1)
        first = np.where(valid & (rank <= p.min_history), vals, np.nan)
        with np.errstate(invalid="ignore"):
            cnt = np.sum(~np.isnan(first), axis=1)
            absf = np.abs(first)
            q75 = np.nanquantile(np.where(cnt[:, None] > 0, absf, 0.0), 0.75, axis=1) if t_n else np.zeros(s_n)
            neg = np.where(cnt > 0, np.sum(first < 0, axis=1) / np.maximum(cnt, 1), 0.0)
            amax = np.max(np.where(np.isnan(absf), 0.0, absf), axis=1) if t_n else np.zeros(s_n)
            zero_share = np.where(cnt > 0, np.sum(first == 0, axis=1) / np.maximum(cnt, 1), 0.0)
            small_int = np.all(np.isnan(first) | (first == np.round(first)), axis=1) & (q75 <= 20)
        self.countlike = (zero_share >= 0.05) | small_int
        soft = np.where(self.countlike, p.count_softness, p.softness)
        thr = np.where(self.countlike, p.threshold * p.count_threshold_factor, p.threshold)
        cus_h = np.where(self.countlike, p.cusum_h * p.count_threshold_factor, p.cusum_h)
        self.threshold = np.where(is_count, p.count_model_threshold if p.count_model_threshold else p.threshold, thr)
        self.cusum_h = np.where(is_count, p.cusum_h * p.count_cusum_factor, cus_h)
        c = soft * q75
        c = np.where(np.isfinite(c) & (c > 0), c, soft * amax)
        self.c = np.where(np.isfinite(c) & (c > 0), c, 1.0)
        if p.transform == "linear":
            self.linear = np.ones(s_n, dtype=bool)
        elif p.transform == "asinh":
            self.linear = np.zeros(s_n, dtype=bool)
        else:
            self.linear = neg > 0.25  # genuinely two-signed KPIs (e.g. NPS); a few negative days are not
        with np.errstate(invalid="ignore"):
            self.z = np.where(self.linear[:, None], vals / self.c[:, None], np.arcsinh(vals / self.c[:, None]))

    def back(self, zz: np.ndarray) -> np.ndarray:
        """Back to the KPI's unit (rows = series; works on (S,) and (S, k))."""
        lin = self.linear if zz.ndim == 1 else self.linear[:, None]
        cc = self.c if zz.ndim == 1 else self.c[:, None]
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(lin, zz * cc, np.sinh(np.clip(zz, -700, 700)) * cc)


# ---------------------------------------------------------------------------------------------
# Seasonal profile, day-of-month and holiday effects
# ---------------------------------------------------------------------------------------------


class CalendarProfile:
    """Per seasonal position (weekday), the robust location of the last ``cycles`` deviations from
    the level of their time, centred on the median position; an adjusted working day (position
    ``n_pos``) uses the median Monday–Friday profile, a pseudo point (``n_pos + 1``) none."""

    def __init__(self, s_n: int, n_pos: int, cycles: int, winsor: float):
        self.n_pos = n_pos
        self.winsor = winsor
        self.dev = np.full((s_n, n_pos, cycles), np.nan)
        self.count = np.zeros((s_n, n_pos), dtype=np.int64)
        self.cache = np.full((s_n, n_pos), np.nan)
        self.dirty = np.zeros((s_n, n_pos), dtype=bool)
        self.weekday_cols = np.arange(min(5, n_pos))

    def push(self, rows: np.ndarray, cols: np.ndarray, dev: np.ndarray) -> np.ndarray:
        slot = push3(self.dev, self.count, rows, cols, dev)
        self.dirty[rows, cols] = True
        return slot

    def profile(self) -> np.ndarray:
        """(S, n_pos + 2) position effects (recomputes the cells that changed)."""
        s_n = self.dev.shape[0]
        rows, cols = np.nonzero(self.dirty)
        if rows.size:
            self.cache[rows, cols] = robust_location(self.dev[rows, cols, :], self.winsor)
            self.dirty[rows, cols] = False
        if self.n_pos == 1:
            return np.zeros((s_n, 3))
        ref = nanmedian_last(self.cache)
        prof = self.cache - ref[:, None]
        prof = np.where(np.isnan(prof), 0.0, prof)
        extra = nanmedian_last(prof[:, self.weekday_cols])
        return np.concatenate([prof, extra[:, None], np.zeros((s_n, 1))], axis=1)


class DayEffects:
    """Day-of-month buckets: the median residual of a bucket's last ``history`` points (and, for the
    count model, their counts and expected counts); a bucket's first points are learned, not judged;
    a bucket without history falls back to another (quarter-end → month-end)."""

    def __init__(self, s_n: int, n_buckets: int, history: int, min_history: int, fallback: np.ndarray):
        self.r = np.full((s_n, n_buckets + 1, history), np.nan)
        self.count = np.zeros((s_n, n_buckets + 1), dtype=np.int64)
        self.cx = np.full((s_n, n_buckets + 1, history), np.nan)
        self.ce = np.full((s_n, n_buckets + 1, history), np.nan)
        self.min_history = min_history
        self.fallback = fallback

    def effect(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int]:
        """(effect, known, band inflation, fallback used (or None), fallback bucket) for bucket b > 0."""
        d = nanmedian_last(self.r[:, b, :])
        n_b = np.minimum(self.count[:, b], self.r.shape[2]).astype(float)
        d = np.where((n_b >= self.min_history) & np.isfinite(d), d, np.nan)
        fb = int(self.fallback[b]) if b < len(self.fallback) else 0
        fb_used = None
        if fb > 0:  # e.g. a quarter-end without history yet: the ordinary month-end effect
            d_fb = nanmedian_last(self.r[:, fb, :])
            n_fb = np.minimum(self.count[:, fb], self.r.shape[2]).astype(float)
            fb_used = np.isnan(d) & (n_fb >= self.min_history)
            d = np.where(fb_used, d_fb, d)
            n_b = np.where(fb_used, n_fb, n_b)
        known = np.isfinite(d)
        # the effect is a median of n points: its error widens the band (var ≈ π/2 · σ² / n)
        inflation = np.sqrt(1.0 + (np.pi / 2) / np.maximum(n_b, 1.0))
        return np.where(known, d, 0.0), known, inflation, fb_used, fb

    def push(self, rows: np.ndarray, b: np.ndarray, r0: np.ndarray, cx: np.ndarray, cmu: np.ndarray) -> None:
        if rows.size == 0:
            return
        slot = self.count[rows, b] % self.r.shape[2]
        self.cx[rows, b, slot] = np.where(np.isfinite(cmu), cx, np.nan)
        self.ce[rows, b, slot] = cmu
        push3(self.r, self.count, rows, b, r0)

    def count_factor(self, b: int, fb_used: np.ndarray | None, fb: int) -> np.ndarray:
        fac = count_factor(self.cx[:, b, :], self.ce[:, b, :])
        if fb_used is not None:
            fac = np.where(fb_used, count_factor(self.cx[:, fb, :], self.ce[:, fb, :]), fac)
        return fac


class HolidayEffects:
    """Holidays: offsets from the level of the last ``history`` holiday points (and their counts)."""

    def __init__(self, s_n: int, history: int):
        self.z = np.full((s_n, history), np.nan)
        self.count = np.zeros(s_n, dtype=np.int64)
        self.cx = np.full((s_n, history), np.nan)
        self.ce = np.full((s_n, history), np.nan)

    def expectation(self) -> tuple[np.ndarray, np.ndarray]:
        """(median offset, its robust spread)."""
        return nanmad_last(self.z)

    def push(self, rows: np.ndarray, offset: np.ndarray, cx: np.ndarray, ce: np.ndarray) -> None:
        if rows.size == 0:
            return
        slot = self.count[rows] % self.z.shape[1]
        self.cx[rows, slot] = np.where(np.isfinite(ce), cx, np.nan)
        self.ce[rows, slot] = ce
        push(self.z, self.count, rows, offset)


# ---------------------------------------------------------------------------------------------
# Level, scale, zero rates
# ---------------------------------------------------------------------------------------------


class LevelWindow:
    """The last ``window`` clean ordinary points (value, position, time, count, exposure); the level
    is the robust location of those of the current regime with their profile removed."""

    def __init__(self, s_n: int, window: int, winsor: float):
        self.z = np.full((s_n, window), np.nan)
        self.pos = np.zeros((s_n, window), dtype=np.int64)
        self.t = np.full((s_n, window), -1, dtype=np.int64)
        self.count = np.zeros(s_n, dtype=np.int64)
        self.cx = np.full((s_n, window), np.nan)
        self.cn = np.full((s_n, window), np.nan)
        self.regime_start = np.zeros(s_n, dtype=np.int64)
        self.n_clean = np.zeros(s_n, dtype=np.int64)
        self.winsor = winsor

    def in_regime(self) -> np.ndarray:
        return (self.t >= 0) & (self.t >= self.regime_start[:, None])

    def level(self, prof: np.ndarray) -> np.ndarray:
        vals = np.where(self.in_regime(), self.z - np.take_along_axis(prof, self.pos, axis=1), np.nan)
        return robust_location(vals, self.winsor)

    def rate(self, sfull: np.ndarray) -> np.ndarray:
        """The count model's rate per unit of exposure: Σ counts / Σ exposure × weekday factor
        (at least half an event over the window: an all-zero history is not a zero rate)."""
        lw = self.in_regime() & np.isfinite(self.cx) & np.isfinite(self.cn)
        sl = np.take_along_axis(sfull, self.pos, axis=1)
        q_num = np.sum(np.where(lw, self.cx, 0.0), axis=1)
        q_den = np.sum(np.where(lw, self.cn * sl, 0.0), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(q_den > 0, np.maximum(q_num, 0.5) / q_den, np.nan)

    def push(self, rows: np.ndarray, z: np.ndarray, pos: np.ndarray, t: np.ndarray, cx: np.ndarray,
             cn: np.ndarray) -> None:
        if rows.size == 0:
            return
        slot = self.count[rows] % self.z.shape[1]
        self.cx[rows, slot] = cx
        self.cn[rows, slot] = cn
        self.z[rows, slot] = z
        self.t[rows, slot] = t
        self.pos[rows, slot] = pos
        self.count[rows] += 1

    def forget_since(self, rows: np.ndarray, start: np.ndarray) -> None:
        kill = self.t[rows] >= start[:, None]
        self.t[rows] = np.where(kill, -1, self.t[rows])
        self.z[rows] = np.where(kill, np.nan, self.z[rows])


class ResidualScale:
    """Robust scale of recent one-step residuals: pooled, and per day class (working days / days off)
    once a class has ``min_class`` residuals; floored at ``floor``."""

    def __init__(self, s_n: int, window: int, min_class: int, winsor: float, floor: float, weekly_classes: bool):
        self.pooled = np.full((s_n, window), np.nan)
        self.n_pooled = np.zeros(s_n, dtype=np.int64)
        self.work = np.full((s_n, window), np.nan)
        self.n_work = np.zeros(s_n, dtype=np.int64)
        self.off = np.full((s_n, window), np.nan)
        self.n_off = np.zeros(s_n, dtype=np.int64)
        self.min_class, self.winsor, self.floor = min_class, winsor, floor
        self.weekly_classes = weekly_classes

    def day_off(self, pos: np.ndarray) -> np.ndarray:
        return (pos == 5) | (pos == 6) if self.weekly_classes else np.zeros(pos.shape, dtype=bool)

    def scale(self, pos_t: int) -> np.ndarray:
        buf = self.pooled
        if self.weekly_classes:
            cbuf, ccount = (self.off, self.n_off) if pos_t in (5, 6) else (self.work, self.n_work)
            buf = np.where((ccount >= self.min_class)[:, None], cbuf, self.pooled)
        sc = robust_scale(buf, self.winsor)
        return np.where(np.isfinite(sc), np.maximum(sc, self.floor), np.nan)

    def push(self, rows: np.ndarray, r: np.ndarray, pos: np.ndarray) -> None:
        ok = np.isfinite(r)
        push(self.pooled, self.n_pooled, rows[ok], r[ok])
        off = self.day_off(pos)
        push(self.off, self.n_off, rows[ok & off], r[ok & off])
        push(self.work, self.n_work, rows[ok & ~off], r[ok & ~off])


class ZeroRates:
    """Recent clean values per position: how often a weekday is (near) zero."""

    def __init__(self, s_n: int, n_pos: int, cycles: int):
        self.z = np.full((s_n, n_pos + 1, cycles), np.nan)
        self.count = np.zeros((s_n, n_pos + 1), dtype=np.int64)
        self.n_pos = n_pos

    def p_zero(self, pos_t: int, expected: np.ndarray, back: object, fraction: float) -> tuple[np.ndarray, ...]:
        """(P(near zero) = (zeros + ½)/(n + 1), zeros seen, n) at this position."""
        hist = self.z[:, min(pos_t, self.n_pos), :]
        n_h = np.sum(~np.isnan(hist), axis=1)
        with np.errstate(invalid="ignore"):
            zeros_h = np.sum(back(hist) <= fraction * expected[:, None], axis=1)
        return (zeros_h + 0.5) / (n_h + 1.0), zeros_h, n_h

    def push(self, rows: np.ndarray, pos_t: int, z: np.ndarray) -> None:
        push3(self.z, self.count, rows, np.full(rows.size, min(pos_t, self.n_pos)), z)


# ---------------------------------------------------------------------------------------------
# Count model state
# ---------------------------------------------------------------------------------------------


def count_factor(x: np.ndarray, e: np.ndarray, cut: float = 4.0) -> np.ndarray:
    """(S,) ratio of counts to expected counts over the last axis — a day-of-month or holiday
    effect of the count model — robustly: points more than ``cut`` count-z from the median
    ratio are left out (one learned anomaly among a bucket's few points would dominate a plain ratio
    of sums), then the ratio of sums, shrunk to 1 by half an event."""
    ok = np.isfinite(x) & np.isfinite(e) & (e > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ok, (x + 0.5) / (e + 0.5), np.nan)
        med = nanmedian_last(ratio)
        med = np.where(np.isfinite(med), med, 1.0)
        keep = ok & (np.abs(count_z(np.where(ok, x, 0.0), np.where(ok, e, 1.0) * med[:, None])) <= cut)
        num = np.sum(np.where(keep, x, 0.0), axis=-1)
        den = np.sum(np.where(keep, e, 0.0), axis=-1)
    return (num + 0.5) / (den + 0.5)


class CountProfile:
    """The count model's weekday factors (ratios of sums of counts to expected counts, per position)
    and its over-dispersion (robust variance of recent clean count z-scores, within [1, max])."""

    def __init__(self, s_n: int, n_pos: int, cycles: int, window: int, min_history: int, max_dispersion: float,
                 winsor: float):
        self.px = np.full((s_n, n_pos, cycles), np.nan)
        self.pe = np.full((s_n, n_pos, cycles), np.nan)
        self.zc = np.full((s_n, window), np.nan)
        self.n_zc = np.zeros(s_n, dtype=np.int64)
        self.n_pos = n_pos
        self.min_history, self.max_dispersion, self.winsor = min_history, max_dispersion, winsor

    def factors(self, weekday_cols: np.ndarray) -> np.ndarray:
        """(S, n_pos + 2) multiplicative factors, centred on the median position; column n_pos = the
        median working-day factor (adjusted working days), n_pos + 1 = 1 (pseudo points)."""
        s_n = self.px.shape[0]
        if self.n_pos == 1:
            return np.ones((s_n, 3))
        num = np.nansum(self.px, axis=2)
        den = np.nansum(self.pe, axis=2)
        raw = np.where(den > 0, (num + 0.5) / (den + 0.5), np.nan)
        ref = nanmedian_last(raw)
        with np.errstate(invalid="ignore", divide="ignore"):
            prof = raw / ref[:, None]
        prof = np.where(np.isfinite(prof) & (prof > 0), prof, 1.0)
        extra = nanmedian_last(prof[:, weekday_cols])
        return np.concatenate([prof, extra[:, None], np.ones((s_n, 1))], axis=1)

    def dispersion(self) -> np.ndarray:
        phi = np.where(self.n_zc >= self.min_history, robust_scale(self.zc, self.winsor) ** 2, 1.0)
        return np.clip(np.nan_to_num(phi, nan=1.0), 1.0, self.max_dispersion)

    def push_position(self, rows: np.ndarray, cols: np.ndarray, slot: np.ndarray, cx: np.ndarray,
                      expected: np.ndarray) -> None:
        self.px[rows, cols, slot] = np.where(np.isfinite(expected), cx, np.nan)
        self.pe[rows, cols, slot] = expected

    def push_z(self, rows: np.ndarray, cz: np.ndarray) -> None:
        ok = np.isfinite(cz)
        push(self.zc, self.n_zc, rows[ok], cz[ok])


# ---------------------------------------------------------------------------------------------
# Points held back while a CUSUM is open
# ---------------------------------------------------------------------------------------------


@dataclass
class PointRecord:
    """What training needs to know about a point (arrays over the rows it concerns)."""

    z: np.ndarray
    pos: np.ndarray
    t: np.ndarray
    r: np.ndarray  # residual from the expected value
    r0: np.ndarray  # residual from level + profile (before the day effect)
    b: np.ndarray  # bucket
    lev: np.ndarray  # the level at the time
    cx: np.ndarray  # count
    cn: np.ndarray  # exposure
    clev: np.ndarray  # count rate at the time
    cmu: np.ndarray  # expected count before the day effect
    cz: np.ndarray  # count z-score

    def take(self, rows: np.ndarray) -> PointRecord:
        return PointRecord(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


class PendingQueue:
    """Up to ``size`` held-back points per series (a CUSUM is open: they may belong to a shift)."""

    _INT = ("pos", "t", "b")

    def __init__(self, s_n: int, size: int):
        self.size = size
        self.data = {f.name: np.zeros((s_n, size), dtype=np.int64) if f.name in self._INT else
                     np.full((s_n, size), np.nan) for f in fields(PointRecord)}
        self.flagged = np.zeros((s_n, size), dtype=bool)
        self.n = np.zeros(s_n, dtype=np.int64)

    def add(self, rows: np.ndarray, rec: PointRecord, flagged: np.ndarray) -> None:
        j = self.n[rows]
        for name, arr in self.data.items():
            arr[rows, j] = getattr(rec, name)
        self.flagged[rows, j] = flagged
        self.n[rows] += 1

    def slot(self, rows: np.ndarray, j: int) -> PointRecord:
        return PointRecord(**{name: arr[rows, j] for name, arr in self.data.items()})
