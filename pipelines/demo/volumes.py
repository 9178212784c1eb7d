"""Expected daily volumes per team: share × demand profile × growth, normalised on the default window."""

from __future__ import annotations

import numpy as np

from .business_calendar import Calendar
from .company import UNIT_BY_ID


def team_shape(cal: Calendar, teams: list[str], profile: str) -> np.ndarray:
    years = cal.years_since_anchor()
    prof = cal.profile(profile)
    shares = np.array([UNIT_BY_ID[t].params.get("share", 1.0) for t in teams], dtype=float)
    shares = shares / shares.sum()
    rows = [shares[i] * prof * (1.0 + UNIT_BY_ID[t].params.get("growth", 0.0)) ** years for i, t in
            enumerate(teams)]
    return np.array(rows)


def team_lambda(cal: Calendar, default_cal: Calendar, teams: list[str], profile: str,
                per_day: float) -> np.ndarray:
    """(teams, days) expected counts, averaging ``per_day`` per calendar day over the default window."""
    k = per_day * default_cal.n / team_shape(default_cal, teams, profile).sum()
    return k * team_shape(cal, teams, profile)


def day_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 0.08) -> np.ndarray:
    return np.exp(rng.normal(0.0, sigma, shape) - sigma * sigma / 2)
