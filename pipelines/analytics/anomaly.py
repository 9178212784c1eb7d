"""Anomaly detection for KPI series: robust, causal, seasonality- and direction-aware.

A time-ordered series at a regular frequency goes in (values and their dates; daily, weekly or any
other frequency); a score, an expected value with a band, a status and a flag per point come out,
and :func:`collapse_events` turns the flags into anomalies with a start, an end, a kind, a
severity and a human reason. No Dagster, no database: plain numpy/pandas, unit-tested.

Algorithm (the full description with the reasoning is in ``docs/anomaly_detection.md``)
--------------------------------------------------------------------------------------
1. **Transform.** Values are compared on ``z = asinh(y / c)``, ``c = softness × q75(|y|)`` of the
   first ``min_history`` values (fixed afterwards): about logarithmic for large values (multiplicative
   seasonality becomes additive), linear near zero. Count-like series (≥ 5 % zeros, or small
   integers) get a larger ``c`` (square-root-like); two-signed series (> 25 % negative, e.g. NPS)
   ``z = y / c``. Zeros before a series' first non-zero value are "no data yet".
2. **Expected value** of point *t*, from clean history strictly before *t*:
   ``level + weekday profile + day-of-month effect``.

   * *level*: robust location (median, one winsorised step) of the last ``level_window`` clean
     ordinary points with their profile removed;
   * *profile*: per weekday, the robust location of the last ``season_cycles`` deviations from the
     level of their time, centred on the median weekday; an adjusted working weekend day uses the
     median Monday–Friday profile;
   * *day-of-month effect*: working days among a month's last 3 calendar days (or its last 3 working
     days), days off among them, the same for quarter-end months (falling back to the month-end
     effect until learned) and a quarter-end week: the median residual of the bucket's last
     ``bucket_history`` points. A bucket's first points are learned, not judged, and the band widens
     by the uncertainty of the learned effect;
   * *holidays* (``dim_date``): level + the median offset of the last ``holiday_history`` holiday
     points, band at least as wide as their spread; fewer than ``min_holiday_history`` → not judged.
3. **Scale**: the MAD of recent one-step residuals refined by one winsorised step (a spike's
   influence stays bounded), separately for working days and days off (their volumes differ), floored
   at ``min_scale``. ``score = (z − expected) / scale``; band = ``expected ± threshold × scale``
   mapped back to the KPI's unit.

   **Count model** (ratios of integer counts given with their numerator and denominator —
   complaints / tickets, good / produced units — and series marked as counts, e.g. bugs): the score
   is instead a calibrated Poisson z-score of the *count* — the numerator, or the denominator minus
   it when the rate is mostly above ½ (the defects behind a 98 % pass rate) — against its expected
   value ``exposure × level × weekday factor × day-of-month (or holiday) factor``, every factor a
   ratio of sums over the same clean points as above (:func:`count_z`: the signed root of the Poisson
   deviance with a continuity correction, divided by √ of the over-dispersion estimated from recent
   clean points). Two complaints more than the usual three is noise; nine more is not.
4. **Flags.** ``|score| ≥ threshold`` (4) → *spike* / *dip*. A run of near-zero values whose
   probability — the zero rate at that weekday, or ``exp(−expected count)`` for counts — is below
   ``dropout_alpha`` → *dropout*. A two-sided CUSUM of
   clipped scores (for counts: plain deviance residuals) above ``cusum_h`` → *level shift*: points
   that feed an open CUSUM are held back from training; an alarm ends after ``alarm_quiet`` points
   in a row without a flag; after ``shift_accept`` flagged points, the last ``accept_run`` of them in
   a row, the alarm's points become the new level (flags stop); a return to the old level within
   ``revert_window`` points — one clear point, or a sequential likelihood-ratio test reaching
   ``revert_llr`` — restores it silently and ends the event. Count-like series outside the count
   model use ``count_threshold_factor`` × the thresholds.
5. **What trains the band**: points judged normal (and an accepted shift's points); never flagged
   points, the exclusion calendar, missing values; holidays train only the holiday history.
6. **Not enough history**: until ``min_history`` clean ordinary points exist (56 for daily series:
   eight of each weekday) the status is ``not_enough_history``: no score, no flag.
7. **Direction, impact, severity.** ``direction`` up/down; ``impact`` good/bad from the KPI's
   direction (``higher_is_better``: up is good; ``lower_is_better``: up is bad; ``target_range``:
   good inside the range; a dropout is always bad). Severity = min(level from |score|, level from
   the deviation's size — relative to the expected value, or to the target per point when given),
   one step lower for a good impact; a sustained shift is at least medium.
8. **Events.** Flags of one direction at most ``gap`` points apart, or of one CUSUM alarm, share an
   event; :func:`collapse_events` reports its start, end, peak, kind (dropout when most points are
   near zero; level shift when a CUSUM alarm ran ≥ ``shift_min_length`` points; else spike / dip)
   and a human reason.

Strict causality: a point's expected value, band, score and flag depend on earlier points only —
appending points never changes what was computed for earlier ones.

Public API: :func:`detect` (one series → :class:`DetectionResult`), :func:`detect_baseline` (the
trailing mean ± 3σ baseline, same interface), :func:`collapse_events` (→ list of :class:`Anomaly`),
:func:`detect_panel` / :func:`panel_events` (thousands of aligned series at once, vectorised over
series) and :func:`detect_frame` (a long DataFrame of many series → per-point frame and events).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from pipelines.analytics._robust import nanmad_last, nanmedian_last, robust_location, robust_scale
from pipelines.analytics.calendar import CalendarFeatures, calendar_features, freq_family

DIRECTIONS = ("higher_is_better", "lower_is_better", "target_range")
KINDS = ("spike", "dip", "level_shift", "dropout")
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("ok", "anomaly", "not_enough_history", "missing", "excluded", "holiday_no_history", "sparse")

ST_OK, ST_ANOMALY, ST_NO_HISTORY, ST_MISSING, ST_EXCLUDED, ST_HOLIDAY_NO_HISTORY, ST_SPARSE = range(7)
K_SPIKE, K_DIP, K_SHIFT, K_DROPOUT = range(4)

# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

#: Defaults that depend on the frequency family: daily, weekly, everything else.
_FREQ_DEFAULTS: dict[str, dict[str, float]] = {
    "D": dict(min_history=56, level_window=28, scale_window=112, shift_accept=7, shift_min_length=5,
              revert_window=42, gap=2, dropout_accept=28, cusum_h=8.0),
    "W": dict(min_history=8, level_window=6, scale_window=52, shift_accept=4, shift_min_length=3,
              revert_window=8, gap=1, dropout_accept=6, cusum_h=10.0),
    "other": dict(min_history=8, level_window=6, scale_window=24, shift_accept=3, shift_min_length=3,
                  revert_window=12, gap=0, dropout_accept=4, cusum_h=10.0),
}


@dataclass(frozen=True)
class DetectorParams:
    """Tuning knobs of :func:`detect`. ``None`` means "the default for the frequency"."""

    #: |robust z| at or above which a single point is an anomaly.
    threshold: float = 4.0
    #: clean ordinary points needed before anything is judged (D 56, W 8, else 8).
    min_history: int | None = None
    #: seasonal positions (D: 7 weekdays; H: 24; else 1 = none).
    season_length: int | None = None
    #: deviations from the level per seasonal position kept for the profile (26 weeks, daily).
    season_cycles: int = 26
    #: clean points the level is the robust location of (D 28, W 6).
    level_window: int | None = None
    #: residuals the scale is computed from (D 112, W 52).
    scale_window: int | None = None
    #: CUSUM reference (in scale units) and decision interval (D 8, else 10); scores are clipped to
    #: ±score_clip.
    cusum_k: float = 0.75
    cusum_h: float | None = None
    score_clip: float = 3.0
    #: flagged points of a sustained shift after which the new level is learned (D 7, W 4).
    shift_accept: int | None = None
    #: a collapsed event at least this long (in points) with a CUSUM alarm is a level shift.
    shift_min_length: int | None = None
    #: a dropout (values near zero) is accepted as the new level only after this many points.
    dropout_accept: int | None = None
    #: points after a learned shift during which a return to the old level is restored silently.
    revert_window: int | None = None
    #: after a learned shift, a return to the old level is accepted when the log likelihood ratio
    #: old vs learned level, accumulated over the points since (like a CUSUM), reaches this.
    revert_llr: float = 6.0
    #: points held back while a CUSUM is open; reaching it commits them as normal.
    pending_max: int = 48
    #: an alarm (sustained deviation) ends after this many judged points in a row without a flag.
    alarm_quiet: int = 3
    #: a shift is learned only while its last this-many points are flagged (it is still going on).
    accept_run: int = 3
    #: day-of-month buckets (daily series): the last N days of a month — calendar days
    #: (``month_end_basis="calendar"``) or working days (``"workday"``, plus a bucket for days off
    #: among the last N calendar days) — and the first M working days; quarter-end months get their
    #: own month-end buckets and a "quarter-end week" (the 4 days before them).
    month_end_days: int = 3
    month_start_days: int = 0
    quarter_end: bool = True
    month_end_basis: str = "calendar"
    bucket_history: int = 12
    min_bucket_history: int = 3
    #: holiday history kept and needed before holidays are judged.
    holiday_history: int = 40
    min_holiday_history: int = 10
    #: transform: "auto" (asinh unless the start of the series has > 25 % negative values),
    #: "asinh" or "linear"; c = softness × q75(|first values|) — ``count_softness`` for count-like
    #: series (≥ 5 % zeros, or small integers), whose low values need a square-root-like transform.
    transform: str = "auto"
    softness: float = 0.3
    count_softness: float = 0.5
    #: count-like series: threshold and cusum_h × this (their residuals' tails stay heavier).
    count_threshold_factor: float = 1.25
    #: floor of the scale in transformed units (≈ relative for large values).
    min_scale: float = 0.03
    #: a flag also needs |actual − expected| ≥ this fraction of |expected| (0 = off).
    min_relative_deviation: float = 0.0
    #: "near zero" = |value| ≤ this fraction of the expected value.
    dropout_fraction: float = 0.05
    #: a run of near-zero values is a dropout when its probability — the product of each point's
    #: zero rate at its seasonal position, (zeros + ½) / (n + 1) — is at most this.
    dropout_alpha: float = 2e-4
    #: daily series: working days and days off get their own scale (their volumes — and noise — differ)
    #: once this many residuals of the class exist; until then the pooled scale is used.
    min_class_history: int = 20
    #: the scale is the MAD, refined by one winsorised step at ±winsor MAD-σ (0 = the plain MAD):
    #: a spike's influence stays bounded, and the estimate is ~2× as efficient as the MAD alone.
    winsor: float = 2.5
    #: flags of the same direction at most this many points apart belong to one event (D 2, W 1).
    gap: int | None = None
    #: zeros before a series' first non-zero value are missing values, not history.
    trim_leading_zeros: bool = True
    #: a point whose recent level window is at least this share zeros is "sparse": not judged (an
    #: intermittent series — a few contracts a month — has no meaningful band at this frequency).
    max_zero_share: float = 0.5
    #: count model: "auto" scores ratios of integer counts (given numerator and denominator) and the
    #: series marked as counts on Poisson z-scores of the count; "off" never.
    count_model: str = "auto"
    #: the count model's over-dispersion factor (variance / Poisson variance, estimated from recent
    #: clean points) is kept within [1, this].
    count_max_dispersion: float = 25.0
    #: continuity correction of the count z-scores the CUSUM accumulates (single points use ½).
    count_cusum_correction: float = 0.0
    #: the CUSUM decision interval of count-model series is cusum_h × this.
    count_cusum_factor: float = 1.0
    #: |z| at or above which a single count is an anomaly (None: ``threshold``).
    count_model_threshold: float | None = None

    def resolved(self, freq: str) -> DetectorParams:
        fam = freq_family(freq)
        d = _FREQ_DEFAULTS.get(fam, _FREQ_DEFAULTS["other"])
        updates = {k: v for k, v in d.items() if getattr(self, k) is None}
        out = replace(self, **updates)
        if out.count_model not in ("auto", "off"):
            raise ValueError(f"params.count_model must be auto or off, got {out.count_model!r}")
        if out.transform not in ("auto", "asinh", "linear"):
            raise ValueError(f"params.transform must be auto, asinh or linear, got {out.transform!r}")
        if out.threshold <= 0 or out.cusum_h <= 0:
            raise ValueError("params.threshold and params.cusum_h must be positive")
        if out.min_history is None or out.min_history < 2:
            raise ValueError(f"params.min_history must be ≥ 2, got {out.min_history}")
        return out


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    """One anomaly: the collapsed run of flags of one ongoing event."""

    start_date: date
    end_date: date
    date: date  # the peak (largest |score|)
    actual_value: float | None
    expected_value: float | None
    lower: float | None
    upper: float | None
    score: float | None
    severity: str
    direction: str
    impact: str
    kind: str
    reason: str
    n_points: int


@dataclass
class PanelDetection:
    """Per-point detection results of S aligned series (arrays of shape (S, T))."""

    dates: pd.DatetimeIndex
    freq: str
    params: DetectorParams
    calendar: CalendarFeatures
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    status: np.ndarray  # int codes into STATUSES
    flag: np.ndarray  # bool
    kind: np.ndarray  # int codes into KINDS, -1 when not flagged
    near_zero: np.ndarray  # bool
    alarm: np.ndarray  # bool: flagged by the CUSUM (sustained deviation)
    severity: np.ndarray  # int codes into SEVERITIES, -1 when not flagged
    impact_bad: np.ndarray  # bool
    event: np.ndarray  # int event id (unique in the panel), -1 when not flagged
    directions: np.ndarray  # (S,) KPI direction per series
    labels: list[str] = field(default_factory=list)  # human name of each series (for reasons)
    units: list[str] = field(default_factory=list)
    #: event id -> time index its end is extended to (a learned shift that later reverted).
    event_end: dict[int, int] = field(default_factory=dict)


@dataclass
class DetectionResult:
    """Per-point result of one series: ``frame`` has one row per input point.

    Columns: ``date, value, expected, lower, upper, score, status, is_anomaly, kind, direction,
    impact, severity, event_id``.
    """

    frame: pd.DataFrame
    panel: PanelDetection

    @property
    def anomalies(self) -> list[Anomaly]:
        return collapse_events(self)


# ---------------------------------------------------------------------------------------------
# Buffers (ring buffers over the series axis)
# ---------------------------------------------------------------------------------------------


def _push(buf: np.ndarray, tbuf: np.ndarray | None, count: np.ndarray, rows: np.ndarray,
          vals: np.ndarray, ts: np.ndarray | None = None) -> None:
    """Append vals[i] to the ring buffer row rows[i] (buf shape (S, K))."""
    if rows.size == 0:
        return
    k = buf.shape[1]
    slot = count[rows] % k
    buf[rows, slot] = vals
    if tbuf is not None and ts is not None:
        tbuf[rows, slot] = ts
    count[rows] += 1


def _push3(buf: np.ndarray, tbuf: np.ndarray, count: np.ndarray, rows: np.ndarray, cols: np.ndarray,
           vals: np.ndarray, ts: np.ndarray) -> None:
    """Append to the ring buffer (rows[i], cols[i]) of buf shape (S, C, K)."""
    if rows.size == 0:
        return
    k = buf.shape[2]
    slot = count[rows, cols] % k
    buf[rows, cols, slot] = vals
    tbuf[rows, cols, slot] = ts
    count[rows, cols] += 1


# ---------------------------------------------------------------------------------------------
# The panel detector
# ---------------------------------------------------------------------------------------------


def _as_dates(dates: Iterable) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates) if not isinstance(dates, pd.Index) else dates))
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    idx = idx.normalize() if len(idx) else idx
    if len(idx) > 1 and not (np.diff(idx.asi8) > 0).all():
        bad = int(np.argmax(np.diff(idx.asi8) <= 0)) + 1
        raise ValueError(
            f"dates must be strictly increasing: point {bad} ({idx[bad].date()}) does not follow "
            f"{idx[bad - 1].date()}"
        )
    return idx


def _directions(direction: str | Sequence[str], s: int) -> np.ndarray:
    arr = np.asarray([direction] * s if isinstance(direction, str) else list(direction), dtype=object)
    if arr.shape != (s,):
        raise ValueError(f"direction must be one string or one per series ({s}), got {arr.shape}")
    bad = sorted({str(x) for x in arr if x not in DIRECTIONS})
    if bad:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {', '.join(bad)}")
    return arr


def _broadcast(a: np.ndarray | Sequence | float | None, shape: tuple[int, int], name: str,
               fill: float | bool) -> np.ndarray:
    if a is None:
        return np.full(shape, fill)
    arr = np.asarray(a, dtype=bool if isinstance(fill, bool) else float)
    if arr.ndim == 0:
        return np.full(shape, arr.item())
    if arr.ndim == 1 and arr.shape[0] == shape[1]:
        return np.broadcast_to(arr, shape).copy()
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (series × points) or ({shape[1]},), got {arr.shape}")
    return arr.copy()


def detect_panel(
    values: np.ndarray,
    dates: Iterable,
    *,
    freq: str = "D",
    direction: str | Sequence[str] = "higher_is_better",
    holidays: Sequence[bool] | np.ndarray | None = None,
    workdays: Sequence[bool] | np.ndarray | None = None,
    exclusions: np.ndarray | None = None,
    target: np.ndarray | float | None = None,
    target_low: np.ndarray | float | None = None,
    target_high: np.ndarray | float | None = None,
    params: DetectorParams | None = None,
    labels: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    numerator: np.ndarray | None = None,
    denominator: np.ndarray | None = None,
    counts: bool | Sequence[bool] = False,
) -> PanelDetection:
    """Detect anomalies in S series aligned on the same dates (``values`` shape (S, T); NaN = missing).

    ``holidays``/``workdays`` are per date (T,); ``exclusions`` (S, T) or (T,) marks the incident /
    exclusion calendar; ``target`` (per point, in the KPI's unit at this frequency, e.g. the month's
    target ÷ days for an additive daily KPI) makes severity speak in attainment terms;
    ``target_low``/``target_high`` give the range of ``target_range`` KPIs (impact).
    ``numerator``/``denominator`` (S, T) of a ratio KPI, and ``counts`` (one flag, or one per series:
    the values are counts, e.g. a ``count`` KPI) switch on the count model (``params.count_model``):
    such series are scored on Poisson z-scores of the count given its expected rate × exposure.
    """
    vals = np.array(values, dtype=float, copy=True)
    if vals.ndim == 1:
        vals = vals[None, :]
    if vals.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D (series × points), got {vals.ndim}-D")
    s_n, t_n = vals.shape
    idx = _as_dates(dates)
    if len(idx) != t_n:
        raise ValueError(f"values have {t_n} points but dates has {len(idx)}")
    vals[~np.isfinite(vals)] = np.nan
    p = (params or DetectorParams()).resolved(freq)
    if p.trim_leading_zeros:
        # a series starts at its first non-zero value: zeros before it (e.g. an additive KPI filled
        # with 0 for the days before its unit had any facts) are "no data yet", not history
        started = np.cumsum(np.nan_to_num(np.abs(vals)) > 0, axis=1) > 0
        vals[~started] = np.nan
    cal = calendar_features(idx, freq, holidays=holidays, workdays=workdays, season_length=p.season_length,
                            month_end_days=p.month_end_days, month_start_days=p.month_start_days,
                            quarter_end=p.quarter_end, month_end_basis=p.month_end_basis)
    dirs = _directions(direction, s_n)
    excl = _broadcast(exclusions, (s_n, t_n), "exclusions", False).astype(bool)
    tgt = _broadcast(target, (s_n, t_n), "target", np.nan)
    t_lo = _broadcast(target_low, (s_n, t_n), "target_low", np.nan)
    t_hi = _broadcast(target_high, (s_n, t_n), "target_high", np.nan)

    num = None if numerator is None else _broadcast(numerator, (s_n, t_n), "numerator", np.nan)
    den = None if denominator is None else _broadcast(denominator, (s_n, t_n), "denominator", np.nan)
    flags = np.asarray([counts] * s_n if isinstance(counts, bool | np.bool_) else list(counts), dtype=bool)
    if flags.shape != (s_n,):
        raise ValueError(f"counts must be one flag or one per series ({s_n}), got {flags.shape}")
    cin = count_input(vals, num, den, flags, p.count_model)
    out = _run(vals, cal, p, excl, cin)
    expected, lower, upper, score, status, flag, near_zero, alarm, events, event_end = out

    # ---- kinds, impact, severity (vectorised after the causal loop) ----------------------------
    up = score > 0
    kind = np.full((s_n, t_n), -1, dtype=np.int8)
    kind[flag & up] = K_SPIKE
    kind[flag & ~up] = K_DIP
    kind[flag & alarm] = K_SHIFT
    kind[flag & near_zero] = K_DROPOUT
    impact_bad = _impact_bad(dirs, up, vals, t_lo, t_hi, kind)
    severity = _severity(score, vals, expected, tgt, impact_bad, alarm, flag)
    return PanelDetection(
        dates=idx, freq=freq, params=p, calendar=cal, values=vals, expected=expected, lower=lower,
        upper=upper, score=score, status=status, flag=flag, kind=kind, near_zero=near_zero, alarm=alarm,
        severity=severity, impact_bad=impact_bad, event=events, directions=dirs,
        labels=list(labels) if labels is not None else ["value"] * s_n,
        units=list(units) if units is not None else [""] * s_n,
        event_end=event_end,
    )


def _impact_bad(dirs: np.ndarray, up: np.ndarray, vals: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray,
                kind: np.ndarray) -> np.ndarray:
    hib = (dirs == "higher_is_better")[:, None]
    lib = (dirs == "lower_is_better")[:, None]
    rng = (dirs == "target_range")[:, None]
    has_range = np.isfinite(t_lo) | np.isfinite(t_hi)
    inside = (np.isnan(t_lo) | (vals >= t_lo)) & (np.isnan(t_hi) | (vals <= t_hi))
    bad = np.where(hib, ~up, np.where(lib, up, np.where(rng & has_range, ~inside, True)))
    return bad | (kind == K_DROPOUT)


def _level(x: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    out = np.zeros(x.shape, dtype=np.int8)
    for c in cuts:
        out += (x >= c).astype(np.int8)
    return out


#: |score| cut-offs for medium / high / critical (a flagged point is at least "low").
SCORE_CUTS = (6.0, 10.0, 20.0)
#: |deviation| / |expected| cut-offs for medium / high / critical.
RELATIVE_CUTS = (0.25, 0.5, 1.0)
#: |deviation| / |target per point| cut-offs (attainment terms) for medium / high / critical.
TARGET_CUTS = (0.15, 0.35, 0.7)


def _severity(score: np.ndarray, vals: np.ndarray, expected: np.ndarray, tgt: np.ndarray,
              impact_bad: np.ndarray, alarm: np.ndarray, flag: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(vals - expected)
        rel = dev / np.maximum(np.abs(expected), 1e-12)
        rel = np.where(np.isnan(vals), 1.0, rel)  # a missing value is a full deviation
        s_lvl = _level(np.abs(np.nan_to_num(score, nan=0.0)), SCORE_CUTS)
        s_lvl = np.where(alarm, np.maximum(s_lvl, 1), s_lvl)  # a sustained shift is at least medium
        size = _level(rel, RELATIVE_CUTS)
        t_rel = dev / np.abs(tgt)
        size = np.where(np.isfinite(t_rel), np.maximum(size, _level(t_rel, TARGET_CUTS)), size)
    sev = np.minimum(s_lvl, size)
    sev = np.where(impact_bad, sev, np.maximum(sev - 1, 0))
    return np.where(flag, sev, -1).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# The count model
# ---------------------------------------------------------------------------------------------


def count_z(x: np.ndarray, mu: np.ndarray, correction: float = 0.5) -> np.ndarray:
    """Calibrated z-score of a count ``x`` against a Poisson mean ``mu``: the signed root of the
    Poisson deviance, with a continuity correction of ½ towards ``mu``. Within ≈ 0.2 of the exact
    (conservative) tail's normal quantile for ``mu`` ≥ 0.5 — a count of 12 where 2.5 are expected
    scores 4.1 (P(X ≥ 12) = 1.3·10⁻⁵), where a Gaussian z would say 6.0. ``correction=0`` gives the
    plain deviance residual (mean ≈ 0, variance ≈ 1: what the CUSUM accumulates)."""
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


def _count_factor(x: np.ndarray, e: np.ndarray, cut: float = 4.0) -> np.ndarray:
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


def _count_profile(px: np.ndarray, pe: np.ndarray, n_pos: int, weekday_cols: np.ndarray) -> np.ndarray:
    """(S, n_pos + 2) multiplicative seasonal factors of the count model: per position the ratio
    of its counts to their expected counts at the level of their time (shrunk to 1 by half an event),
    centred on the median position; column n_pos = the median working-day factor (adjusted working
    days), n_pos + 1 = 1 (pseudo points)."""
    s_n = px.shape[0]
    if n_pos == 1:
        return np.ones((s_n, 3))
    num = np.nansum(px, axis=2)
    den = np.nansum(pe, axis=2)
    raw = np.where(den > 0, (num + 0.5) / (den + 0.5), np.nan)
    ref = nanmedian_last(raw)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = raw / ref[:, None]
    prof = np.where(np.isfinite(prof) & (prof > 0), prof, 1.0)
    extra = nanmedian_last(prof[:, weekday_cols])
    return np.concatenate([prof, extra[:, None], np.ones((s_n, 1))], axis=1)


def _run(vals: np.ndarray, cal: CalendarFeatures, p: DetectorParams, excl: np.ndarray,  # noqa: C901
         cin: CountInput | None = None):
    """The causal loop over time, vectorised over series. Returns per-point arrays."""
    s_n, t_n = vals.shape
    if cin is None:
        cin = CountInput.none(s_n, t_n)
    is_cnt = cin.is_count
    any_cnt = bool(is_cnt.any())
    CX, CN = cin.x, cin.n
    n_pos = cal.season_length
    n_buckets = int(cal.bucket.max()) if t_n else 0
    valid = ~np.isnan(vals)

    # ---- transform, fixed from the first min_history values --------------------------------
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
    # count-like series (zeros, or small integers) get a softer, square-root-like transform
    countlike = (zero_share >= 0.05) | small_int
    soft = np.where(countlike, p.count_softness, p.softness)
    # discrete, zero-inflated residuals have heavier tails than the transform can remove
    thr = np.where(countlike, p.threshold * p.count_threshold_factor, p.threshold)
    cus_h = np.where(countlike, p.cusum_h * p.count_threshold_factor, p.cusum_h)
    # count-model series are scored on calibrated Poisson z-scores: no extra margin
    thr = np.where(is_cnt, p.count_model_threshold if p.count_model_threshold else p.threshold, thr)
    cus_h = np.where(is_cnt, p.cusum_h * p.count_cusum_factor, cus_h)
    c = soft * q75
    c = np.where(np.isfinite(c) & (c > 0), c, soft * amax)
    c = np.where(np.isfinite(c) & (c > 0), c, 1.0)
    if p.transform == "linear":
        linear = np.ones(s_n, dtype=bool)
    elif p.transform == "asinh":
        linear = np.zeros(s_n, dtype=bool)
    else:
        linear = neg > 0.25  # genuinely two-signed KPIs (e.g. NPS); a few negative days are not
    with np.errstate(invalid="ignore"):
        z_all = np.where(linear[:, None], vals / c[:, None], np.arcsinh(vals / c[:, None]))

    def ginv(zz: np.ndarray) -> np.ndarray:
        """Back to the KPI's unit (rows = series; works on (S,) and (S, k))."""
        lin = linear if zz.ndim == 1 else linear[:, None]
        cc = c if zz.ndim == 1 else c[:, None]
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(lin, zz * cc, np.sinh(np.clip(zz, -700, 700)) * cc)

    # ---- state --------------------------------------------------------------------------------
    K = p.season_cycles
    Wz = np.full((s_n, n_pos, K), np.nan)  # per seasonal position: clean values − level at the time
    Wt = np.full((s_n, n_pos, K), -1, dtype=np.int64)
    Wn = np.zeros((s_n, n_pos), dtype=np.int64)
    mcache = np.full((s_n, n_pos), np.nan)  # their robust locations
    Zraw = np.full((s_n, n_pos + 1, K), np.nan)  # raw clean values per position (zero rates)
    Zrt = np.full((s_n, n_pos + 1, K), -1, dtype=np.int64)
    Zrn = np.zeros((s_n, n_pos + 1), dtype=np.int64)
    NL = p.level_window
    Lz = np.full((s_n, NL), np.nan)  # clean ordinary values for the level
    Lpos = np.zeros((s_n, NL), dtype=np.int64)
    Lt = np.full((s_n, NL), -1, dtype=np.int64)
    Ln = np.zeros(s_n, dtype=np.int64)
    Hz = np.full((s_n, p.holiday_history), np.nan)  # holiday offsets from the level
    Hn = np.zeros(s_n, dtype=np.int64)
    Br = np.full((s_n, n_buckets + 1, p.bucket_history), np.nan)  # day-of-month residuals
    Bt = np.full((s_n, n_buckets + 1, p.bucket_history), -1, dtype=np.int64)
    Bn = np.zeros((s_n, n_buckets + 1), dtype=np.int64)
    Sr = np.full((s_n, p.scale_window), np.nan)  # one-step residuals (all positions)
    Sn = np.zeros(s_n, dtype=np.int64)
    # residuals per day class (daily series: working days / days off)
    Cw = np.full((s_n, p.scale_window), np.nan)
    Cwn = np.zeros(s_n, dtype=np.int64)
    Co = np.full((s_n, p.scale_window), np.nan)
    Con = np.zeros(s_n, dtype=np.int64)

    # count model (aligned with the buffers above, slot for slot): counts and their exposure /
    # expected counts, so that rates are ratios of sums (the Poisson MLE), not medians of rates
    LCx = np.full((s_n, NL), np.nan)  # level: count, exposure
    LCn = np.full((s_n, NL), np.nan)
    PCx = np.full((s_n, n_pos, K), np.nan)  # weekday profile: count, exposure × level at the time
    PCe = np.full((s_n, n_pos, K), np.nan)
    BCx = np.full((s_n, n_buckets + 1, p.bucket_history), np.nan)  # day-of-month: count, expected
    BCe = np.full((s_n, n_buckets + 1, p.bucket_history), np.nan)
    HCx = np.full((s_n, p.holiday_history), np.nan)  # holidays: count, exposure × level
    HCe = np.full((s_n, p.holiday_history), np.nan)
    Zc = np.full((s_n, p.scale_window), np.nan)  # count z-scores of clean points (over-dispersion)
    Zcn = np.zeros(s_n, dtype=np.int64)
    rev_q = np.full(s_n, np.nan)

    def day_off(pos: np.ndarray) -> np.ndarray:
        return (pos == 5) | (pos == 6) if n_pos == 7 else np.zeros(pos.shape, dtype=bool)
    n_clean = np.zeros(s_n, dtype=np.int64)
    cus_up = np.zeros(s_n)
    cus_dn = np.zeros(s_n)
    cus_start = np.full(s_n, -1, dtype=np.int64)
    Q = p.pending_max
    Qz = np.full((s_n, Q), np.nan)
    Qpos = np.zeros((s_n, Q), dtype=np.int64)
    Qt = np.zeros((s_n, Q), dtype=np.int64)
    Qr = np.full((s_n, Q), np.nan)
    Qr0 = np.full((s_n, Q), np.nan)
    Qb = np.zeros((s_n, Q), dtype=np.int64)
    Ql = np.full((s_n, Q), np.nan)
    Qflag = np.zeros((s_n, Q), dtype=bool)
    Qcx = np.full((s_n, Q), np.nan)
    Qcn = np.full((s_n, Q), np.nan)
    Qcl = np.full((s_n, Q), np.nan)
    Qcm = np.full((s_n, Q), np.nan)
    Qcz = np.full((s_n, Q), np.nan)
    Qn = np.zeros(s_n, dtype=np.int64)
    alarm_sign = np.zeros(s_n, dtype=np.int64)
    alarm_len = np.zeros(s_n, dtype=np.int64)
    alarm_nz = np.zeros(s_n, dtype=np.int64)
    alarm_quiet = np.zeros(s_n, dtype=np.int64)  # judged points since the alarm's last flag
    alarm_run = np.zeros(s_n, dtype=np.int64)  # consecutive flags of the alarm up to now
    regime_start = np.zeros(s_n, dtype=np.int64)
    rev_until = np.full(s_n, -1, dtype=np.int64)
    rev_level = np.full(s_n, np.nan)
    rev_llr = np.zeros(s_n)  # evidence for a return to the old level (log likelihood ratio)
    rev_start = np.zeros(s_n, dtype=np.int64)
    rev_prev = np.zeros(s_n, dtype=np.int64)
    rev_sign = np.zeros(s_n, dtype=np.int64)
    rev_event = np.full(s_n, -1, dtype=np.int64)
    cur_event = np.full(s_n, -1, dtype=np.int64)
    alarm_event = np.full(s_n, -1, dtype=np.int64)
    cur_sign = np.zeros(s_n, dtype=np.int64)
    cur_event_t0 = np.full(s_n, -1, dtype=np.int64)  # first point of the current event
    alarm_t0 = np.full(s_n, -1, dtype=np.int64)  # first point of the alarm's event
    last_flag = np.full(s_n, -(10**9), dtype=np.int64)
    zero_run_p = np.ones(s_n)  # probability of the current run of near-zero values
    next_event = 0
    event_end: dict[int, int] = {}

    expected = np.full((s_n, t_n), np.nan)
    lower = np.full((s_n, t_n), np.nan)
    upper = np.full((s_n, t_n), np.nan)
    score_out = np.full((s_n, t_n), np.nan)
    status = np.full((s_n, t_n), ST_MISSING, dtype=np.int8)
    flag_out = np.zeros((s_n, t_n), dtype=bool)
    nz_out = np.zeros((s_n, t_n), dtype=bool)
    alarm_out = np.zeros((s_n, t_n), dtype=bool)
    ev_out = np.full((s_n, t_n), -1, dtype=np.int64)

    weekday_cols = np.arange(min(5, n_pos))

    def profile() -> np.ndarray:
        """(S, n_pos + 2): position effects; column n_pos = the median working-day profile (adjusted
        working days), column n_pos + 1 = 0 (pseudo points that carry a level)."""
        if n_pos == 1:
            return np.zeros((s_n, 3))
        ref = nanmedian_last(mcache)  # the profile is centred on the median position
        prof = mcache - ref[:, None]
        prof = np.where(np.isnan(prof), 0.0, prof)
        extra = nanmedian_last(prof[:, weekday_cols])
        return np.concatenate([prof, extra[:, None], np.zeros((s_n, 1))], axis=1)

    dirty = np.zeros((s_n, n_pos), dtype=bool)  # profile cells to recompute before the next step

    def refresh_dirty() -> None:
        rows, cols = np.nonzero(dirty)
        if rows.size:
            mcache[rows, cols] = robust_location(Wz[rows, cols, :], p.winsor)
            dirty[rows, cols] = False

    def commit(rows: np.ndarray, z: np.ndarray, pos: np.ndarray, t_idx: np.ndarray, r: np.ndarray,
               r0: np.ndarray, b: np.ndarray, lev: np.ndarray, cx: np.ndarray, cn: np.ndarray,
               clev: np.ndarray, cmu: np.ndarray, cz: np.ndarray, new_level: bool = False) -> None:
        """Training data. An ordinary point feeds the level and (as its deviation from the level
        of its time, ``lev``) the profile; a day-of-month point its bucket; every point the scale.
        Points of a newly learned level (``new_level``) feed the level only: everything else was
        measured against the old level."""
        if rows.size == 0:
            return
        ordinary = b == 0
        ro = rows[ordinary]
        if ro.size:
            slot = Ln[ro] % NL
            LCx[ro, slot] = cx[ordinary]
            LCn[ro, slot] = cn[ordinary]
            _push(Lz, Lt, Ln, ro, z[ordinary], t_idx[ordinary])
            Lpos[ro, (Ln[ro] - 1) % NL] = pos[ordinary]
            n_clean[ro] += 1
        if new_level:
            return
        if ro.size:
            dev = z[ordinary] - lev[ordinary]
            regular = (pos[ordinary] < n_pos) & np.isfinite(dev)
            rr, cc = ro[regular], pos[ordinary][regular]
            slot = Wn[rr, cc] % K
            cl = (cn * clev)[ordinary][regular]
            PCx[rr, cc, slot] = np.where(np.isfinite(cl), cx[ordinary][regular], np.nan)
            PCe[rr, cc, slot] = cl
            _push3(Wz, Wt, Wn, rr, cc, dev[regular], t_idx[ordinary][regular])
            dirty[rr, cc] = True
        rb = rows[~ordinary]
        if rb.size:
            ok = np.isfinite(r0[~ordinary])
            bb = b[~ordinary][ok]
            slot = Bn[rb[ok], bb] % Br.shape[2]
            cm = cmu[~ordinary][ok]
            BCx[rb[ok], bb, slot] = np.where(np.isfinite(cm), cx[~ordinary][ok], np.nan)
            BCe[rb[ok], bb, slot] = cm
            _push3(Br, Bt, Bn, rb[ok], bb, r0[~ordinary][ok], t_idx[~ordinary][ok])
        okc = np.isfinite(cz)
        _push(Zc, None, Zcn, rows[okc], cz[okc])
        ok = np.isfinite(r)
        _push(Sr, None, Sn, rows[ok], r[ok])
        off = day_off(pos)
        _push(Co, None, Con, rows[ok & off], r[ok & off])
        _push(Cw, None, Cwn, rows[ok & ~off], r[ok & ~off])

    def commit_queue(rows: np.ndarray, new_level: bool = False) -> None:
        """Commit the held-back points that were not flagged (all of them for a new level)."""
        if rows.size == 0:
            return
        for j in range(int(Qn[rows].max())):
            sel = rows[Qn[rows] > j]
            sel = sel[~Qflag[sel, j]]
            commit(sel, Qz[sel, j], Qpos[sel, j], Qt[sel, j], Qr[sel, j], Qr0[sel, j], Qb[sel, j],
                   Ql[sel, j], Qcx[sel, j], Qcn[sel, j], Qcl[sel, j], Qcm[sel, j], Qcz[sel, j],
                   new_level=new_level)
        Qn[rows] = 0

    pos_arr, hol_arr, bkt_arr = cal.position, cal.is_holiday, cal.bucket
    for t in range(t_n):
        pos_t = int(pos_arr[t])
        hol_t = bool(hol_arr[t])
        b_t = int(bkt_arr[t]) if not hol_t else 0
        y = vals[:, t]
        v = valid[:, t]
        z = z_all[:, t]
        ex = excl[:, t]

        refresh_dirty()
        prof = profile()
        # level: robust location of the deseasonalised clean ordinary points of the current regime
        lmask = (Lt >= 0) & (Lt >= regime_start[:, None])
        lvals = np.where(lmask, Lz - np.take_along_axis(prof, Lpos, axis=1), np.nan)
        level = robust_location(lvals, p.winsor)
        p_t = prof[:, pos_t]
        e_base = level + p_t
        if b_t > 0:
            d = nanmedian_last(Br[:, b_t, :])
            n_b = np.minimum(Bn[:, b_t], Br.shape[2]).astype(float)
            d = np.where((n_b >= p.min_bucket_history) & np.isfinite(d), d, np.nan)
            fb = int(cal.bucket_fallback[b_t]) if b_t < len(cal.bucket_fallback) else 0
            fb_used, fb_bucket = None, fb
            if fb > 0:  # e.g. a quarter-end without history yet: the ordinary month-end effect
                d_fb = nanmedian_last(Br[:, fb, :])
                n_fb = np.minimum(Bn[:, fb], Br.shape[2]).astype(float)
                use_fb = np.isnan(d) & (n_fb >= p.min_bucket_history)
                fb_used = use_fb
                d = np.where(use_fb, d_fb, d)
                n_b = np.where(use_fb, n_fb, n_b)
            bucket_known = np.isfinite(d)
            d = np.where(bucket_known, d, 0.0)
            # the effect is a median of n points: its error widens the band (var ≈ π/2 · σ² / n)
            bucket_inflation = np.sqrt(1.0 + (np.pi / 2) / np.maximum(n_b, 1.0))
        else:
            d = np.zeros(s_n)
            bucket_known = np.ones(s_n, dtype=bool)
            bucket_inflation = np.ones(s_n)
            fb_used, fb_bucket = None, 0
        # scale: robust scale of the recent one-step residuals of this day class (pooled until the
        # class has enough of them)
        sbuf = Sr
        if n_pos == 7:
            off_t = pos_t in (5, 6)
            cbuf, ccount = (Co, Con) if off_t else (Cw, Cwn)
            use = (ccount >= p.min_class_history)[:, None]
            sbuf = np.where(use, cbuf, Sr)
        sc = robust_scale(sbuf, p.winsor)
        sc = np.where(np.isfinite(sc), np.maximum(sc, p.min_scale), np.nan) * bucket_inflation
        enough = (n_clean >= p.min_history) & np.isfinite(e_base) & np.isfinite(sc)
        # ---- count model: expected count = exposure × level × weekday factor × day effect -------
        x_t, n_t = CX[:, t], CN[:, t]
        if any_cnt:
            sfull = _count_profile(PCx, PCe, n_pos, weekday_cols)
            lw = (Lt >= 0) & (Lt >= regime_start[:, None]) & np.isfinite(LCx) & np.isfinite(LCn)
            sl = np.take_along_axis(sfull, Lpos, axis=1)
            q_num = np.sum(np.where(lw, LCx, 0.0), axis=1)
            q_den = np.sum(np.where(lw, LCn * sl, 0.0), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                # at least half an event over the window: an all-zero history is not a zero rate
                cq = np.where(q_den > 0, np.maximum(q_num, 0.5) / q_den, np.nan)
            c_base = n_t * cq * sfull[:, pos_t]
            if hol_t:
                c_fac = _count_factor(HCx, HCe)
            elif b_t > 0:
                c_fac = _count_factor(BCx[:, b_t, :], BCe[:, b_t, :])
                if fb_used is not None:
                    c_fac = np.where(fb_used, _count_factor(BCx[:, fb_bucket, :], BCe[:, fb_bucket, :]), c_fac)
            else:
                c_fac = np.ones(s_n)
            c_mu = c_base * c_fac
            phi = np.where(Zcn >= p.min_class_history, robust_scale(Zc, p.winsor) ** 2, 1.0)
            phi = np.clip(np.nan_to_num(phi, nan=1.0), 1.0, p.count_max_dispersion) * bucket_inflation**2
            # a flipped count (defects behind a pass rate) moves against the value: the score follows
            # the value (a pass-rate drop is a dip)
            c_sign = np.where(cin.flip, -1.0, 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                c_z = c_sign * count_z(x_t, c_mu) / np.sqrt(phi)
                c_zs = c_sign * count_z(x_t, c_mu, correction=p.count_cusum_correction) / np.sqrt(phi)
            enough = np.where(is_cnt, enough & np.isfinite(c_mu) & (c_mu > 0), enough)
        else:
            cq = c_base = c_mu = c_z = c_zs = np.full(s_n, np.nan)
            c_sign = np.ones(s_n)
            phi = np.ones(s_n)
        # intermittent series (most recent values zero: a few contracts a month at team level) have
        # no meaningful daily band — their weekly series is the one to watch
        with np.errstate(invalid="ignore"):
            lz = np.where(Lt >= 0, Lz, np.nan)
            n_lz = np.sum(~np.isnan(lz), axis=1)
            sparse = (np.sum(np.abs(lz) < 1e-12, axis=1) >= p.max_zero_share * np.maximum(n_lz, 1)) & (n_lz > 0)
        sparse &= enough
        if hol_t:
            h_med, h_sc = nanmad_last(Hz)
            e = level + h_med
            sc = np.fmax(sc, h_sc)
            hol_ok = Hn >= p.min_holiday_history
        else:
            e = e_base + d
            hol_ok = np.ones(s_n, dtype=bool)
        if not hol_t and b_t > 0:
            # a day-of-month effect is learned from its first points, which are not judged (they
            # cannot be: a month-end push would look like a spike until it is known)
            # (not while an alarm is on: the effect would learn the anomaly)
            learn = v & ~ex & enough & ~bucket_known & np.isfinite(z - e_base) & (alarm_sign == 0)
            lr = np.nonzero(learn)[0]
            slot = Bn[lr, b_t] % Br.shape[2]
            BCx[lr, b_t, slot] = np.where(np.isfinite(c_base[lr]), x_t[lr], np.nan)
            BCe[lr, b_t, slot] = c_base[lr]
            _push3(Br, Bt, Bn, lr, np.full(lr.size, b_t), (z - e_base)[lr], np.full(lr.size, t))
            enough = enough & bucket_known
        judged = v & enough & hol_ok & ~ex & ~sparse
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (z - e) / sc
        score = np.where(is_cnt, c_z, score)

        # ---- return to the level before a learned shift: restore it silently ----------------
        if not hol_t:
            rv = judged & (rev_until >= t)
            if rv.any():
                e_old = rev_level + p_t + d
                with np.errstate(invalid="ignore", divide="ignore"):
                    s_old = (z - e_old) / sc
                    if any_cnt:
                        mu_old = n_t * rev_q * sfull[:, pos_t] * c_fac
                        s_old = np.where(is_cnt, c_sign * count_z(x_t, mu_old) / np.sqrt(phi), s_old)
                # back: far from the learned level, towards the old one, and much closer to it (a
                # high count's z-scores are sharp: "within 1.5" alone would miss a clear return) —
                # or, for a return that is small against the noise, a sequential test: the log
                # likelihood ratio old level vs learned level, accumulated like a CUSUM
                with np.errstate(invalid="ignore"):
                    inc = np.clip((score * score - s_old * s_old) / 2.0, -p.score_clip**2 / 2, p.score_clip**2 / 2)
                rev_llr[:] = np.where(rv, np.maximum(0.0, rev_llr + np.nan_to_num(inc)), rev_llr)
                point = (np.abs(score) >= 3.0) & ((np.abs(s_old) < 1.5) | (np.abs(s_old) < 0.25 * np.abs(score)))
                back = rv & (np.sign(score) == -rev_sign) & (point | (rev_llr >= p.revert_llr))
                rb = np.nonzero(back)[0]
                if rb.size:
                    kill = Lt[rb] >= rev_start[rb, None]
                    Lt[rb] = np.where(kill, -1, Lt[rb])
                    Lz[rb] = np.where(kill, np.nan, Lz[rb])
                    regime_start[rb] = rev_prev[rb]
                    typical_n = nanmedian_last(np.where(Lt[rb] >= 0, LCn[rb], np.nan))
                    for _ in range(3):  # the old level, as pseudo points, until real ones arrive
                        slot = Ln[rb] % NL
                        LCx[rb, slot] = rev_q[rb] * typical_n
                        LCn[rb, slot] = typical_n
                        _push(Lz, Lt, Ln, rb, rev_level[rb], np.full(rb.size, max(t - 1, 0)))
                        Lpos[rb, (Ln[rb] - 1) % NL] = n_pos + 1
                    for s_i in rb:
                        if rev_event[s_i] >= 0:
                            event_end[int(rev_event[s_i])] = t - 1
                    rev_until[rb] = -1
                    e[rb] = e_old[rb]
                    score[rb] = s_old[rb]
                    if any_cnt:
                        c_mu[rb] = mu_old[rb]
                        cq[rb] = rev_q[rb]
                        c_base[rb] = (n_t * rev_q * sfull[:, pos_t])[rb]
                    cus_up[rb] = 0.0
                    cus_dn[rb] = 0.0
                    Qn[rb] = 0
                    alarm_sign[rb] = 0

        exp_y = ginv(e)
        lo_y, hi_y = ginv(e - thr * sc), ginv(e + thr * sc)
        if any_cnt:
            c_lo = count_quantile(c_mu, -thr, phi)
            c_hi = count_quantile(c_mu, thr, phi)
            ce, clo, chi = cin.to_value(c_mu, c_lo, c_hi, n_t)
            exp_y = np.where(is_cnt, ce, exp_y)
            lo_y = np.where(is_cnt, clo, lo_y)
            hi_y = np.where(is_cnt, chi, hi_y)
        known = enough & hol_ok
        expected[:, t] = np.where(known, exp_y, np.nan)
        lower[:, t] = np.where(known, lo_y, np.nan)
        upper[:, t] = np.where(known, hi_y, np.nan)
        score_out[:, t] = np.where(v & known & ~sparse, score, np.nan)

        # ---- dropout: a run of near-zero values that the history makes improbable ------------
        with np.errstate(invalid="ignore"):
            near_zero = v & (exp_y > 0) & (np.abs(y) <= p.dropout_fraction * np.abs(exp_y))
            hist = Zraw[:, min(pos_t, n_pos), :]  # this position's recent clean values
            n_h = np.sum(~np.isnan(hist), axis=1)
            zeros_h = np.sum(ginv(hist) <= p.dropout_fraction * exp_y[:, None], axis=1)
            p0 = (zeros_h + 0.5) / (n_h + 1.0)
            if any_cnt:
                # a count series: the Poisson chance of a zero (or more often, if zeros were seen)
                p0_model = np.maximum(np.exp(-c_mu / phi), zeros_h / np.maximum(n_h, 1))
                p0 = np.where(is_cnt & ~cin.flip & np.isfinite(c_mu), p0_model, p0)
            rel = np.abs(y - exp_y) / np.maximum(np.abs(exp_y), 1e-12)
        if hol_t:  # a holiday's zeros say nothing about the feed: no dropout rule, the run waits
            dropout = np.zeros(s_n, dtype=bool)
        else:
            nz_judged = judged & near_zero & (n_h >= 4)
            zero_run_p = np.where(nz_judged, zero_run_p * p0, np.where(judged, 1.0, zero_run_p))
            dropout = nz_judged & (zero_run_p <= p.dropout_alpha) & (score < 0)
        near_zero = near_zero & (p0 <= 0.1)  # "near zero" in the sense of a dropout (kind)
        big = judged & (np.abs(score) >= thr) & (rel >= p.min_relative_deviation)
        if hol_t:
            # holidays: judged against holiday history only; they never feed the CUSUM
            flag = big | dropout
            h_rows = np.nonzero(v & ~ex & ~flag & np.isfinite(level))[0]
            slot = Hn[h_rows] % Hz.shape[1]
            he = (n_t * cq)[h_rows]
            HCx[h_rows, slot] = np.where(np.isfinite(he), x_t[h_rows], np.nan)
            HCe[h_rows, slot] = he
            _push(Hz, None, Hn, h_rows, z[h_rows] - level[h_rows])
            next_event = _record_flags(t, flag, np.sign(np.nan_to_num(score)).astype(np.int64), near_zero,
                                       flag_out, nz_out, ev_out, cur_event, cur_sign, last_flag, p.gap,
                                       np.full(s_n, -1, dtype=np.int64), next_event, cur_event_t0)
            status[:, t] = np.select(
                [~v, ex, ~enough, ~hol_ok, sparse, flag], [ST_MISSING, ST_EXCLUDED, ST_NO_HISTORY,
                                                           ST_HOLIDAY_NO_HISTORY, ST_SPARSE, ST_ANOMALY], ST_OK)
            continue

        # ---- CUSUM of clipped scores (sustained deviations) -------------------------------------
        # count series accumulate the plain deviance residual: the continuity correction that keeps
        # single-point flags honest would hide a sustained drop in a low count (0 or 1 complaint a
        # day where 3 are expected)
        cs_in = np.where(is_cnt, c_zs, score) if any_cnt else score
        cs = np.clip(np.nan_to_num(cs_in, nan=0.0), -p.score_clip, p.score_clip)
        up_new = np.where(judged, np.maximum(0.0, cus_up + cs - p.cusum_k), cus_up)
        dn_new = np.where(judged, np.maximum(0.0, cus_dn - cs - p.cusum_k), cus_dn)
        opened = judged & (cus_up == 0) & (cus_dn == 0) & ((up_new > 0) | (dn_new > 0))
        cus_start[opened] = t
        cus_up, cus_dn = up_new, dn_new
        new_alarm = judged & (alarm_sign == 0) & ((cus_up >= cus_h) | (cus_dn >= cus_h))
        alarm_sign[new_alarm] = np.where(cus_up[new_alarm] >= cus_dn[new_alarm], 1, -1)
        alarm_len[new_alarm] = 0
        alarm_quiet[new_alarm] = 0
        alarm_nz[new_alarm] = 0
        in_alarm = judged & (alarm_sign != 0)
        side = np.where(alarm_sign > 0, cus_up, cus_dn)
        alarm_flag = in_alarm & (side > 0) & (cs * alarm_sign > p.cusum_k) & (rel >= p.min_relative_deviation)
        alarm_quiet[:] = np.where(in_alarm, np.where(alarm_flag, 0, alarm_quiet + 1), alarm_quiet)
        alarm_run[:] = np.where(alarm_flag, alarm_run + 1, 0)
        alarm_len[alarm_flag] += 1
        alarm_nz[alarm_flag & near_zero] += 1

        flag = big | dropout | alarm_flag
        # the zero-rate history learns every judged value now (not when a CUSUM closes), except
        # values flagged on their own: otherwise held-back zeros would make zeros look rarer
        zr = np.nonzero(v & ~ex & ~big & ~dropout)[0]
        _push3(Zraw, Zrt, Zrn, zr, np.full(zr.size, min(pos_t, n_pos)), z[zr], np.full(zr.size, t))
        sign = np.sign(np.nan_to_num(score)).astype(np.int64)
        forced = np.where(alarm_flag & ~new_alarm, alarm_event, -1)
        next_event = _record_flags(t, flag, sign, near_zero, flag_out, nz_out, ev_out, cur_event, cur_sign,
                                   last_flag, p.gap, forced, next_event, cur_event_t0)
        alarm_event[new_alarm & flag] = ev_out[new_alarm & flag, t]
        alarm_t0[new_alarm & flag] = cur_event_t0[new_alarm & flag]
        alarm_event[new_alarm & ~flag] = -1
        alarm_t0[new_alarm & ~flag] = -1
        late = alarm_flag & (alarm_event < 0)  # an alarm without an event takes its first flag's
        alarm_event[late] = ev_out[late, t]
        alarm_t0[late] = cur_event_t0[late]
        alarm_out[:, t] = alarm_flag
        status[:, t] = np.select([~v, ex, ~enough, sparse, flag], [ST_MISSING, ST_EXCLUDED, ST_NO_HISTORY,
                                                                    ST_SPARSE, ST_ANOMALY], ST_OK)

        # ---- training ----------------------------------------------------------------------------
        r = z - e
        r0 = z - e_base
        pos_vec = np.full(s_n, pos_t, dtype=np.int64)
        b_vec = np.full(s_n, b_t, dtype=np.int64)
        t_vec = np.full(s_n, t, dtype=np.int64)
        rw = np.nonzero(v & ~ex & (~enough | sparse))[0]  # warm-up / sparse: commit straight away
        cz_t = np.where(judged, c_z, np.nan)
        commit(rw, z[rw], pos_vec[rw], t_vec[rw], r[rw], r0[rw], b_vec[rw], level[rw], x_t[rw], n_t[rw], cq[rw],
               c_base[rw], cz_t[rw])
        open_cusum = (cus_up > 0) | (cus_dn > 0) | (alarm_sign != 0)
        rd = np.nonzero(judged & ~flag & ~open_cusum)[0]
        commit(rd, z[rd], pos_vec[rd], t_vec[rd], r[rd], r0[rd], b_vec[rd], level[rd], x_t[rd], n_t[rd], cq[rd],
               c_base[rd], cz_t[rd])
        # hold back every judged point while a CUSUM is open
        hold = np.nonzero(judged & open_cusum)[0]
        if hold.size:
            full = hold[Qn[hold] >= Q]
            if full.size:  # an inconclusive drift that lasted too long: accept what was normal
                commit_queue(full)
                cus_up[full] = 0.0
                cus_dn[full] = 0.0
                alarm_sign[full] = 0
            j = Qn[hold]
            Qz[hold, j], Qpos[hold, j], Qt[hold, j] = z[hold], pos_t, t
            Qr[hold, j], Qr0[hold, j], Qb[hold, j], Ql[hold, j] = r[hold], r0[hold], b_t, level[hold]
            Qcx[hold, j], Qcn[hold, j], Qcl[hold, j] = x_t[hold], n_t[hold], cq[hold]
            Qcm[hold, j], Qcz[hold, j] = c_base[hold], cz_t[hold]
            Qflag[hold, j] = flag[hold]
            Qn[hold] += 1
        # a CUSUM back at zero: the held-back normal points were normal after all
        closed = judged & (cus_up == 0) & (cus_dn == 0) & (Qn > 0) & (alarm_sign == 0)
        commit_queue(np.nonzero(closed)[0])
        # an alarm whose side returned to zero, or whose last points were back to normal: the event
        # ended without becoming the new level (a clipped CUSUM would take weeks to drain, and
        # meanwhile flag — and keep out of training — every noisy point on the alarm's side)
        re = np.nonzero(judged & (alarm_sign != 0) & ((np.where(alarm_sign > 0, cus_up, cus_dn) == 0)
                                                       | (alarm_quiet >= p.alarm_quiet)))[0]
        if re.size:
            commit_queue(re)
            alarm_sign[re] = 0
            cus_up[re] = 0.0
            cus_dn[re] = 0.0
        # a sustained shift flagged long enough: learn the new level from the held-back points
        need = np.where(alarm_nz * 2 > alarm_len, p.dropout_accept, p.shift_accept)
        # ... and still going on (the last points flagged): a shift that already ended is not learned
        accept = np.nonzero(judged & (alarm_sign != 0) & (alarm_len >= need)
                            & (alarm_run >= np.minimum(need, p.accept_run)))[0]
        if accept.size:
            rev_level[accept] = level[accept]
            rev_q[accept] = cq[accept]
            rev_prev[accept] = regime_start[accept]
            rev_sign[accept] = alarm_sign[accept]
            rev_event[accept] = alarm_event[accept]
            # the new level starts with the alarm's event (the CUSUM may have opened on noise
            # well before: those points belong to the old level)
            start = np.maximum(cus_start[accept], alarm_t0[accept])
            rev_start[accept] = start
            rev_until[accept] = t + p.revert_window
            rev_llr[accept] = 0.0
            # only points on the shift's side of the old level become the new level
            side_r = np.where(is_cnt[accept, None] & np.isfinite(Qcz[accept]), Qcz[accept], Qr0[accept])
            keep = (Qt[accept] >= start[:, None]) & (side_r * alarm_sign[accept, None] > 0)
            Qflag[accept] = ~keep
            commit_queue(accept, new_level=True)
            regime_start[accept] = start
            alarm_sign[accept] = 0
            cus_up[accept] = 0.0
            cus_dn[accept] = 0.0

    return expected, lower, upper, score_out, status, flag_out, nz_out, alarm_out, ev_out, event_end


def _record_flags(t: int, flag: np.ndarray, sign: np.ndarray, near_zero: np.ndarray, flag_out: np.ndarray,
                  nz_out: np.ndarray, ev_out: np.ndarray, cur_event: np.ndarray, cur_sign: np.ndarray,
                  last_flag: np.ndarray, gap: int, forced: np.ndarray, next_event: int,
                  event_t0: np.ndarray | None = None) -> int:
    """Record the flags of step t and give each an event id: the ongoing alarm's event (``forced``),
    else the current event when the direction is the same and the last flag is at most ``gap``
    points back, else a new id. Returns the next free id."""
    flag_out[:, t] = flag
    nz_out[:, t] = near_zero & flag
    same = flag & (cur_event >= 0) & (sign == cur_sign) & (t - last_flag <= gap + 1)
    ev = np.where(forced >= 0, forced, np.where(same, cur_event, -2))
    ev = np.where(flag, ev, -1)
    new = np.nonzero(ev == -2)[0]
    if new.size:
        ev[new] = np.arange(next_event, next_event + new.size)
        next_event += new.size
        if event_t0 is not None:
            event_t0[new] = t
    ev_out[:, t] = ev
    cur_event[flag] = ev[flag]
    last_flag[flag] = t
    cur_sign[flag] = np.where(sign[flag] != 0, sign[flag], cur_sign[flag])
    return next_event


# ---------------------------------------------------------------------------------------------
# One series
# ---------------------------------------------------------------------------------------------


def detect(
    values: Sequence[float] | np.ndarray | pd.Series,
    dates: Iterable,
    *,
    freq: str = "D",
    direction: str = "higher_is_better",
    holidays: Sequence[bool] | np.ndarray | None = None,
    workdays: Sequence[bool] | np.ndarray | None = None,
    exclusions: Sequence[bool] | np.ndarray | Iterable[tuple[date, date]] | None = None,
    target: Sequence[float] | np.ndarray | float | None = None,
    target_low: Sequence[float] | np.ndarray | float | None = None,
    target_high: Sequence[float] | np.ndarray | float | None = None,
    min_history: int | None = None,
    params: DetectorParams | None = None,
    label: str = "value",
    unit: str = "",
    numerator: Sequence[float] | np.ndarray | None = None,
    denominator: Sequence[float] | np.ndarray | None = None,
    counts: bool = False,
) -> DetectionResult:
    """Detect anomalies in one series (see the module docstring for the algorithm).

    ``exclusions`` is a boolean per point or a list of inclusive ``(start, end)`` date ranges
    (the incident/exclusion calendar). ``min_history`` overrides ``params.min_history``.
    ``numerator``/``denominator`` (a ratio of counts) or ``counts=True`` (the values are counts)
    switch on the count model: Poisson z-scores of the count instead of robust z-scores.
    """
    idx = _as_dates(dates)
    vals = np.asarray(values, dtype=float)
    if vals.shape != (len(idx),):
        raise ValueError(f"values must be 1-D with one value per date ({len(idx)}), got shape {vals.shape}")
    prm = params or DetectorParams()
    if min_history is not None:
        prm = replace(prm, min_history=min_history)
    excl = exclusion_mask(idx, exclusions)
    panel = detect_panel(
        vals[None, :], idx, freq=freq, direction=[direction], holidays=holidays, workdays=workdays,
        exclusions=excl[None, :], target=_row(target, len(idx)), target_low=_row(target_low, len(idx)),
        target_high=_row(target_high, len(idx)), params=prm, labels=[label], units=[unit],
        numerator=_row(numerator, len(idx)), denominator=_row(denominator, len(idx)), counts=[bool(counts)],
    )
    return DetectionResult(frame=panel_frame(panel, 0), panel=panel)


def _row(a: Sequence[float] | np.ndarray | float | None, n: int) -> np.ndarray | None:
    if a is None:
        return None
    arr = np.asarray(a, dtype=float)
    return np.full((1, n), arr.item()) if arr.ndim == 0 else arr.reshape(1, n)


def exclusion_mask(dates: pd.DatetimeIndex, exclusions: Sequence[bool] | np.ndarray |
                   Iterable[tuple[date, date]] | None) -> np.ndarray:
    """Boolean mask of the points inside the exclusion calendar (ranges are inclusive)."""
    n = len(dates)
    if exclusions is None:
        return np.zeros(n, dtype=bool)
    items = list(exclusions) if not isinstance(exclusions, np.ndarray) else exclusions
    if isinstance(items, np.ndarray) or (len(items) == n and all(isinstance(x, bool | np.bool_) for x in items)):
        arr = np.asarray(items, dtype=bool)
        if arr.shape != (n,):
            raise ValueError(f"exclusions must have one boolean per point ({n}), got {arr.shape}")
        return arr
    mask = np.zeros(n, dtype=bool)
    for rng in items:
        start, end = (pd.Timestamp(x) for x in rng)
        mask |= (dates >= start) & (dates <= end)
    return mask


def panel_frame(panel: PanelDetection, i: int) -> pd.DataFrame:
    """The per-point frame of series ``i`` of a panel."""
    up = panel.score[i] > 0
    kind = panel.kind[i]
    sev = panel.severity[i]
    flag = panel.flag[i]
    return pd.DataFrame({
        "date": panel.dates,
        "value": panel.values[i],
        "expected": panel.expected[i],
        "lower": panel.lower[i],
        "upper": panel.upper[i],
        "score": panel.score[i],
        "status": np.asarray(STATUSES, dtype=object)[panel.status[i]],
        "is_anomaly": flag,
        "kind": np.where(flag, np.asarray(KINDS, dtype=object)[np.clip(kind, 0, None)], None),
        "direction": np.where(flag, np.where(up, "up", "down"), None),
        "impact": np.where(flag, np.where(panel.impact_bad[i], "bad", "good"), None),
        "severity": np.where(flag, np.asarray(SEVERITIES, dtype=object)[np.clip(sev, 0, None)], None),
        "event_id": panel.event[i],
    })


# ---------------------------------------------------------------------------------------------
# Collapsing flags into anomalies
# ---------------------------------------------------------------------------------------------


def collapse_events(result: DetectionResult | PanelDetection, series: int = 0) -> list[Anomaly]:
    """The anomalies of one series: each ongoing event (flags sharing an event id — same direction,
    at most ``gap`` points apart, or one sustained shift) becomes one :class:`Anomaly`."""
    panel = result.panel if isinstance(result, DetectionResult) else result
    frame = panel_events(panel, series=[series])
    return [
        Anomaly(
            start_date=r.start_date, end_date=r.end_date, date=r.date, actual_value=_opt(r.actual_value),
            expected_value=_opt(r.expected_value), lower=_opt(r.lower), upper=_opt(r.upper),
            score=_opt(r.score), severity=r.severity, direction=r.direction, impact=r.impact, kind=r.kind,
            reason=r.reason, n_points=int(r.n_points),
        )
        for r in frame.itertuples(index=False)
    ]


def _opt(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def panel_events(panel: PanelDetection, series: Sequence[int] | None = None) -> pd.DataFrame:
    """All anomalies of a panel as a frame: ``series, event_id, start_date, end_date, date,
    actual_value, expected_value, lower, upper, score, severity, direction, impact, kind, reason,
    n_points`` (vectorised: one groupby over the flagged points)."""
    s_idx, t_idx = np.nonzero(panel.flag)
    if series is not None:
        keep = np.isin(s_idx, np.asarray(series))
        s_idx, t_idx = s_idx[keep], t_idx[keep]
    cols = ["series", "event_id", "start_date", "end_date", "date", "actual_value", "expected_value",
            "lower", "upper", "score", "severity", "direction", "impact", "kind", "reason", "n_points"]
    if s_idx.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    sc = panel.score[s_idx, t_idx]
    pts = pd.DataFrame({
        "series": s_idx,
        "event_id": panel.event[s_idx, t_idx],
        "t": t_idx,
        "abs_score": np.where(np.isnan(sc), np.inf, np.abs(sc)),
        "score": sc,
        "nz": panel.near_zero[s_idx, t_idx],
        "alarm": panel.alarm[s_idx, t_idx],
        "severity": panel.severity[s_idx, t_idx],
        "bad": panel.impact_bad[s_idx, t_idx],
    })
    g = pts.groupby("event_id", sort=True)
    agg = g.agg(series=("series", "first"), t_start=("t", "min"), t_last=("t", "max"), n_points=("t", "size"),
                nz=("nz", "sum"), alarm=("alarm", "any"), sev=("severity", "max"), bad=("bad", "any"))
    peak = pts.loc[g["abs_score"].idxmax().to_numpy()].set_index("event_id")
    agg["t_peak"] = peak["t"]
    agg["t_end"] = agg["t_last"]
    if panel.event_end:
        ext = pd.Series(panel.event_end)
        ext = ext[ext.index.isin(agg.index)]
        agg.loc[ext.index, "t_end"] = np.maximum(agg.loc[ext.index, "t_last"], ext.to_numpy())
    s = agg["series"].to_numpy()
    tp = agg["t_peak"].to_numpy()
    up = panel.score[s, tp] > 0
    length = agg["t_end"].to_numpy() - agg["t_start"].to_numpy() + 1
    kind = np.where(up, "spike", "dip").astype(object)
    kind[agg["alarm"].to_numpy() & (length >= panel.params.shift_min_length)] = "level_shift"
    kind[agg["nz"].to_numpy() * 2 >= agg["n_points"].to_numpy()] = "dropout"
    dates = panel.dates
    out = pd.DataFrame({
        "series": s,
        "event_id": agg.index.to_numpy(),
        "start_date": dates[agg["t_start"].to_numpy()].date,
        "end_date": dates[agg["t_end"].to_numpy()].date,
        "date": dates[tp].date,
        "actual_value": panel.values[s, tp],
        "expected_value": panel.expected[s, tp],
        "lower": panel.lower[s, tp],
        "upper": panel.upper[s, tp],
        "score": panel.score[s, tp],
        "severity": np.asarray(SEVERITIES, dtype=object)[np.clip(agg["sev"].to_numpy(), 0, None)],
        "direction": np.where(up, "up", "down"),
        "impact": np.where(agg["bad"].to_numpy() | (kind == "dropout"), "bad", "good"),
        "kind": kind,
        "n_points": agg["n_points"].to_numpy(),
    })
    out["reason"] = [
        _reason(panel, int(si), int(ti), k, st, en, n)
        for si, ti, k, st, en, n in zip(s, tp, kind, out["start_date"], out["end_date"], out["n_points"],
                                        strict=True)
    ]
    return out[cols].sort_values(["series", "start_date"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Reasons
# ---------------------------------------------------------------------------------------------


def format_value(x: float | None, unit: str = "") -> str:
    """Compact human number: 1234567 → '1.23M', 120000 → '120k', 0.0342 → '0.0342'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 1e9:
        s = f"{x / 1e9:.3g}B"
    elif a >= 1e6:
        s = f"{x / 1e6:.3g}M"
    elif a >= 1e4:
        s = f"{x / 1e3:.3g}k"
    elif a >= 100:
        s = f"{x:.0f}"
    elif a >= 1:
        s = f"{x:.3g}"
    elif a == 0:
        s = "0"
    else:
        s = f"{x:.3g}"
    if unit in ("%", "pct", "percent"):
        return f"{s}%"
    return f"{s} {unit}".strip() if unit and unit not in ("CNY", "count", "ratio") else (
        f"{s} {unit}" if unit == "CNY" else s)


def _reason(panel: PanelDetection, s: int, t: int, kind: str, start: date, end: date, n: int) -> str:
    name = panel.labels[s] if s < len(panel.labels) else "value"
    unit = panel.units[s] if s < len(panel.units) else ""
    y = panel.values[s, t]
    e = panel.expected[s, t]
    lo, hi = panel.lower[s, t], panel.upper[s, t]
    ctx = str(panel.calendar.label[t])
    band = f"band {format_value(lo, unit)}–{format_value(hi, unit)}"
    exp = f"expected {format_value(e, unit)}, {band}"
    when = f" from {start} to {end}" if end != start else ""
    if kind == "dropout":
        if np.isnan(y):
            return f"{name} is missing{when} although it was always reported before ({exp})"
        return f"{name} dropped to {format_value(y, unit)}{when} — the {ctx} value is normally well above zero ({exp}); possibly a broken feed"
    if kind == "level_shift":
        rel = (y - e) / abs(e) if e and np.isfinite(e) and e != 0 else np.nan
        pct = f"{abs(rel) * 100:.0f}% {'above' if y > e else 'below'}" if np.isfinite(rel) else (
            "above" if y > e else "below")
        return f"level shift: {name} has stayed {pct} its previous level since {start} ({n} flagged points; on {panel.dates[t].date()} {format_value(y, unit)}, {exp})"
    if e and np.isfinite(e) and e > 0 and y > 0 and y / e >= 1.5:
        what = f"{y / e:.1f}× the expected {ctx} value"
    elif e and np.isfinite(e) and e != 0:
        what = f"{abs(y - e) / abs(e) * 100:.0f}% {'above' if y > e else 'below'} the expected {ctx} value"
    else:
        what = f"{'above' if y > e else 'below'} the expected {ctx} value"
    return f"{name} {format_value(y, unit)} is {what} ({exp}){when.replace(' from', '; event from')}"


# ---------------------------------------------------------------------------------------------
# Baseline: trailing mean ± 3 standard deviations over 14 points
# ---------------------------------------------------------------------------------------------


def detect_baseline_panel(
    values: np.ndarray,
    dates: Iterable,
    *,
    freq: str = "D",
    direction: str | Sequence[str] = "higher_is_better",
    window: int = 14,
    k: float = 3.0,
    gap: int | None = None,
    labels: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
) -> PanelDetection:
    """The common dbt-package approach: a point is anomalous when it lies outside the mean ± k·σ
    of the previous ``window`` points (all of them, anomalies included). Same outputs as
    :func:`detect_panel` so the two can be scored the same way."""
    vals = np.array(values, dtype=float, copy=True)
    if vals.ndim == 1:
        vals = vals[None, :]
    s_n, t_n = vals.shape
    idx = _as_dates(dates)
    started = np.cumsum(np.nan_to_num(np.abs(vals)) > 0, axis=1) > 0  # as the detector: no leading zeros
    vals[~started] = np.nan
    frame = pd.DataFrame(vals.T)
    prev = frame.shift(1)
    mean = prev.rolling(window, min_periods=window).mean().to_numpy().T
    std = prev.rolling(window, min_periods=window).std(ddof=1).to_numpy().T
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (vals - mean) / std
        score = np.where(std == 0, np.where(vals == mean, 0.0, np.sign(vals - mean) * np.inf), score)
    valid = ~np.isnan(vals)
    enough = ~np.isnan(mean)
    flag = valid & enough & (np.abs(score) > k)
    p = DetectorParams(gap=gap).resolved(freq)
    cal = calendar_features(idx, freq, month_end_days=0, month_start_days=0, quarter_end=False)
    dirs = _directions(direction, s_n)
    up = score > 0
    near_zero = flag & (np.abs(vals) <= p.dropout_fraction * np.abs(mean)) & (mean > 0)
    kind = np.full((s_n, t_n), -1, dtype=np.int8)
    kind[flag & up] = K_SPIKE
    kind[flag & ~up] = K_DIP
    kind[near_zero] = K_DROPOUT
    nan = np.full((s_n, t_n), np.nan)
    impact_bad = _impact_bad(dirs, up, vals, nan, nan, kind)
    status = np.select([~valid, ~enough, flag], [ST_MISSING, ST_NO_HISTORY, ST_ANOMALY], ST_OK).astype(np.int8)
    events = _simple_events(flag, np.sign(np.nan_to_num(score)).astype(np.int64), p.gap)
    severity = _severity(np.where(np.isinf(score), 1e9, score), vals, mean, nan, impact_bad,
                         np.zeros_like(flag), flag)
    return PanelDetection(
        dates=idx, freq=freq, params=p, calendar=cal, values=vals, expected=mean, lower=mean - k * std,
        upper=mean + k * std, score=score, status=status, flag=flag, kind=kind, near_zero=near_zero,
        alarm=np.zeros_like(flag), severity=severity, impact_bad=impact_bad, event=events, directions=dirs,
        labels=list(labels) if labels is not None else ["value"] * s_n,
        units=list(units) if units is not None else [""] * s_n,
    )


def detect_baseline(
    values: Sequence[float] | np.ndarray | pd.Series,
    dates: Iterable,
    *,
    freq: str = "D",
    direction: str = "higher_is_better",
    window: int = 14,
    k: float = 3.0,
    label: str = "value",
    unit: str = "",
    **_ignored: object,
) -> DetectionResult:
    """The baseline for one series, same interface as :func:`detect` (extra arguments such as
    ``holidays`` are accepted and ignored: the baseline knows no calendar)."""
    idx = _as_dates(dates)
    vals = np.asarray(values, dtype=float)
    panel = detect_baseline_panel(vals[None, :], idx, freq=freq, direction=[direction], window=window, k=k,
                                  labels=[label], units=[unit])
    return DetectionResult(frame=panel_frame(panel, 0), panel=panel)


def _simple_events(flag: np.ndarray, sign: np.ndarray, gap: int) -> np.ndarray:
    """Event ids for flags: same sign, at most ``gap`` points apart (vectorised over series)."""
    s_n, t_n = flag.shape
    ev = np.full((s_n, t_n), -1, dtype=np.int64)
    s_idx, t_idx = np.nonzero(flag)
    if s_idx.size == 0:
        return ev
    sg = sign[s_idx, t_idx]
    new = np.ones(s_idx.size, dtype=bool)
    new[1:] = (s_idx[1:] != s_idx[:-1]) | (t_idx[1:] - t_idx[:-1] > gap + 1) | (sg[1:] != sg[:-1])
    ev[s_idx, t_idx] = np.cumsum(new) - 1
    return ev


# ---------------------------------------------------------------------------------------------
# Many series in a long frame
# ---------------------------------------------------------------------------------------------


@dataclass
class FrameDetection:
    """Results of :func:`detect_frame`: ``events`` (one row per anomaly, with the series keys),
    ``flags`` (one row per flagged point) and the underlying panels (one per group)."""

    events: pd.DataFrame
    flags: pd.DataFrame
    panels: list[tuple[pd.DataFrame, PanelDetection]]

    def points(self) -> pd.DataFrame:
        """Every point of every series (keys, date, value, expected, lower, upper, score, status,
        is_anomaly, kind, direction, impact, severity, event_id)."""
        out = []
        for keys, panel in self.panels:
            for i in range(len(keys)):
                f = panel_frame(panel, i)
                for c in keys.columns:
                    f.insert(0, c, keys.iloc[i][c])
                out.append(f)
        return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def exclusion_matrix(keys: pd.DataFrame, dates: pd.DatetimeIndex, exclusions: pd.DataFrame | None) -> np.ndarray:
    """(S, T) mask from an exclusion calendar: rows with the key columns it shares with ``keys``
    (a null key matches every series), ``start_date`` and ``end_date`` (inclusive)."""
    mask = np.zeros((len(keys), len(dates)), dtype=bool)
    if exclusions is None or exclusions.empty:
        return mask
    shared = [c for c in keys.columns if c in exclusions.columns]
    for row in exclusions.itertuples(index=False):
        r = row._asdict()
        sel = np.ones(len(keys), dtype=bool)
        for c in shared:
            v = r[c]
            if v is not None and not (isinstance(v, float) and math.isnan(v)) and not pd.isna(v):
                sel &= keys[c].astype(str).to_numpy() == str(v)
        start = pd.Timestamp(r["start_date"])
        end = pd.Timestamp(r["end_date"]) if not pd.isna(r["end_date"]) else dates.max()
        in_range = (dates >= start) & (dates <= end)
        mask[np.ix_(sel, np.asarray(in_range))] = True
    return mask


def _pick(m: object, key: object, default: object) -> object:
    if isinstance(m, Mapping):
        return m.get(key, default)
    return default if m is None else m


def _wide(g: pd.DataFrame, keys: list[str], date_col: str, col: str | None, index: pd.Index,
          dates: pd.DatetimeIndex) -> np.ndarray | None:
    if col is None or col not in g.columns:
        return None
    return g.pivot(index=keys, columns=date_col, values=col).reindex(index=index, columns=dates).to_numpy(
        dtype=float)


def detect_frame(
    data: pd.DataFrame,
    *,
    keys: Sequence[str] = ("kpi_id", "org_unit_id"),
    date_col: str = "date",
    value_col: str = "value",
    freq: str = "D",
    direction: str | Mapping[str, str] = "higher_is_better",
    calendar: pd.DataFrame | None = None,
    exclusions: pd.DataFrame | None = None,
    target_col: str | None = None,
    target_low_col: str | None = None,
    target_high_col: str | None = None,
    params: DetectorParams | Mapping[str, DetectorParams] | None = None,
    labels: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    detector: str = "robust",
    numerator_col: str | None = None,
    denominator_col: str | None = None,
    counts: bool | Mapping[str, bool] = False,
) -> FrameDetection:
    """Run the detector over every series of a long frame (one row per series key and date).

    ``direction``, ``params``, ``labels`` and ``units`` are one value or a mapping from the first key
    column (e.g. ``kpi_id``). Series sharing a parameter set form one panel on their full date range
    (missing dates become missing values; each series starts at its first non-zero value). ``calendar`` has
    ``date``, ``is_holiday`` and optionally ``is_workday`` (``dim_date``). ``detector`` is
    ``"robust"`` (this module's detector) or ``"baseline"`` (trailing mean ± 3σ over 14 points).
    ``numerator_col``/``denominator_col`` (ratio KPIs) and ``counts`` (one flag or a mapping from the
    first key column: the values are counts) feed the count model (see :func:`detect_panel`).
    """
    keys = list(keys)
    missing = [c for c in [*keys, date_col, value_col] if c not in data.columns]
    if missing:
        raise ValueError(f"detect_frame: column(s) {missing} not in the data (have {list(data.columns)})")
    if detector not in ("robust", "baseline"):
        raise ValueError(f"detector must be 'robust' or 'baseline', got {detector!r}")
    df = data.copy()
    df[date_col] = pd.to_datetime(df[date_col]).dt.normalize()
    cal = None
    if calendar is not None:
        cal = calendar.copy()
        cal["date"] = pd.to_datetime(cal["date"]).dt.normalize()
        cal = cal.drop_duplicates("date").set_index("date")
    pandas_freq = "W-MON" if freq_family(freq) == "W" else freq
    group_key = keys[0]
    panels: list[tuple[pd.DataFrame, PanelDetection]] = []
    all_events, all_flags = [], []
    # One panel per parameter set (usually one for everything): the loop over time is the cost, so
    # series of different KPIs share it; direction, label and unit are per series.
    prm_of = {g: _pick(params, g, None) for g in df[group_key].unique()}
    groups: dict[int, list] = {}
    for gval, prm in prm_of.items():
        groups.setdefault(id(prm), []).append(gval)
    for members in groups.values():
        g = df[df[group_key].isin(members)].drop_duplicates(keys + [date_col], keep="last")
        prm = prm_of[members[0]]
        start, end = g[date_col].min(), g[date_col].max()
        if freq_family(freq) in ("D", "W"):
            dates = pd.date_range(start, end, freq=pandas_freq if freq_family(freq) == "D" else "7D")
        else:
            dates = pd.DatetimeIndex(sorted(g[date_col].unique()))
        wide = g.pivot(index=keys, columns=date_col, values=value_col).reindex(columns=dates)
        key_frame = wide.index.to_frame(index=False)
        vals = wide.to_numpy(dtype=float)
        first = key_frame[group_key].to_numpy()
        dirn = [_pick(direction, k, "higher_is_better") for k in first]
        lab = [str(_pick(labels, k, str(k))) for k in first]
        unit = [str(_pick(units, k, "")) for k in first]
        if detector == "baseline":
            panel = detect_baseline_panel(vals, dates, freq=freq, direction=dirn, labels=lab, units=unit)
        else:
            hol = wd = None
            if cal is not None:
                hol = cal["is_holiday"].reindex(dates).fillna(False).to_numpy(dtype=bool)
                if "is_workday" in cal.columns and freq_family(freq) == "D":
                    wd = cal["is_workday"].reindex(dates).to_numpy(dtype=object)
                    fallback = np.asarray(dates.day_of_week < 5) & ~hol
                    wd = np.where(pd.isna(wd), fallback, wd).astype(bool)
            panel = detect_panel(
                vals, dates, freq=freq, direction=dirn, holidays=hol, workdays=wd,
                exclusions=exclusion_matrix(key_frame, dates, exclusions),
                target=_wide(g, keys, date_col, target_col, wide.index, dates),
                target_low=_wide(g, keys, date_col, target_low_col, wide.index, dates),
                target_high=_wide(g, keys, date_col, target_high_col, wide.index, dates), params=prm,
                labels=lab, units=unit,
                numerator=_wide(g, keys, date_col, numerator_col, wide.index, dates),
                denominator=_wide(g, keys, date_col, denominator_col, wide.index, dates),
                counts=[bool(_pick(counts, k, False)) for k in first],
            )
        panels.append((key_frame, panel))
        ev = panel_events(panel)
        if len(ev):
            kf = key_frame.iloc[ev["series"].to_numpy()].reset_index(drop=True)
            all_events.append(pd.concat([kf, ev.drop(columns=["series"]).reset_index(drop=True)], axis=1))
        s_idx, t_idx = np.nonzero(panel.flag)
        if s_idx.size:
            fl = key_frame.iloc[s_idx].reset_index(drop=True)
            fl["date"] = dates[t_idx]
            fl["score"] = panel.score[s_idx, t_idx]
            fl["event_id"] = panel.event[s_idx, t_idx]
            all_flags.append(fl)
    ev_cols = keys + ["event_id", "start_date", "end_date", "date", "actual_value", "expected_value", "lower",
                      "upper", "score", "severity", "direction", "impact", "kind", "reason", "n_points"]
    events = pd.concat(all_events, ignore_index=True) if all_events else pd.DataFrame(columns=ev_cols)
    flags = pd.concat(all_flags, ignore_index=True) if all_flags else pd.DataFrame(
        columns=keys + ["date", "score", "event_id"])
    return FrameDetection(events=events, flags=flags, panels=panels)
