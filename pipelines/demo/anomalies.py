"""Ground-truth anomalies: planned first, then injected by the source generators.

An anomaly changes one leaf team's *daily* KPI value by ``magnitude`` (relative change) over
``start_date`` .. ``end_date`` (inclusive, local business dates):

==========================  ==================================================================
KPI                         how the generator injects it
==========================  ==================================================================
``net_revenue``             the team's order count that day is ``expected × (1 + m)``
                            (``m = -1``: no orders booked; returns are moved out of the window)
``complaint_rate``          ``tickets × p_team × (1 + m)`` complaints that day (rounded towards
                            the anomaly on single days, randomly over a level shift)
``first_response_p90``      every first-response time that day is multiplied by ``1 + m``
``quality_pass_rate``       each run's defective quantity gives a pass rate of ``p_team × (1 + m)``
``bugs_reported``           the team's bug count that day is ``expected × (1 + m)``
==========================  ==================================================================

Inside a window the generator uses the expected value without day-to-day noise, so the magnitude
shows in the data. Windows start after the first 90 days, keep three days clear of holidays and
adjusted working days, keep 28 days clear of other anomalies on the same series, and single-day
kinds avoid month-end / quarter-end push days.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from .business_calendar import Calendar
from .common import rng_for
from .company import PRODUCTION_TEAMS, RND_TEAMS, SALES_TEAMS, SERVICE_TEAMS

ANOMALY_COLUMNS = ["anomaly_id", "kpi_id", "org_unit_id", "kind", "start_date", "end_date", "magnitude"]

#: (kpi_id, teams, allowed kinds, share of the anomalies)
SERIES: list[tuple[str, list[str], tuple[str, ...], float]] = [
    ("net_revenue", SALES_TEAMS, ("spike", "dip", "level_shift", "dropout"), 12 / 40),
    ("complaint_rate", SERVICE_TEAMS, ("spike", "dip", "level_shift", "dropout"), 7 / 40),
    ("first_response_p90", SERVICE_TEAMS, ("spike", "dip", "level_shift"), 7 / 40),
    ("quality_pass_rate", PRODUCTION_TEAMS, ("dip", "level_shift"), 7 / 40),
    ("bugs_reported", RND_TEAMS, ("spike", "dip", "level_shift", "dropout"), 7 / 40),
]

ANOMALIES_DEFAULT = 40
DEFAULT_AVAILABLE_DAYS = 592  # usable days of the default window (689 - 90 warm-up - 7 tail)
WARMUP_DAYS = 90
TAIL_DAYS = 7
CLEARANCE_DAYS = 28


@dataclass(frozen=True)
class Anomaly:
    anomaly_id: str
    kpi_id: str
    org_unit_id: str
    kind: str
    start: int  # day index in the calendar
    end: int  # inclusive
    magnitude: float


class AnomalyPlan:
    def __init__(self, anomalies: list[Anomaly], cal: Calendar):
        self.anomalies = anomalies
        self.cal = cal

    def factors(self, kpi_id: str, teams: list[str]) -> np.ndarray:
        """``(len(teams), days)`` array: ``1 + magnitude`` inside a window, NaN elsewhere."""
        out = np.full((len(teams), self.cal.n), np.nan)
        pos = {t: i for i, t in enumerate(teams)}
        for a in self.anomalies:
            if a.kpi_id == kpi_id and a.org_unit_id in pos:
                out[pos[a.org_unit_id], a.start : a.end + 1] = 1.0 + a.magnitude
        return out

    def to_csv(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ANOMALY_COLUMNS)
        for a in self.anomalies:
            w.writerow([a.anomaly_id, a.kpi_id, a.org_unit_id, a.kind, self.cal.date_of(a.start).isoformat(),
                        self.cal.date_of(a.end).isoformat(), f"{a.magnitude:.2f}"])
        return buf.getvalue().encode("utf-8")


def _largest_remainder(total: int, shares: list[float]) -> list[int]:
    raw = [total * s / sum(shares) for s in shares]
    base = [int(r) for r in raw]
    rest = total - sum(base)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base


def plan_anomalies(cal: Calendar, seed: int, count: int | None = None) -> AnomalyPlan:
    """Choose the anomalies for this window (deterministic for a seed and window)."""
    rng = rng_for(seed, "anomalies")
    first, last = WARMUP_DAYS, cal.n - 1 - TAIL_DAYS
    available = last - first + 1
    if count is None:
        count = int(round(ANOMALIES_DEFAULT * available / DEFAULT_AVAILABLE_DAYS)) if available >= 14 else 0
    if count <= 0:
        return AnomalyPlan([], cal)

    special = cal.is_special
    near_special = np.zeros(cal.n, dtype=bool)
    for shift in range(-3, 4):
        idx = np.arange(cal.n) + shift
        ok = (idx >= 0) & (idx < cal.n)
        near_special[ok] |= special[idx[ok]]
    push = (cal.days_to_month_end <= 3) | (cal.is_quarter_end_month & (cal.days_to_month_end <= 7))

    taken: dict[tuple[str, str], list[tuple[int, int]]] = {}
    planned: list[tuple[int, str, str, str, int, float]] = []
    quotas = _largest_remainder(count, [s[3] for s in SERIES])
    for (kpi_id, teams, kinds, _share), quota in zip(SERIES, quotas, strict=True):
        for _ in range(quota):
            for _attempt in range(300):
                team = teams[int(rng.integers(len(teams)))]
                kind = kinds[int(rng.integers(len(kinds)))]
                if kind == "level_shift":
                    length = int(rng.integers(7, 22))
                elif kind == "dropout":
                    length = int(rng.integers(1, 4))
                else:
                    length = 1
                if last - length + 1 < first:
                    continue
                start = int(rng.integers(first, last - length + 2))
                end = start + length - 1
                if near_special[start : end + 1].any():
                    continue
                if kind != "level_shift":
                    if not cal.is_workday[start] or push[start : end + 1].any():
                        continue
                    if not cal.is_workday[start : end + 1].all():
                        continue
                spans = taken.setdefault((kpi_id, team), [])
                if any(start <= e + CLEARANCE_DAYS and end >= s - CLEARANCE_DAYS for s, e in spans):
                    continue
                if kind == "spike":
                    mag = rng.uniform(0.8, 3.0)
                elif kind == "dip":
                    mag = -rng.uniform(0.5, 0.8)
                elif kind == "dropout":
                    mag = -1.0
                else:
                    sign = -1.0 if kpi_id == "quality_pass_rate" or rng.random() < 0.5 else 1.0
                    mag = sign * rng.uniform(0.3, 0.6)
                spans.append((start, end))
                planned.append((start, kpi_id, team, kind, end, round(float(mag), 2)))
                break
    planned.sort()
    anomalies = [
        Anomaly(f"A{i:03d}", kpi_id, team, kind, start, end, mag)
        for i, (start, kpi_id, team, kind, end, mag) in enumerate(planned, start=1)
    ]
    return AnomalyPlan(anomalies, cal)
