"""``score_series``: a calibrated anomaly score for one series of any regular frequency.

    from pipelines.analytics.score import score_series

    result = score_series(timestamps, values, direction="both")
    result.score      # per input point, in [0, 1]; 0.5 = the flag threshold (tail probability α)
    result.is_anomaly # score ≥ 0.5

No parameter depends on the series: frequency, seasonality, noise level, quantization and whether
the series is intermittent are all found from the data, causally (a point is judged from the
points before it only — appending data never changes what was said about the past).

How a point is judged (each part in its own module, each with its own tests):

1. **Grid.** Timestamps are placed on their regular grid (the median step); missing steps are gaps.
   Zeros before the first non-zero value are "no data yet".
2. **Seasonality** (:mod:`~pipelines.analytics.seasonality`): periods are found from the
   autocorrelation of the history (re-checked as the history grows by half), snapped to the natural
   period of the sampling step when close; the seasonal component is the robust profile of the
   last cycles' clean deviations from the level.
3. **Level** (:mod:`~pipelines.analytics.level`): three one-step predictors of the deseasonalised
   value — a long robust level, the last value plus the recent slope, a short median — and, per point,
   the one with the smallest recent error (a smooth ramp follows the slope, not a level shift).
4. **Scale** (:mod:`~pipelines.analytics.scale`): the robust scale of the predictor's recent
   errors, floored by half the series' quantum and by a fraction of its robust range.
5. **Calibration** (:mod:`~pipelines.analytics.calibration`): the standardized error becomes a
   tail probability — Gaussian, but never smaller than the share of recent points that deviated as
   much (once that happened twice) — and a score in [0, 1], 0.5 at the tail probability α.
   Intermittent series are judged by a hurdle count model instead
   (:mod:`~pipelines.analytics.count_model`). A CUSUM of the standardized errors flags sustained
   shifts too small to stand out point by point.
6. **Training.** A flagged point enters the history winsorised (its error capped at ``cap`` scales),
   so a spike does not move the level; ``accept_run`` flags in a row of one sign are a new normal —
   the level starts from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipelines.analytics.calibration import (
    DEFAULT_ALPHA,
    TailModel,
    empirical_tail,
    gaussian_tail,
    tail_score,
    z_for_tail,
)
from pipelines.analytics.count_model import IntermittentModel
from pipelines.analytics.level import LevelModel, ShiftMonitor, lag1_correlation, long_run_factor
from pipelines.analytics.scale import ScaleModel
from pipelines.analytics.seasonality import SeasonalProfile, find_periods_batch

SCORE_DIRECTIONS = ("both", "up", "down")
#: status codes of :class:`PanelScores`
STATUS_NAMES = ("ok", "anomaly", "not_enough_history", "missing")
ST_OK, ST_ANOMALY, ST_NO_HISTORY, ST_MISSING = range(4)
KIND_NAMES = ("spike", "dip", "level_shift")


@dataclass(frozen=True)
class ScoreParams:
    """Settings of :func:`score_series` — one set for every series (nothing is tuned per series)."""

    #: two-sided tail probability of a flagged point under normal behaviour (score 0.5)
    alpha: float = DEFAULT_ALPHA
    #: valid points needed before anything is judged
    min_history: int = 24
    #: "linear" (deviations in the series' own units, as a person reads a chart) or "asinh"
    #: (≈ logarithmic for large values: relative deviations)
    transform: str = "linear"
    level_window: int = 30
    #: the one-step predictors competing per series (see :mod:`pipelines.analytics.level`)
    predictors: tuple[str, ...] = ("long", "trend", "short")
    scale_window: int = 128
    #: the scale is recomputed every this many points (and when a series changes predictor)
    scale_refresh: int = 4
    range_fraction: float = 0.02
    #: seasonality: found from the data (off: none)
    seasonality: bool = True
    max_periods: int = 2
    season_cycles: int = 5
    #: the first period check after this many points, then each time the history grew by half
    period_check_first: int = 24
    period_check_growth: float = 2.0
    #: the empirical guard: a deviation seen at least this many times in the last
    #: ``empirical_window`` points is at least as likely as that share
    empirical_min_count: int = 2
    empirical_window: int = 5000
    #: the peaks-over-threshold tail: fitted above this quantile of past |z| once it holds
    #: ``tail_min_exceedances`` points (series with a history: 667 points for 20 above the 97th)
    tail_quantile: float = 0.97
    tail_min_exceedances: int = 20
    #: a deviation back towards the level before a recent event (within this many points of its
    #: last flag) is the event ending, not a new one
    return_window: int = 30
    #: the scale is at least the typical error at this phase of the cycle (noise that has a
    #: time of day) and of the last ``local_window`` points (a noisier stretch)
    seasonal_scale: bool = True
    local_window: int = 16
    season_width_divisor: int = 96
    #: CUSUM for sustained shifts (0 = off)
    cusum_h: float = 12.0
    cusum_k: float = 0.75
    #: a flagged point enters the history with its error capped at this many scales
    cap: float = 3.0
    #: this many flags in a row of one sign are the new normal
    accept_run: int = 12
    #: intermittent series (≥ this share of zeros recently) are judged by the hurdle count model
    intermittent_zero_share: float = 0.5
    trim_leading_zeros: bool = True

    def checked(self) -> ScoreParams:
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.transform not in ("linear", "asinh"):
            raise ValueError(f"transform must be 'linear' or 'asinh', got {self.transform!r}")
        if self.min_history < 3:
            raise ValueError(f"min_history must be ≥ 3, got {self.min_history}")
        return self


@dataclass
class PanelScores:
    """Per-point results of S series on one grid (arrays (S, T))."""

    score: np.ndarray
    flag: np.ndarray
    p_value: np.ndarray
    z: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    status: np.ndarray
    kind: np.ndarray  # index into KIND_NAMES, -1 when not flagged
    periods: np.ndarray  # (S, 2) periods in use at the end


@dataclass
class SeriesScore:
    """:func:`score_series` output: one row per input point, in input order."""

    frame: pd.DataFrame
    periods: list[int]

    @property
    def score(self) -> np.ndarray:
        return self.frame["score"].to_numpy()

    @property
    def is_anomaly(self) -> np.ndarray:
        return self.frame["is_anomaly"].to_numpy()


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


def regular_grid(timestamps: Iterable) -> tuple[np.ndarray, float | None]:
    """Grid position of each timestamp (median step; duplicates and off-grid points rounded) and the
    step in seconds (None for plain numbers). Timestamps must increase."""
    ts = pd.Index(list(timestamps) if not isinstance(timestamps, pd.Index | np.ndarray) else timestamps)
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64), None
    if pd.api.types.is_numeric_dtype(ts.dtype):
        raw = np.asarray(ts, dtype=float)
        seconds = None
    else:
        dt = pd.DatetimeIndex(pd.to_datetime(ts))
        if dt.tz is not None:
            dt = dt.tz_convert("UTC").tz_localize(None)
        raw = dt.asi8.astype(float) / 1e9
        seconds = 1.0
    d = np.diff(raw)
    if (d < 0).any():
        bad = int(np.argmax(d < 0)) + 1
        raise ValueError(f"timestamps must be in increasing order: point {bad} comes before point {bad - 1}")
    pos_d = d[d > 0]
    step = float(np.median(pos_d)) if pos_d.size else 1.0
    pos = np.round((raw - raw[0]) / step).astype(np.int64)
    pos = np.maximum.accumulate(pos)
    return pos, (step * seconds if seconds else None)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


def _transform(x: np.ndarray, p: ScoreParams) -> tuple[np.ndarray, np.ndarray]:
    """(z, c): the compared values and each row's unit (robust size of its first values)."""
    s_n = x.shape[0]
    c = np.ones(s_n)
    for i, row in enumerate(x):
        fin = np.abs(row[np.isfinite(row)])[: max(p.min_history, 100)]
        if fin.size:
            q = float(np.quantile(fin, 0.75))
            c[i] = q if q > 0 else (float(fin.max()) or 1.0)
    if p.transform == "asinh":
        return np.arcsinh(x / (0.3 * c[:, None])), 0.3 * c
    return x / c[:, None], c


def _back(zz: np.ndarray, c: np.ndarray, p: ScoreParams) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        if p.transform == "asinh":
            return np.sinh(np.clip(zz, -700, 700)) * c
        return zz * c


def _side_p(z: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Tail probability of the standardized error on the sides each series cares about."""
    one = gaussian_tail(z)
    return np.where(directions == "both", 2.0 * one,
                    np.where(directions == "up", np.where(z > 0, one, 1.0), np.where(z < 0, one, 1.0)))


class _Engine:
    """The causal loop over time, vectorised over series; each part holds its own state."""

    def __init__(self, x: np.ndarray, step_seconds: float | Sequence[float] | None, directions: np.ndarray, p: ScoreParams):
        self.p = p
        self.x = x
        self.s_n, self.t_n = x.shape
        self.z, self.c = _transform(x, p)
        self.dirs = directions
        shape = x.shape
        self.d_raw = np.full(shape, np.nan)
        self.dev = np.full(shape, np.nan)
        self.zhist = np.full(shape, np.nan)
        self.season = SeasonalProfile(self.dev, cycles=p.season_cycles, width_divisor=p.season_width_divisor)
        self.err_used = np.full(shape, np.nan)
        self.level = LevelModel(np.full(shape, np.nan), window=p.level_window, predictors=tuple(p.predictors))
        self.scale = ScaleModel(self.s_n, window=p.scale_window, range_fraction=p.range_fraction)
        self.shift = ShiftMonitor(self.s_n, k=p.cusum_k, h=p.cusum_h if p.cusum_h > 0 else np.inf)
        self.hurdle = IntermittentModel(x)
        self.tail = TailModel(self.s_n, quantile=p.tail_quantile, min_exceedances=p.tail_min_exceedances,
                              window=p.empirical_window)
        self.scale_value = np.full(self.s_n, np.nan)
        self.scale_choice = np.full(self.s_n, -1, dtype=np.int64)
        self.scale_due = np.zeros(self.s_n, dtype=np.int64)
        self.rho_due = 0
        self.model_since = np.zeros(self.s_n, dtype=np.int64)
        self.long_run = np.ones(self.s_n)
        self.event_sign = np.zeros(self.s_n, dtype=np.int64)
        self.event_base = np.full(self.s_n, np.nan)
        self.last_flag = np.full(self.s_n, -(10**9), dtype=np.int64)
        steps = np.asarray([np.nan if step_seconds is None else step_seconds], dtype=float).ravel() if (
            step_seconds is None or np.ndim(step_seconds) == 0) else np.asarray(step_seconds, dtype=float)
        self.step_seconds = [None if not np.isfinite(v) else float(v) for v in np.broadcast_to(steps, (self.s_n,))]
        self.n_valid = np.zeros(self.s_n, dtype=np.int64)
        self.run_sign = np.zeros(self.s_n, dtype=np.int64)
        self.run_len = np.zeros(self.s_n, dtype=np.int64)
        self.run_start = np.zeros(self.s_n, dtype=np.int64)
        self.next_check = p.period_check_first
        self.z_alpha = z_for_tail(p.alpha / 2)
        self.out = PanelScores(
            score=np.full(shape, np.nan), flag=np.zeros(shape, dtype=bool), p_value=np.full(shape, np.nan),
            z=np.full(shape, np.nan), expected=np.full(shape, np.nan), lower=np.full(shape, np.nan),
            upper=np.full(shape, np.nan), status=np.full(shape, ST_MISSING, dtype=np.int8),
            kind=np.full(shape, -1, dtype=np.int8), periods=self.season.periods,
        )

    def run(self) -> PanelScores:
        for t in range(self.t_n):
            self.step(t)
        return self.out

    def check_periods(self, t: int) -> None:
        if not self.p.seasonality or t < self.next_check:
            return
        self.next_check = int(t * self.p.period_check_growth) + 1
        rows = np.nonzero(self.n_valid >= self.p.period_check_first)[0]
        steps = np.asarray([np.nan if v is None else v for v in self.step_seconds])
        for step in np.unique(steps[rows]):
            same = rows[(steps[rows] == step) | (np.isnan(steps[rows]) & np.isnan(step))]
            found = find_periods_batch(self.z[same, :t], max_periods=self.p.max_periods,
                                       step_seconds=None if np.isnan(step) else float(step))
            changed = self.season.set_periods(same, found)
            # deviations measured without the new cycle say nothing about deviations with it
            self.model_since[changed] = t

    def global_scale(self, t: int, choice: np.ndarray) -> np.ndarray:
        """Robust scale of the recent errors of each series' predictor, refreshed every
        ``scale_refresh`` points or when the predictor changes (causal: errors before t only)."""
        p = self.p
        due = (t >= self.scale_due) | (choice != self.scale_choice)
        if due.any():
            r = np.nonzero(due)[0]
            lo = max(0, t - p.scale_window)
            self.scale_value[r] = self.scale.scale_of(self.level.errors[choice[r][:, None], r[:, None],
                                                                        np.arange(lo, t)[None, :]])
            self.scale_choice[r] = choice[r]
            self.scale_due[r] = t + p.scale_refresh
        return self.scale_value.copy()

    def _sparse_p_values(self, t: int, sparse: np.ndarray, pv: np.ndarray) -> None:
        """Intermittent series (mostly zeros) are judged by the hurdle model: its p-values into ``pv``."""
        if sparse.any():
            r = np.nonzero(sparse)[0]
            ph = self.hurdle.p_value(t, r)
            ph = np.where(self.dirs[r] == "down", 1.0, np.where(self.dirs[r] == "both", np.minimum(2 * ph, 1.0), ph))
            pv[r] = ph

    def _empirical_p_values(self, t: int, cand: np.ndarray, zt: np.ndarray, pv: np.ndarray) -> None:
        """The candidates' p-values raised to their series' empirical (and fitted) tail of past z."""
        p = self.p
        if cand.size:
            lo = max(0, t - p.empirical_window)
            hist = self.zhist[cand, lo:t]
            hist = np.where(np.arange(lo, t)[None, :] >= self.model_since[cand][:, None], hist, np.nan)
            pe = empirical_tail(hist, zt[cand], p.empirical_min_count)
            pt = np.nan_to_num(self.tail.p_value(zt)[cand], nan=0.0)
            pe = np.maximum(pe, pt)
            pe = np.where(self.dirs[cand] == "both", 2 * pe, pe)
            pv[cand] = np.maximum(pv[cand], pe)

    def _write_outputs(self, t: int, valid: np.ndarray, judged: np.ndarray, flag: np.ndarray,
                       sustained: np.ndarray, score: np.ndarray, pv: np.ndarray, zt: np.ndarray,
                       pred: np.ndarray, seas: np.ndarray, sc: np.ndarray) -> None:
        """Point ``t``'s score, flag, p-value, z, expected band, status and kind into the outputs."""
        p, out = self.p, self.out
        out.score[:, t] = np.where(judged, score, np.nan)
        out.flag[:, t] = flag
        out.p_value[:, t] = pv
        out.z[:, t] = np.where(judged, zt, np.nan)
        known = np.isfinite(pred) & np.isfinite(sc)
        centre = pred + seas
        out.expected[:, t] = np.where(known, _back(centre, self.c, p), np.nan)
        out.lower[:, t] = np.where(known, _back(centre - self.z_alpha * sc, self.c, p), np.nan)
        out.upper[:, t] = np.where(known, _back(centre + self.z_alpha * sc, self.c, p), np.nan)
        out.status[:, t] = np.select([~valid, ~judged, flag], [ST_MISSING, ST_NO_HISTORY, ST_ANOMALY], ST_OK)
        out.kind[:, t] = np.where(flag, np.where(sustained & (pv > p.alpha), 2, np.where(zt > 0, 0, 1)), -1)

    def step(self, t: int) -> None:
        p = self.p
        self.check_periods(t)
        z = self.z[:, t]
        valid = np.isfinite(z)
        seas = self.season.component(t)
        d = z - seas
        self.d_raw[:, t] = d
        preds = self.level.predict(t)
        choice = self.level.choose(t)
        pred = preds[choice, np.arange(self.s_n)]
        sc_raw = self.global_scale(t, choice)
        self.scale.update_range(t, self.z)
        sc = np.fmax(sc_raw, self.scale.floor())
        if p.seasonal_scale:
            sc = np.fmax(sc, self.season.spread(self.err_used, t))
        if p.local_window:
            sc = np.fmax(sc, self.scale.scale_of(self.err_used[:, max(0, t - p.local_window):t]))
        e = d - pred
        with np.errstate(invalid="ignore", divide="ignore"):
            zt = e / sc
        judged = valid & (self.n_valid >= p.min_history) & np.isfinite(sc_raw) & np.isfinite(pred)
        pv = np.where(judged, _side_p(zt, self.dirs), np.nan)
        sparse = self.hurdle.intermittent(t) & judged if p.intermittent_zero_share < 1 else np.zeros(self.s_n, bool)
        self._sparse_p_values(t, sparse, pv)
        if t >= self.rho_due:
            self.rho_due = t + 32
            self.long_run = long_run_factor(lag1_correlation(self.zhist[:, max(0, t - p.scale_window):t]))
        sustained = self.shift.update(t, np.where(sparse, np.nan, zt), judged & ~sparse, self.long_run)
        sustained &= np.where(self.dirs == "up", zt > 0, np.where(self.dirs == "down", zt < 0, True))
        self.tail.update(t, self.zhist)
        self._empirical_p_values(t, np.nonzero(judged & (pv <= p.alpha) & ~sparse)[0], zt, pv)
        # the end of an event: back towards the level it left is not a new anomaly
        back = (judged & (t - self.last_flag <= p.return_window) & (np.sign(zt) == -self.event_sign)
                & (np.abs(d - self.event_base) < np.abs(pred - self.event_base)))
        pv = np.where(back & (pv <= p.alpha), np.fmax(pv, np.minimum(1.0, 2 * p.alpha)), pv)
        flag = judged & ((pv <= p.alpha) | sustained)
        score = tail_score(pv, p.alpha)
        score = np.where(sustained & judged, np.fmax(score, 0.5), score)
        self._write_outputs(t, valid, judged, flag, sustained, score, pv, zt, pred, seas, sc)
        self.zhist[:, t] = np.where(judged & ~sparse, zt, np.nan)
        self.err_used[:, t] = np.where(flag, np.clip(e, -p.cap * sc, p.cap * sc), e)
        new_event = flag & (t - self.last_flag > p.return_window)
        self.event_sign = np.where(new_event, np.sign(np.nan_to_num(zt)).astype(np.int64), self.event_sign)
        self.event_base = np.where(new_event, pred, self.event_base)
        self.last_flag = np.where(flag, t, self.last_flag)
        self.train(t, valid, flag, d, e, preds, sc, z, zt)

    def train(self, t: int, valid: np.ndarray, flag: np.ndarray, d: np.ndarray, e: np.ndarray,
              preds: np.ndarray, sc: np.ndarray, z: np.ndarray, zt: np.ndarray) -> None:
        p = self.p
        pred_long = preds[0]
        cap = p.cap * sc
        capped = np.where(np.isfinite(cap), np.clip(e, -cap, cap), e)
        pred = d - e
        clean = np.where(valid, np.where(flag, pred + capped, d), np.nan)
        clean = np.where(valid & ~np.isfinite(clean), d, clean)
        self.level.record(t, d, preds, clean, np.where(flag, cap, np.nan))
        level_then = np.where(np.isfinite(pred_long), pred_long, d)
        self.dev[:, t] = np.where(valid & ~flag, z - level_then, np.nan)
        self.n_valid += valid
        # a run of flags of one sign long enough is the new normal
        sign = np.sign(np.nan_to_num(zt)).astype(np.int64)
        same = flag & (sign == self.run_sign) & (self.run_len > 0)
        self.run_start = np.where(flag & ~same, t, self.run_start)
        self.run_len = np.where(flag, np.where(same, self.run_len + 1, 1), np.where(valid, 0, self.run_len))
        self.run_sign = np.where(flag, sign, np.where(valid, 0, self.run_sign))
        acc = np.nonzero(self.run_len >= p.accept_run)[0]
        if acc.size:
            self.level.accept(acc, self.run_start[acc], t, self.d_raw)
            self.shift.reset(acc)
            self.run_len[acc] = 0
            self.run_sign[acc] = 0


def score_panel(values: np.ndarray, *, step_seconds: float | Sequence[float] | None = None,
                direction: str | Sequence[str] = "both", params: ScoreParams | None = None) -> PanelScores:
    """Score S series on one regular grid (``values`` (S, T), NaN = missing); see :func:`score_series`."""
    p = (params or ScoreParams()).checked()
    x = np.array(values, dtype=float, copy=True)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D (series × points), got {x.ndim}-D")
    x[~np.isfinite(x)] = np.nan
    s_n = x.shape[0]
    dirs = np.asarray([direction] * s_n if isinstance(direction, str) else list(direction), dtype=object)
    if dirs.shape != (s_n,):
        raise ValueError(f"direction must be one value or one per series ({s_n}), got {dirs.shape}")
    bad = sorted({str(v) for v in dirs if v not in SCORE_DIRECTIONS})
    if bad:
        raise ValueError(f"direction must be one of {', '.join(SCORE_DIRECTIONS)}; got {', '.join(bad)}")
    if p.trim_leading_zeros:
        started = np.cumsum(np.nan_to_num(np.abs(x)) > 0, axis=1) > 0
        x[~started] = np.nan
    return _Engine(x, step_seconds, dirs, p).run()


def score_series(timestamps: Iterable, values: Sequence[float] | np.ndarray | pd.Series, direction: str = "both",
                 *, params: ScoreParams | None = None) -> SeriesScore:
    """Score every point of one series of any regular frequency.

    ``timestamps``: increasing datetimes (or numbers) of the points; gaps are allowed (the grid is
    the median step). ``values``: the numbers (NaN = missing). ``direction``: ``"both"``, ``"up"``
    (only increases are anomalies) or ``"down"``.

    Returns a :class:`SeriesScore` whose ``frame`` has one row per input point: ``timestamp``,
    ``value``, ``score`` (in [0, 1], calibrated: ``score ≥ 0.5`` ⇔ a tail probability ≤ α; NaN while
    the history is too short or the value is missing), ``is_anomaly``, ``kind`` (spike / dip /
    level_shift), ``expected``, ``lower``, ``upper`` (the band at the threshold), ``status``.
    """
    ts = list(timestamps) if not isinstance(timestamps, pd.Index | np.ndarray | pd.Series) else timestamps
    ts_index = pd.Index(ts)
    vals = np.asarray(values, dtype=float)
    if vals.ndim != 1 or len(vals) != len(ts_index):
        raise ValueError(f"values must be 1-D with one value per timestamp ({len(ts_index)}), got shape {vals.shape}")
    if direction not in SCORE_DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(SCORE_DIRECTIONS)}, got {direction!r}")
    pos, step_s = regular_grid(ts_index)
    t_n = int(pos[-1]) + 1 if len(pos) else 0
    grid = np.full(t_n, np.nan)
    # several points on one grid step: the last one counts (the others are scored like it)
    grid[pos] = vals
    res = score_panel(grid[None, :], step_seconds=step_s, direction=direction, params=params)
    kind = res.kind[0, pos]
    frame = pd.DataFrame({
        "timestamp": ts_index,
        "value": vals,
        "score": res.score[0, pos],
        "is_anomaly": res.flag[0, pos],
        "kind": np.where(kind >= 0, np.asarray(KIND_NAMES, dtype=object)[np.clip(kind, 0, None)], None),
        "expected": res.expected[0, pos],
        "lower": res.lower[0, pos],
        "upper": res.upper[0, pos],
        "status": np.asarray(STATUS_NAMES, dtype=object)[res.status[0, pos]],
    })
    return SeriesScore(frame=frame, periods=[int(q) for q in res.periods[0] if q > 0])


def with_params(**changes: object) -> ScoreParams:
    """Default parameters with some changed (for benchmarks and tests)."""
    return replace(ScoreParams(), **changes)
