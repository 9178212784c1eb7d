"""Calendar features the detector and the forecast share: frequency families, seasonal positions,
working days and day-of-month buckets (month-end push, first working day of a month).

Everything here depends on dates and the holiday calendar only, never on the values, so using the
whole calendar (including days after the series ends) does not break the detector's causality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_FAMILIES = {
    "D": "D",
    "B": "D",
    "W": "W",
    "M": "M",
    "MS": "M",
    "ME": "M",
    "Q": "Q",
    "QS": "Q",
    "QE": "Q",
    "Y": "Y",
    "YS": "Y",
    "YE": "Y",
    "A": "Y",
    "AS": "Y",
    "H": "H",
    "h": "H",
}


def freq_family(freq: str) -> str:
    """Map a pandas-style frequency alias (``"D"``, ``"W-MON"``, ``"MS"``, ``"h"`` …) to a family:
    ``D`` (daily), ``W``, ``M``, ``Q``, ``Y``, ``H`` (hourly) or ``other``."""
    if not isinstance(freq, str) or not freq:
        raise ValueError(f"freq must be a non-empty frequency alias such as 'D' or 'W', got {freq!r}")
    base = freq.split("-")[0].lstrip("0123456789")
    return _FAMILIES.get(base, _FAMILIES.get(base.upper(), "other"))


@dataclass(frozen=True)
class CalendarFeatures:
    """Per-point calendar features of a series (all arrays have the series' length)."""

    family: str
    #: seasonal position: weekday 0..6 for daily series (``season_length`` for an adjusted working
    #: weekend day, which is compared with the average working day), ``t mod season_length`` else.
    position: np.ndarray
    #: number of regular seasonal positions (7 for daily series, 1 when there is no seasonality).
    season_length: int
    is_holiday: np.ndarray
    is_workday: np.ndarray
    #: 0 = ordinary point; 1.. = a day-of-month bucket with its own learned effect (see ``bucket_names``).
    bucket: np.ndarray
    bucket_names: tuple[str, ...]
    #: per bucket (index 0 unused): the bucket whose effect stands in until this one has history
    #: (quarter-end buckets fall back to the month-end ones), 0 = none.
    bucket_fallback: np.ndarray
    #: short human label of each point's seasonal context ("Tuesday", "month-end Friday", "holiday", …).
    label: np.ndarray


def _as_bool(a: Sequence[bool] | np.ndarray | None, n: int, name: str) -> np.ndarray:
    if a is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(a)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one entry per point ({n}), got shape {arr.shape}")
    if arr.dtype != bool:
        arr = pd.Series(arr).fillna(False).astype(bool).to_numpy()
    return arr


def calendar_features(
    dates: pd.DatetimeIndex,
    freq: str,
    *,
    holidays: Sequence[bool] | np.ndarray | None = None,
    workdays: Sequence[bool] | np.ndarray | None = None,
    season_length: int | None = None,
    month_end_days: int = 3,
    month_start_days: int = 0,
    quarter_end: bool = True,
    month_end_basis: str = "calendar",
) -> CalendarFeatures:
    """Seasonal positions, working days and day-of-month buckets of ``dates``.

    Daily series: position = weekday; an adjusted working weekend day (``workdays`` true on a
    Saturday/Sunday) gets the extra position ``7`` ("an average working day"). Buckets: the last
    ``month_end_days`` working days of the month (bucket 1 = last working day, 2 = the one before, …),
    the first ``month_start_days`` working days, and non-working days among the last
    ``month_end_days`` calendar days. Weekly series: bucket 1 = a week that contains a month's last
    day. Working days come from ``workdays`` when given, else Monday–Friday minus ``holidays``; days
    after the series' last date (needed to know whether a day is among the last working days of its
    month) are taken as Monday–Friday.
    """
    n = len(dates)
    fam = freq_family(freq)
    hol = _as_bool(holidays, n, "holidays")
    if fam == "D":
        p = 7 if season_length is None else int(season_length)
    elif fam == "H":
        p = 24 if season_length is None else int(season_length)
    else:
        p = 1 if season_length is None else int(season_length)
    if p < 1:
        raise ValueError(f"season_length must be ≥ 1, got {p}")

    if fam == "D":
        dow = np.asarray(dates.day_of_week)
        wd = _as_bool(workdays, n, "workdays") if workdays is not None else (dow < 5) & ~hol
        adjusted = wd & (dow >= 5) & ~hol
        position = dow.copy() if p == 7 else np.arange(n) % p
        if p == 7:
            position[adjusted] = 7
        bucket, names, fallback = _daily_buckets(dates, wd, month_end_days, month_start_days, quarter_end,
                                                 month_end_basis)
        label = np.array([WEEKDAY_NAMES[d] for d in dow], dtype=object)
        label[adjusted] = np.char.add("working ", label[adjusted].astype(str)).astype(object)
        for b, name in enumerate(names, start=1):
            sel = bucket == b
            label[sel] = [f"{name} {x}" for x in label[sel]]
        label[hol] = "holiday"
    else:
        wd = ~hol
        position = np.arange(n) % p
        bucket = np.zeros(n, dtype=np.int64)
        names: tuple[str, ...] = ()
        fallback = np.zeros(1, dtype=np.int64)
        base = {"W": "week", "M": "month", "Q": "quarter", "Y": "year", "H": "hour"}.get(fam, "period")
        label = np.full(n, base, dtype=object)
        if fam == "W" and n and month_end_days > 0:
            nxt = dates + pd.Timedelta(days=7)
            bucket = (np.asarray(nxt.month) != np.asarray(dates.month)).astype(np.int64)
            names = ("month-end",)
            fallback = np.zeros(2, dtype=np.int64)
            label[bucket == 1] = "month-end week"
            if quarter_end:
                qe = (bucket == 1) & np.isin(np.asarray(dates.month), [3, 6, 9, 12])
                bucket[qe] = 2
                names = ("month-end", "quarter-end")
                fallback = np.array([0, 0, 1], dtype=np.int64)
                label[qe] = "quarter-end week"
        label[hol] = f"holiday {base}"
    return CalendarFeatures(
        family=fam,
        position=position.astype(np.int64),
        season_length=p,
        is_holiday=hol,
        is_workday=wd,
        bucket=bucket.astype(np.int64),
        bucket_names=names,
        bucket_fallback=fallback,
        label=label,
    )


def _bucket_names(
    month_end_days: int, month_start_days: int, quarter_end: bool
) -> tuple[list[str], int, int, list[int]]:
    """The day-of-month buckets' names, the month-end day-off bucket (0: none), the number of
    month buckets and each bucket's fallback (the bucket it borrows from until it has history)."""
    names: list[str] = []
    names += [("month-end" if k == 0 else f"month-end−{k}") for k in range(month_end_days)]
    names += [("first-workday" if k == 0 else f"workday-{k + 1}") for k in range(month_start_days)]
    weekend_bucket = 0
    if month_end_days > 0:  # days off at a month end behave like days off (both bases)
        names.append("month-end (day off)")
        weekend_bucket = len(names)
    n_month = len(names)
    fallback = [0] * (n_month + 1)
    if quarter_end and month_end_days > 0:
        for k in range(month_end_days):
            names.append("quarter-end" if k == 0 else f"quarter-end−{k}")
            fallback.append(k + 1)
        if weekend_bucket:
            names.append("quarter-end (day off)")
            fallback.append(weekend_bucket)
        names.append("quarter-end week")
        fallback.append(0)
        names.append("quarter-end week (day off)")
        fallback.append(0)
    return names, weekend_bucket, n_month, fallback


def _daily_buckets(
    dates: pd.DatetimeIndex, workday: np.ndarray, month_end_days: int, month_start_days: int, quarter_end: bool,
    basis: str = "calendar",
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Day-of-month buckets. Working days among the last ``month_end_days`` calendar days
    (``basis="calendar"``, bucket 1 = the last day) or the last ``month_end_days`` working days
    (``"workday"``); one bucket for days off among the last ``month_end_days`` calendar days (an
    effect learned on working days does not carry over to their much lower volumes). Quarter-end months get their own month-end buckets (falling
    back to the ordinary ones until they have history) and a "quarter-end week" (the 4 days before)."""
    if basis not in ("calendar", "workday"):
        raise ValueError(f"month_end_basis must be 'calendar' or 'workday', got {basis!r}")
    n = len(dates)
    names, weekend_bucket, n_month, fallback = _bucket_names(month_end_days, month_start_days, quarter_end)
    if n == 0 or not names:
        return np.zeros(n, dtype=np.int64), tuple(names), np.asarray(fallback, dtype=np.int64)
    # A full calendar from the first month's start to the last month's end.
    start = dates.min().to_period("M").to_timestamp()
    end = dates.max().to_period("M").to_timestamp(how="end").normalize()
    cal = pd.date_range(start, end, freq="D")
    wd = pd.Series(np.asarray(cal.day_of_week) < 5, index=cal)
    wd.loc[dates] = workday  # the given calendar wins where it is known
    month = np.asarray(cal.year * 12 + cal.month - 1)
    w = wd.to_numpy().astype(np.int64)
    frame = pd.DataFrame({"m": month, "w": w})
    from_start = frame.groupby("m")["w"].cumsum().to_numpy()  # working days so far, inclusive
    to_end = frame.iloc[::-1].groupby("m")["w"].cumsum().to_numpy()[::-1]  # working days left, incl.
    dom_left = np.asarray(cal.days_in_month - cal.day)  # calendar days left after this one
    b = np.zeros(len(cal), dtype=np.int64)
    is_wd = w == 1
    for k in range(month_end_days):
        if basis == "calendar":
            b[is_wd & (dom_left == k)] = k + 1
        else:
            b[is_wd & (to_end == k + 1)] = k + 1
    for k in range(month_start_days):
        b[is_wd & (from_start == k + 1) & (b == 0)] = month_end_days + k + 1
    if weekend_bucket:
        b[~is_wd & (dom_left < month_end_days)] = weekend_bucket
    if quarter_end and month_end_days > 0:
        qm = np.isin(np.asarray(cal.month), [3, 6, 9, 12])
        me = (b >= 1) & (b <= month_end_days)
        b[qm & me] = b[qm & me] + n_month
        nxt = n_month + month_end_days + 1
        if weekend_bucket:
            b[qm & (b == weekend_bucket)] = nxt
            nxt += 1
        week = qm & (b == 0) & (dom_left < month_end_days + 4)
        b[week & is_wd] = nxt
        b[week & ~is_wd] = nxt + 1
    idx = cal.get_indexer(dates)
    return b[idx], tuple(names), np.asarray(fallback, dtype=np.int64)
