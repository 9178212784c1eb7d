"""Calendar arithmetic for report periods (month, quarter, year; `period_start` is the first day)."""

from __future__ import annotations

from datetime import date, timedelta

GRAINS = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _check(grain: str) -> None:
    if grain not in _MONTHS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, got {grain!r}")


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_start(day: date, grain: str) -> date:
    """First day of the `grain` period that contains `day`."""
    _check(grain)
    if grain == "month":
        return date(day.year, day.month, 1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def period_end(start: date, grain: str) -> date:
    """Last day (inclusive) of the period that starts on `start`."""
    _check(grain)
    return _add_months(period_start(start, grain), _MONTHS[grain]) - timedelta(days=1)


def previous_period(start: date, grain: str) -> date:
    """Start of the period before the one that starts on `start`."""
    _check(grain)
    return _add_months(period_start(start, grain), -_MONTHS[grain])


def same_period_last_year(start: date, grain: str) -> date:
    """Start of the same period one year earlier."""
    _check(grain)
    return _add_months(period_start(start, grain), -12)


def latest_complete_period(as_of: date, grain: str) -> date:
    """Start of the latest period that has ended on or before `as_of`."""
    start = period_start(as_of, grain)
    return start if period_end(start, grain) <= as_of else previous_period(start, grain)


def running_periods(as_of: date) -> dict[str, date]:
    """The month, quarter and year that contain `as_of`: {grain: period_start}."""
    return {grain: period_start(as_of, grain) for grain in GRAINS}
