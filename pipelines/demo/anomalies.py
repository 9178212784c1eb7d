"""Ground-truth anomalies: planned first (volume-aware), then injected by the source generators.

An anomaly changes one leaf team's *daily* KPI value by ``magnitude`` (relative change) over
``start_date`` .. ``end_date`` (inclusive, local business dates):

==========================  ==================================================================
KPI                         how the generator injects it
==========================  ==================================================================
``net_revenue``             the team's order count that day is ``expected × (1 + m)``
                            (``m = -1``: no orders booked; returns are moved out of the window)
``complaint_rate``          ``tickets × p_team × (1 + m)`` complaints that day (rounded towards
                            the anomaly on single days and dropouts, randomly over a level shift)
``first_response_p90``      every first-response time that day is multiplied by ``1 + m``
``quality_pass_rate``       each run's defective quantity gives a pass rate of ``p_team × (1 + m)``
``bugs_reported``           the team's bug count that day is ``expected × (1 + m)``
==========================  ==================================================================

Inside a window the generator uses the expected value without day-to-day noise, so the magnitude
shows in the data. Windows start after the first 90 days, keep three days clear of holidays and
adjusted working days, keep 28 days clear of other anomalies on the same series, and single-day
kinds avoid month-end / quarter-end push days.

**Only events a competent detector could see are injected** (volume-aware ground truth). Before an
event is accepted, the planner computes the target series' expected daily volume and noise on the
days of its window (:func:`series_noise`, from the same volume model the source generators use,
at the run's ``scale``) and checks the event's signal-to-noise ratio:

* a **single day** (spike, dip) must lie ``Z_POINT`` = 4.5 standard deviations beyond the expected
  value: for count KPIs (complaints, bugs) the exact Poisson tail of the injected count must be
  ≤ 3.4·10⁻⁶; for the others ``|ln(1 + m)|`` must exceed 4.5 σ of the day's log value plus a margin
  of 1.28 × the noise that remains inside the window (a revenue day with fewer orders still has
  random order values);
* a **dropout** (value 0) must be that improbable too: for count KPIs the chance of zero counts
  on every day of the window, ``exp(−Σ λ)``, must be ≤ 3.4·10⁻⁶ — a single day with ≈ 3 expected
  complaints is not a dropout, so low-count dropouts last as many days as it takes (≤ 10);
* a **level shift** must move each day by ≥ ``SHIFT_MIN_DAILY`` = 1.25 σ and add up to a
  cumulative ``Z_SHIFT`` = 6 σ over its window (σ on the log scale, or of the variance-stabilised
  count ``2√x``); low-count series shift for at least 10 days.

Magnitudes are drawn uniformly on the log scale between the detectable floor and each kind's cap
(:data:`BOUNDS`); a (team, kind, window) whose feasible range is empty is re-drawn. So at scale 1
a complaint spike is +300 % or more (a day with ≈ 3 complaints needs ≈ 15 to stand out), a bugs
level shift ≥ +70 % for two weeks, a revenue dip about −85 %, while a pass-rate dip (≈ 150
defects a day, noise ≈ 0.15 %) can be as small as −2 %.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from .business_calendar import Calendar
from .common import rng_for
from .company import (
    BUGS_PER_DAY,
    MES_RUNS_PER_DAY,
    ORDERS_DEFAULT_WINDOW,
    PRODUCTION_TEAMS,
    RND_TEAMS,
    SALES_TEAMS,
    SERVICE_TEAMS,
    TICKETS_PER_DAY,
    UNIT_BY_ID,
)
from .volumes import team_lambda

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

# --- detectability (signal-to-noise) ------------------------------------------------------------
#: a single-day event (or a dropout run) lies this many σ beyond the expected value (tail ≤ 3.4e-6)
Z_POINT = 4.5
#: a level shift adds up to this many σ over its window ...
Z_SHIFT = 6.0
#: ... and moves each day by at least this many σ
SHIFT_MIN_DAILY = 1.25
#: the noise left inside a window counts with this quantile (90 % of such events clear Z_POINT)
IN_WINDOW_Q = 1.2816
#: level-shift lengths (days): 7..28, low-count series at least 10
SHIFT_DAYS = (7, 28)
SHIFT_DAYS_LOW_COUNT = 10
#: a count dropout lasts as many days as it needs to be improbable, at most this many
DROPOUT_MAX_DAYS = 10
#: revenue: coefficient of variation of one order's net value (measured on the generated ERP:
#: 1.31-1.40 by team) and the day-to-day volume noise of every source (``volumes.day_noise``)
ORDER_VALUE_CV = 1.35
DAY_NOISE_SIGMA = 0.08
#: first-response p90: log-sd of one ticket's first-response time (lognormal 0.72, widened by the
#: priority mix); the sample p90 of n tickets has a log-sd of ``FRT_P90_LOG_SD / √n``
FRT_LOG_SIGMA = 0.75
FRT_P90_LOG_SD = FRT_LOG_SIGMA * math.sqrt(0.9 * 0.1) / 0.17550  # σ·√(p(1-p)) / φ(Φ⁻¹(0.9))
#: produced units per MES run (batch sizes by category and product mix; measured ≈ 713)
UNITS_PER_RUN = 700.0

#: per KPI and kind, the range of magnitudes that are drawn from (intersected with the detectable
#: range): spike (low, high), dip (most negative, least negative), shift up, shift down
BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "net_revenue": {"spike": (0.8, 3.0), "dip": (-0.95, -0.5), "up": (0.2, 0.8), "down": (-0.7, -0.2)},
    "complaint_rate": {"spike": (1.5, 6.0), "dip": (-0.95, -0.5), "up": (0.5, 3.0), "down": (-0.9, -0.5)},
    "first_response_p90": {"spike": (0.8, 3.0), "dip": (-0.9, -0.4), "up": (0.2, 0.8), "down": (-0.6, -0.2)},
    "quality_pass_rate": {"dip": (-0.5, -0.02), "down": (-0.3, -0.02)},
    "bugs_reported": {"spike": (1.5, 6.0), "dip": (-0.95, -0.5), "up": (0.5, 3.0), "down": (-0.9, -0.5)},
}
#: KPIs whose noise is that of a small count (Poisson), not of a continuous value
COUNT_KPIS = ("complaint_rate", "bugs_reported")

_TAIL_POINT = NormalDist().cdf(-Z_POINT)  # 3.4e-6
#: placements (team, window, magnitude) tried for one kind before another kind is drawn
KIND_ATTEMPTS = 150


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


# --- the noise model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesNoise:
    """Expected daily volume and noise of one KPI's team series (arrays ``(teams, days)``).

    ``family`` is ``"count"`` (the value is driven by a Poisson count ``lam`` a day: complaints,
    bugs) or ``"log"`` (``sigma`` = the log-sd of the day's value; ``lam`` = the underlying count
    for the noise left inside a window: orders for revenue)."""

    kpi_id: str
    family: str
    lam: np.ndarray
    sigma: np.ndarray


def orders_lambda(cal: Calendar, default_cal: Calendar, scale: float) -> np.ndarray:
    """Expected orders per sales team and day — the same as ``erp.SalesModel.orders_lambda``."""
    def shape(c: Calendar) -> np.ndarray:
        years = c.years_since_anchor()
        b2b, online = c.profile("b2b_sales"), c.profile("online_sales")
        return np.array([UNIT_BY_ID[t].params["share"] * (online if UNIT_BY_ID[t].params["online"] else b2b)
                         * (1.0 + UNIT_BY_ID[t].params["growth"]) ** years for t in SALES_TEAMS])

    return ORDERS_DEFAULT_WINDOW * scale / shape(default_cal).sum() * shape(cal)


def series_noise(cal: Calendar, default_cal: Calendar | None = None, scale: float = 1.0) -> dict[str, SeriesNoise]:
    """The noise model of the five anomaly KPIs at team level, from the generators' volume model."""
    dc = default_cal or cal
    out: dict[str, SeriesNoise] = {}
    orders = orders_lambda(cal, dc, scale)
    rev_sigma = np.sqrt((1.0 + ORDER_VALUE_CV**2) / np.maximum(orders, 1e-9) + DAY_NOISE_SIGMA**2)
    out["net_revenue"] = SeriesNoise("net_revenue", "log", orders, rev_sigma)
    tickets = team_lambda(cal, dc, SERVICE_TEAMS, "service", TICKETS_PER_DAY * scale)
    p_c = np.array([UNIT_BY_ID[t].params["complaint"] for t in SERVICE_TEAMS])[:, None]
    out["complaint_rate"] = SeriesNoise("complaint_rate", "count", tickets * p_c, np.full(tickets.shape, np.nan))
    frt_sigma = FRT_P90_LOG_SD / np.sqrt(np.maximum(tickets, 1.0))
    out["first_response_p90"] = SeriesNoise("first_response_p90", "log", tickets, frt_sigma)
    units = team_lambda(cal, dc, PRODUCTION_TEAMS, "production", MES_RUNS_PER_DAY * scale) * UNITS_PER_RUN
    p_pass = np.array([UNIT_BY_ID[t].params["pass_rate"] for t in PRODUCTION_TEAMS])[:, None]
    pass_sigma = np.sqrt((1.0 - p_pass) / (p_pass * np.maximum(units, 1.0)))
    out["quality_pass_rate"] = SeriesNoise("quality_pass_rate", "log", units, pass_sigma)
    bugs = team_lambda(cal, dc, RND_TEAMS, "rnd_bugs", BUGS_PER_DAY)
    out["bugs_reported"] = SeriesNoise("bugs_reported", "count", bugs, np.full(bugs.shape, np.nan))
    return out


def _log_pmf(k: int, lam: float) -> float:
    return k * math.log(lam) - lam - math.lgamma(k + 1)


def poisson_upper(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam), accurate for tiny tails."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k <= lam:
        return 1.0 - poisson_lower(k - 1, lam)
    total, j = 0.0, k
    while True:
        term = math.exp(_log_pmf(j, lam))
        total += term
        j += 1
        if term < total * 1e-12 or j > k + 2000:
            return min(total, 1.0)


def poisson_lower(k: int, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(lam)."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    if k >= lam:
        return 1.0 - poisson_upper(k + 1, lam)
    return min(sum(math.exp(_log_pmf(j, lam)) for j in range(k + 1)), 1.0)


def _z_of_tail(p: float) -> float:
    return -NormalDist().inv_cdf(min(max(p, 1e-300), 0.5))


def point_z(noise: SeriesNoise, team: int, day: int, m: float) -> float:
    """How many σ a single-day event of magnitude ``m`` lies beyond the expected value."""
    if noise.family == "count":
        lam = float(noise.lam[team, day])
        x = lam * (1.0 + m)
        if m > 0:
            return _z_of_tail(poisson_upper(math.ceil(x - 1e-9), lam))
        return _z_of_tail(poisson_lower(math.floor(x + 1e-9), lam))
    sigma = float(noise.sigma[team, day])
    if m <= -1.0:
        return _z_of_tail(math.exp(-float(noise.lam[team, day])))  # no orders / runs / tickets at all
    if noise.kpi_id == "net_revenue":  # the order count is fixed, the order values are not
        inside = ORDER_VALUE_CV / math.sqrt(max(float(noise.lam[team, day]) * (1.0 + m), 1e-9))
    elif noise.kpi_id == "first_response_p90":  # every time is scaled: the p90 keeps its noise
        inside = sigma
    else:  # pass rate: every run's defects are set exactly
        inside = 0.0
    return (abs(math.log1p(m)) - IN_WINDOW_Q * inside) / sigma


def dropout_z(noise: SeriesNoise, team: int, start: int, end: int) -> float:
    """How improbable zero on every day of the window is, in σ."""
    return _z_of_tail(math.exp(-float(noise.lam[team, start : end + 1].sum())))


def shift_z(noise: SeriesNoise, team: int, start: int, end: int, m: float) -> tuple[float, float]:
    """(cumulative σ over the window, σ per working day) of a level shift of magnitude ``m``."""
    if noise.family == "count":
        lam = noise.lam[team, start : end + 1]
        per_day = 2.0 * np.abs(np.sqrt(lam * (1.0 + m)) - np.sqrt(lam))  # variance-stabilised counts
    else:
        per_day = abs(math.log1p(m)) / noise.sigma[team, start : end + 1]
    return float(np.sqrt(np.sum(per_day**2))), float(np.median(per_day))


def _floor_magnitude(ok, lo: float, hi: float) -> float | None:
    """Bisection on the log scale: the magnitude in [lo, hi] nearest to zero with ``ok(m)`` true
    (``ok`` is monotone: true from some |m| on), or None when even the largest fails."""
    far, near = (hi, lo) if abs(hi) > abs(lo) else (lo, hi)
    if not ok(far):
        return None
    if ok(near):
        return near
    a, b = math.log1p(near), math.log1p(far)  # ok(b), not ok(a)
    for _ in range(40):
        mid = 0.5 * (a + b)
        if ok(math.expm1(mid)):
            b = mid
        else:
            a = mid
    return math.expm1(b)


def _draw(rng: np.random.Generator, a: float, b: float) -> float:
    """Uniform on the log scale between magnitudes a and b."""
    la, lb = math.log1p(a), math.log1p(b)
    return math.expm1(la + (lb - la) * float(rng.random()))


def choose_magnitude(rng: np.random.Generator, noise: SeriesNoise, team: int, kind: str, start: int,
                     end: int, up: bool) -> float | None:
    """A detectable magnitude for this event, or None when the series cannot carry it."""
    b = BOUNDS[noise.kpi_id]
    if kind == "dropout":
        return -1.0 if dropout_z(noise, team, start, end) >= Z_POINT else None
    if kind in ("spike", "dip"):
        key = kind
        ok = lambda m: point_z(noise, team, start, m) >= Z_POINT  # noqa: E731
    else:
        key = "up" if up else "down"

        def ok(m: float) -> bool:
            total, daily = shift_z(noise, team, start, end, m)
            return total >= Z_SHIFT and daily >= SHIFT_MIN_DAILY
    if key not in b:
        return None
    lo, hi = b[key]
    floor = _floor_magnitude(ok, lo, hi)
    if floor is None:
        return None
    far = hi if abs(hi) > abs(lo) else lo
    return _draw(rng, floor, far)


def _largest_remainder(total: int, shares: list[float]) -> list[int]:
    raw = [total * s / sum(shares) for s in shares]
    base = [int(r) for r in raw]
    rest = total - sum(base)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base


#: an event: (start, kpi_id, team, kind, end, magnitude)
_Event = tuple[int, str, str, str, int, float]


@dataclass
class _Slots:
    """Where events may go: the window's usable days, and the spans already taken per series and team."""

    cal: Calendar
    first: int  # the first day an event may start (after the warm-up)
    last: int  # the last day an event may cover (before the tail)
    near_special: np.ndarray  # within three days of a holiday or an adjusted working day
    push: np.ndarray  # month-end / quarter-end push days
    taken: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, cal: Calendar) -> _Slots:
        special = cal.is_special
        near_special = np.zeros(cal.n, dtype=bool)
        for shift in range(-3, 4):
            idx = np.arange(cal.n) + shift
            ok = (idx >= 0) & (idx < cal.n)
            near_special[ok] |= special[idx[ok]]
        push = (cal.days_to_month_end <= 3) | (cal.is_quarter_end_month & (cal.days_to_month_end <= 7))
        return cls(cal, WARMUP_DAYS, cal.n - 1 - TAIL_DAYS, near_special, push)

    def free(self, kpi_id: str, team: str, kind: str, start: int, end: int, low_count: bool) -> bool:
        """The days fit the kind, and the span keeps clear of the series' other events."""
        cal = self.cal
        if end > self.last or self.near_special[start : end + 1].any():
            return False
        if kind != "level_shift":
            if not cal.is_workday[start] or self.push[start : end + 1].any():
                return False
            if not (low_count and kind == "dropout") and not cal.is_workday[start : end + 1].all():
                return False
        spans = self.taken.get((kpi_id, team), [])
        return not any(start <= e + CLEARANCE_DAYS and end >= s - CLEARANCE_DAYS for s, e in spans)

    def take(self, kpi_id: str, team: str, start: int, end: int) -> None:
        self.taken.setdefault((kpi_id, team), []).append((start, end))


def plan_anomalies(cal: Calendar, seed: int, count: int | None = None, *, scale: float = 1.0,
                   default_cal: Calendar | None = None) -> AnomalyPlan:
    """Choose the anomalies for this window (deterministic for a seed, window and scale).

    ``scale`` and ``default_cal`` (the default window the volumes are normalised on) are those of the
    generator run: the volumes — hence which events are detectable — depend on them."""
    rng = rng_for(seed, "anomalies")
    available = (cal.n - 1 - TAIL_DAYS) - WARMUP_DAYS + 1
    if count is None:
        count = int(round(ANOMALIES_DEFAULT * available / DEFAULT_AVAILABLE_DAYS)) if available >= 14 else 0
    if count <= 0:
        return AnomalyPlan([], cal)
    noise = series_noise(cal, default_cal, scale)
    slots = _Slots.of(cal)
    planned: list[_Event] = []
    quotas = _largest_remainder(count, [s[3] for s in SERIES])
    for (kpi_id, teams, kinds, _share), quota in zip(SERIES, quotas, strict=True):
        for _ in range(quota):
            event = _plan_event(rng, slots, noise[kpi_id], kpi_id, teams, kinds)
            if event is not None:
                planned.append(event)
    planned.sort()
    anomalies = [
        Anomaly(f"A{i:03d}", kpi_id, team, kind, start, end, mag)
        for i, (start, kpi_id, team, kind, end, mag) in enumerate(planned, start=1)
    ]
    return AnomalyPlan(anomalies, cal)


def _plan_event(rng: np.random.Generator, slots: _Slots, nz: SeriesNoise, kpi_id: str, teams: list[str],
                kinds: tuple[str, ...]) -> _Event | None:
    """One event of the series, or None when no attempt found a detectable one."""
    kind = kinds[0]
    for attempt in range(KIND_ATTEMPTS * 20):
        if attempt % KIND_ATTEMPTS == 0:
            # the kind first (so kinds stay evenly mixed); a kind this series cannot carry
            # detectably (a dip of a few complaints) is replaced after KIND_ATTEMPTS tries
            kind = kinds[int(rng.integers(len(kinds)))]
        event = _try_event(rng, slots, nz, kpi_id, teams, kind)
        if event is not None:
            return event
    return None


def _try_event(rng: np.random.Generator, slots: _Slots, nz: SeriesNoise, kpi_id: str, teams: list[str],
               kind: str) -> _Event | None:
    """A random team and window for the kind, and a detectable magnitude; None when it does not fit."""
    low_count = nz.family == "count"
    ti = int(rng.integers(len(teams)))
    team = teams[ti]
    if kind == "level_shift":
        lo_days = SHIFT_DAYS_LOW_COUNT if low_count else SHIFT_DAYS[0]
        length = int(rng.integers(lo_days, SHIFT_DAYS[1] + 1))
    elif kind == "dropout":
        length = int(rng.integers(1, 4))
    else:
        length = 1
    if slots.last - length + 1 < slots.first:
        return None
    start = int(rng.integers(slots.first, slots.last - length + 2))
    if kind == "dropout" and low_count:
        # as many days as zero counts need to be improbable (weekends included)
        cum = np.cumsum(nz.lam[ti, start : min(start + DROPOUT_MAX_DAYS, slots.last + 1)])
        enough = np.flatnonzero(cum >= -math.log(_TAIL_POINT))
        if enough.size == 0:
            return None
        length = int(enough[0]) + 1
    end = start + length - 1
    if not slots.free(kpi_id, team, kind, start, end, low_count):
        return None
    up = kind == "spike" or (kind == "level_shift" and kpi_id != "quality_pass_rate" and rng.random() >= 0.5)
    mag = choose_magnitude(rng, nz, ti, kind, start, end, up)
    if mag is None:
        return None
    # two decimals, rounded away from zero (never below the detectable floor)
    mag = math.copysign(math.ceil(abs(mag) * 100 - 1e-9) / 100, mag)
    slots.take(kpi_id, team, start, end)
    return (start, kpi_id, team, kind, end, float(mag))
