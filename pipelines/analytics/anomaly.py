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
   clipped scores (for counts: plain deviance residuals; scores inside the band divided by the
   long-run factor of the series' autocorrelated normal scores) above ``cusum_h`` → *level shift*: points
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

The causal loop is :mod:`pipelines.analytics.kpi_engine`, its parts :mod:`pipelines.analytics.kpi_parts`.
For a series of any frequency with nothing known about it, see :func:`pipelines.analytics.score.score_series`.

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

from pipelines.analytics.calendar import CalendarFeatures, calendar_features, freq_family
from pipelines.analytics.count_model import CountInput, count_input, count_quantile, count_z
from pipelines.analytics.kpi_engine import run_panel

__all__ = [
    "DIRECTIONS", "KINDS", "SEVERITIES", "STATUSES", "Anomaly", "CountInput", "DetectionResult", "DetectorParams",
    "FrameDetection", "PanelDetection", "collapse_events", "count_input", "count_quantile", "count_z", "detect",
    "detect_baseline", "detect_baseline_panel", "detect_frame", "detect_panel", "exclusion_mask", "exclusion_matrix",
    "format_value", "panel_events", "panel_frame",
]

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
    #: divide what the CUSUM accumulates by the long-run factor √((1 + ρ)/(1 − ρ)) of the series'
    #: recent normal scores: runs of same-sign deviations that are just how a series moves (a
    #: staircase, a slow drift) do not make a level shift
    cusum_autocorrelation: bool = True
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
    out = run_panel(vals, cal, p, excl, cin)
    expected, lower, upper, score, status = out.expected, out.lower, out.upper, out.score, out.status
    flag, near_zero, alarm, events, event_end = out.flag, out.near_zero, out.alarm, out.event, out.event_end

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


def _panel_dates(dates_of_rows: pd.Series, freq: str, pandas_freq: str) -> pd.DatetimeIndex:
    """The panel's time axis: every day (week) from the first to the last row's date; the rows'
    own dates for the other frequencies."""
    start, end = dates_of_rows.min(), dates_of_rows.max()
    if freq_family(freq) in ("D", "W"):
        return pd.date_range(start, end, freq=pandas_freq if freq_family(freq) == "D" else "7D")
    return pd.DatetimeIndex(sorted(dates_of_rows.unique()))


def _holidays_and_workdays(
    cal: pd.DataFrame | None, dates: pd.DatetimeIndex, freq: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Holiday and workday flags of ``dates`` from the calendar (daily series only have workdays;
    a day the calendar lacks is a workday when it is Monday to Friday and no holiday)."""
    hol = wd = None
    if cal is not None:
        hol = cal["is_holiday"].reindex(dates).fillna(False).to_numpy(dtype=bool)
        if "is_workday" in cal.columns and freq_family(freq) == "D":
            wd = cal["is_workday"].reindex(dates).to_numpy(dtype=object)
            fallback = np.asarray(dates.day_of_week < 5) & ~hol
            wd = np.where(pd.isna(wd), fallback, wd).astype(bool)
    return hol, wd


def _collect_events_and_flags(
    key_frame: pd.DataFrame, panel: PanelDetection, dates: pd.DatetimeIndex,
    all_events: list[pd.DataFrame], all_flags: list[pd.DataFrame],
) -> None:
    """Append the panel's events and flagged points, with their series keys, to the lists."""
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
        dates = _panel_dates(g[date_col], freq, pandas_freq)
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
            hol, wd = _holidays_and_workdays(cal, dates, freq)
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
        _collect_events_and_flags(key_frame, panel, dates, all_events, all_flags)
    ev_cols = keys + ["event_id", "start_date", "end_date", "date", "actual_value", "expected_value", "lower",
                      "upper", "score", "severity", "direction", "impact", "kind", "reason", "n_points"]
    events = pd.concat(all_events, ignore_index=True) if all_events else pd.DataFrame(columns=ev_cols)
    flags = pd.concat(all_flags, ignore_index=True) if all_flags else pd.DataFrame(
        columns=keys + ["date", "score", "event_id"])
    return FrameDetection(events=events, flags=flags, panels=panels)
