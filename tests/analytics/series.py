"""Small deterministic series for the analytics tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def daily_series(n: int = 240, *, start: str = "2024-01-01", level: float = 100.0, noise: float = 0.05,
                 weekend: float = 1.0, seed: int = 0, month_end: float = 1.0,
                 month_end_days: int = 3) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """level × weekday profile (weekends × ``weekend``) × month-end factor (last ``month_end_days``
    calendar days × ``month_end``) × lognormal noise."""
    dates = pd.date_range(start, periods=n, freq="D")
    rng = np.random.default_rng(seed)
    dow = np.asarray(dates.day_of_week)
    prof = np.where(dow < 5, 1.0, weekend)
    days_left = np.asarray(dates.days_in_month - dates.day)
    me = np.where(days_left < month_end_days, month_end, 1.0)
    values = level * prof * me * np.exp(rng.normal(0.0, noise, n))
    return values, dates
