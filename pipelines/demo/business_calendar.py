"""The business calendar: Chinese public holidays, workdays and the daily demand profiles.

Holidays come from the dbt seed ``cn_public_holidays.csv`` (``date, name, name_zh, is_day_off``),
the same file ``dim_date`` is built from. ``is_day_off = false`` rows are adjusted working days
(调休上班): weekends on which people work.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from .common import DemoConfigError, day_number, from_day_number

#: Growth curves are anchored here so a unit's expected volume on a date does not depend on the window.
TREND_ANCHOR = date(2024, 1, 1)


def default_holidays_path() -> Path:
    from pipelines.settings import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR / "seeds" / "cn_public_holidays.csv"


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    name_zh: str
    is_day_off: bool


def load_holidays(path: Path) -> list[Holiday]:
    """Read the holiday seed; raise a clear error naming the file, row and field on bad input."""
    out: list[Holiday] = []
    if not Path(path).is_file():
        raise DemoConfigError(f"holiday seed not found: {path}")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"date", "name", "name_zh", "is_day_off"} - set(reader.fieldnames or [])
        if missing:
            raise DemoConfigError(f"{path}: missing column(s) {sorted(missing)} in the holiday seed")
        for i, row in enumerate(reader, start=2):
            try:
                day = date.fromisoformat(row["date"])
            except ValueError as exc:
                raise DemoConfigError(f"{path}, line {i}, field 'date': not an ISO date: {row['date']!r}") from exc
            flag = row["is_day_off"].strip().lower()
            if flag not in {"true", "false", "1", "0"}:
                raise DemoConfigError(f"{path}, line {i}, field 'is_day_off': expected true/false, got {flag!r}")
            out.append(Holiday(day, row["name"], row["name_zh"], flag in {"true", "1"}))
    return out


class Calendar:
    """Daily attributes of the business dates ``start`` .. ``end`` (inclusive)."""

    def __init__(self, start: date, end: date, holidays: list[Holiday]):
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        self.start, self.end = start, end
        self.day0 = day_number(start)
        self.n = (end - start).days + 1
        self.day_numbers = np.arange(self.day0, self.day0 + self.n, dtype=np.int64)
        days = self.day_numbers.astype("datetime64[D]")
        self.dow = ((self.day_numbers + 3) % 7).astype(np.int64)  # 0 = Monday
        months = days.astype("datetime64[M]")
        next_month_start = (months + 1).astype("datetime64[D]")
        self.days_to_month_end = (next_month_start - days).astype(np.int64)  # 1 on the last day
        self.month = (months.astype(np.int64) % 12 + 1).astype(np.int64)
        self.year = (months.astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.int64)
        self.is_quarter_end_month = np.isin(self.month, [3, 6, 9, 12])

        self.is_day_off = np.zeros(self.n, dtype=bool)
        self.is_adjusted_workday = np.zeros(self.n, dtype=bool)
        self.is_spring_festival = np.zeros(self.n, dtype=bool)
        self.holiday_name = np.full(self.n, "", dtype=object)
        for h in holidays:
            i = (h.day - start).days
            if 0 <= i < self.n:
                if h.is_day_off:
                    self.is_day_off[i] = True
                    self.holiday_name[i] = h.name
                    if "Spring Festival" in h.name:
                        self.is_spring_festival[i] = True
                else:
                    self.is_adjusted_workday[i] = True
        weekend = self.dow >= 5
        self.is_workday = (~weekend | self.is_adjusted_workday) & ~self.is_day_off
        self.is_holiday = self.is_day_off
        #: any holiday-related day (off or adjusted working day): anomalies keep clear of these
        self.is_special = self.is_day_off | self.is_adjusted_workday

    def date_of(self, i: int) -> date:
        return from_day_number(self.day0 + int(i))

    def index_of(self, d: date) -> int:
        return (d - self.start).days

    def years_since_anchor(self) -> np.ndarray:
        return (self.day_numbers - day_number(TREND_ANCHOR)) / 365.25

    def profile(self, kind: str) -> np.ndarray:
        """Relative daily demand (1.0 = an ordinary workday) for one kind of activity."""
        f = np.ones(self.n)
        off = ~self.is_workday
        if kind == "b2b_sales":
            f[off] = 0.22
            f[self.is_day_off] = 0.15
            f[self.is_spring_festival] = 0.08
            work = self.is_workday  # the month-end / quarter-end push happens on working days
            f *= np.where(work & (self.days_to_month_end <= 3), 1.35, 1.0)
            f *= np.where(work & self.is_quarter_end_month & (self.days_to_month_end <= 7), 1.2, 1.0)
        elif kind == "online_sales":
            f[off] = 0.85
            f[self.is_day_off] = 0.6
            f[self.is_spring_festival] = 0.35
            f *= np.where(self.days_to_month_end <= 3, 1.1, 1.0)
        elif kind == "service":
            f[off] = 0.55
            f[self.is_day_off] = 0.4
            f[self.is_spring_festival] = 0.25
        elif kind == "production":
            f[off] = 0.45
            f[self.is_day_off] = 0.3
            f[self.is_spring_festival] = 0.05
        elif kind == "rnd_bugs":
            f[off] = 0.15
            f[self.is_day_off] = 0.08
        elif kind == "rnd_release":
            f[off] = 0.03
            f[self.is_day_off] = 0.0
        elif kind == "training":
            f[off] = 0.0
        else:
            raise ValueError(f"unknown demand profile {kind!r}")
        return f

    def next_workday_index(self) -> np.ndarray:
        """For each day, the index of the same or next workday (clipped to the last day)."""
        out = np.empty(self.n, dtype=np.int64)
        nxt = self.n - 1
        for i in range(self.n - 1, -1, -1):
            if self.is_workday[i]:
                nxt = i
            out[i] = nxt
        return out
