"""Synthetic KPI series that behave like the demo company's, with injected anomalies and ground truth.

Used by ``benchmarks/anomaly_benchmark.py --synthetic`` (and for tuning: tune on some seeds, report
on others). It mirrors how the demo generator (``pipelines/demo``) builds its facts, at the same
volumes (scale 1.0), without writing any file:

* calendar: Chinese public holidays and adjusted working days from the dbt seed
  ``cn_public_holidays.csv``; demand profiles per activity (B2B weekends ×0.22, days off ×0.15,
  Spring Festival ×0.08, month-end push ×1.35 on the last 3 calendar days, ×1.2 in the last 7 days
  of a quarter); yearly growth per team; ×lognormal(0.08) day noise;
* ``net_revenue`` (10 sales teams): Poisson orders × lognormal order values;
* ``complaint_rate`` (6 service teams): complaints / tickets, Poisson tickets, Bernoulli complaints;
* ``first_response_p90`` (6 service teams): the 90th percentile of lognormal first-response times;
* ``quality_pass_rate`` (6 production lines): good / produced over Poisson production runs;
* ``bugs_reported`` (6 R&D teams): Poisson counts.

Anomalies are planned by the demo generator's own planner (``pipelines.demo.anomalies.plan_anomalies``,
on the same calendar and volumes): windows start after 90 days, keep 3 days clear of holidays and
adjusted working days and 28 days clear of each other, and every event is detectable in its series
at a stated signal-to-noise (4.5 σ for one day, 6 σ cumulated for a shift — see
``pipelines/demo/README.md``). Inside a window the value is the expected one × (1 + magnitude),
without day noise (complaints rounded like the service-desk generator).

Period actuals (month, quarter, year) are computed from the underlying events (sums, Σ numerator /
Σ denominator, the period's own 90th percentile), like ``kpi_actuals``; targets are set around the
noise-free expectation so that roughly half of them are met.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HOLIDAYS_CSV = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "cn_public_holidays.csv"

DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 11, 19)

KPIS = pd.DataFrame(
    [
        ("net_revenue", "Net revenue", "higher_is_better", "sum", "CNY", True),
        ("complaint_rate", "Complaint rate", "lower_is_better", "ratio", "ratio", False),
        ("first_response_p90", "First response time (p90)", "lower_is_better", "percentile", "seconds", False),
        ("quality_pass_rate", "Quality pass rate", "higher_is_better", "ratio", "ratio", False),
        ("bugs_reported", "Bugs reported", "lower_is_better", "count", "count", True),
    ],
    columns=["kpi_id", "name", "direction", "measure_type", "unit", "is_additive"],
)

SALES = [  # team, share, growth, online
    ("TM-SE-1", 0.13, 0.18, False), ("TM-SE-2", 0.11, 0.12, False), ("TM-SE-3", 0.09, 0.15, False),
    ("TM-SN-1", 0.11, 0.10, False), ("TM-SN-2", 0.09, 0.20, False), ("TM-SN-3", 0.07, 0.14, False),
    ("TM-SS-1", 0.10, 0.08, False), ("TM-SS-2", 0.08, -0.12, False), ("TM-SO-1", 0.12, 0.25, True),
    ("TM-SO-2", 0.10, 0.20, True),
]
SERVICE = [  # team, share, growth, frt_median (s, scaled ×60 below), complaint probability
    ("TM-HL-1", 0.22, 0.10, 22.0, 0.035), ("TM-HL-2", 0.20, 0.12, 26.0, 0.045),
    ("TM-HL-3", 0.16, 0.06, 30.5, 0.055), ("TM-FS-1", 0.16, 0.05, 24.0, 0.040),
    ("TM-FS-2", 0.14, 0.04, 27.5, 0.050), ("TM-FS-3", 0.12, 0.08, 20.5, 0.030),
]
PRODUCTION = [  # line, share, growth, pass rate
    ("TM-PL1-A", 0.20, 0.10, 0.985), ("TM-PL1-B", 0.18, 0.08, 0.978), ("TM-PL1-C", 0.16, 0.12, 0.990),
    ("TM-PL2-A", 0.18, 0.15, 0.972), ("TM-PL2-B", 0.15, 0.06, 0.981), ("TM-PL2-C", 0.13, 0.09, 0.976),
]
RND = [("TM-PF-1", 0.19), ("TM-PF-2", 0.18), ("TM-PF-3", 0.12), ("TM-PD-1", 0.19), ("TM-PD-2", 0.17),
       ("TM-PD-3", 0.15)]

ORDERS_PER_DAY = 400_000 / 689
TICKETS_PER_DAY = 300.0
RUNS_PER_DAY = 80.0
BUGS_PER_DAY = 15.0
ORDER_VALUE = 4_000.0  # mean net revenue of an order (CNY)

#: (kpi_id, allowed kinds, share of the events) — as in the demo generator
EVENT_MIX = [
    ("net_revenue", ("spike", "dip", "level_shift", "dropout"), 12 / 40),
    ("complaint_rate", ("spike", "dip", "level_shift", "dropout"), 7 / 40),
    ("first_response_p90", ("spike", "dip", "level_shift"), 7 / 40),
    ("quality_pass_rate", ("dip", "level_shift"), 7 / 40),
    ("bugs_reported", ("spike", "dip", "level_shift", "dropout"), 7 / 40),
]
TEAMS = {
    "net_revenue": [t[0] for t in SALES], "complaint_rate": [t[0] for t in SERVICE],
    "first_response_p90": [t[0] for t in SERVICE], "quality_pass_rate": [t[0] for t in PRODUCTION],
    "bugs_reported": [t[0] for t in RND],
}


@dataclass
class SyntheticDataset:
    #: day grain: kpi_id, org_unit_id, date, value, numerator, denominator
    daily: pd.DataFrame
    #: month / quarter / year actuals: kpi_id, org_unit_id, grain, period_start, period_end, actual_value
    periods: pd.DataFrame
    #: ground truth in the demo's format: anomaly_id, kpi_id, org_unit_id, kind, start_date, end_date, magnitude
    truth: pd.DataFrame
    #: date, is_holiday (day off), is_workday
    calendar: pd.DataFrame
    #: kpi_id, name, direction, measure_type, unit, is_additive
    kpis: pd.DataFrame
    #: kpi_id, org_unit_id, grain, period_start, period_end, target_value, target_low, target_high
    targets: pd.DataFrame


# --- calendar --------------------------------------------------------------------------------------


def load_calendar(start: date, end: date, holidays_csv: Path = HOLIDAYS_CSV) -> pd.DataFrame:
    days = pd.date_range(start, end, freq="D")
    hol = pd.read_csv(holidays_csv, dtype={"is_day_off": str})
    hol["date"] = pd.to_datetime(hol["date"])
    off = set(hol.loc[hol["is_day_off"].str.lower().isin(["true", "1"]), "date"])
    adj = set(hol.loc[~hol["is_day_off"].str.lower().isin(["true", "1"]), "date"])
    sf = set(hol.loc[hol["name"].str.contains("Spring Festival") & hol["is_day_off"].str.lower().isin(
        ["true", "1"]), "date"])
    dow = np.asarray(days.day_of_week)
    is_off = np.asarray(days.isin(list(off)))
    is_adj = np.asarray(days.isin(list(adj)))
    cal = pd.DataFrame({
        "date": days,
        "dow": dow,
        "is_holiday": is_off,
        "is_adjusted_workday": is_adj,
        "is_spring_festival": np.asarray(days.isin(list(sf))),
        "is_workday": ((dow < 5) | is_adj) & ~is_off,
        "days_to_month_end": np.asarray(days.days_in_month - days.day + 1),
        "is_quarter_end_month": np.isin(np.asarray(days.month), [3, 6, 9, 12]),
    })
    return cal


def profile(cal: pd.DataFrame, kind: str) -> np.ndarray:
    f = np.ones(len(cal))
    off = ~cal["is_workday"].to_numpy()
    dayoff = cal["is_holiday"].to_numpy()
    sf = cal["is_spring_festival"].to_numpy()
    dte = cal["days_to_month_end"].to_numpy()
    qe = cal["is_quarter_end_month"].to_numpy()
    if kind == "b2b_sales":
        f[off], f[dayoff], f[sf] = 0.22, 0.15, 0.08
        f *= np.where(dte <= 3, 1.35, 1.0) * np.where(qe & (dte <= 7), 1.2, 1.0)
    elif kind == "online_sales":
        f[off], f[dayoff], f[sf] = 0.85, 0.6, 0.35
        f *= np.where(dte <= 3, 1.1, 1.0)
    elif kind == "service":
        f[off], f[dayoff], f[sf] = 0.55, 0.4, 0.25
    elif kind == "production":
        f[off], f[dayoff], f[sf] = 0.45, 0.3, 0.05
    elif kind == "rnd_bugs":
        f[off], f[dayoff] = 0.15, 0.08
    else:
        raise ValueError(kind)
    return f


def _lambda(cal: pd.DataFrame, shares: np.ndarray, growth: np.ndarray, prof: np.ndarray | list[np.ndarray],
            per_day: float) -> np.ndarray:
    years = ((cal["date"] - pd.Timestamp(DEFAULT_START)).dt.days / 365.25).to_numpy()
    p = np.asarray(prof) if isinstance(prof, list) else np.broadcast_to(prof, (len(shares), len(cal)))
    shape = (shares / shares.sum())[:, None] * p * (1.0 + growth[:, None]) ** years[None, :]
    return per_day * len(cal) * shape / shape.sum()


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 0.08) -> np.ndarray:
    return np.exp(rng.normal(0.0, sigma, shape) - sigma * sigma / 2)


# --- anomaly plan ------------------------------------------------------------------------------------


def plan_events(cal: pd.DataFrame, seed: int, n_events: int, scale: float = 1.0) -> pd.DataFrame:
    """The demo generator's own planner (``pipelines.demo.anomalies.plan_anomalies``): the same
    windows, kinds and volume-aware (detectable) magnitudes, on the same calendar and volumes."""
    from pipelines.demo.anomalies import plan_anomalies
    from pipelines.demo.business_calendar import Calendar, load_holidays

    holidays = load_holidays(HOLIDAYS_CSV)
    start, end = cal["date"].iloc[0].date(), cal["date"].iloc[-1].date()
    demo_cal = Calendar(start, end, holidays)
    default_cal = Calendar(DEFAULT_START, DEFAULT_END, holidays)
    plan = plan_anomalies(demo_cal, seed, n_events, scale=scale, default_cal=default_cal)
    return pd.DataFrame(
        [(a.anomaly_id, a.kpi_id, a.org_unit_id, a.kind, demo_cal.date_of(a.start), demo_cal.date_of(a.end),
          a.magnitude) for a in plan.anomalies],
        columns=["anomaly_id", "kpi_id", "org_unit_id", "kind", "start_date", "end_date", "magnitude"],
    )


def _factors(truth: pd.DataFrame, kpi: str, teams: list[str], cal: pd.DataFrame) -> np.ndarray:
    out = np.full((len(teams), len(cal)), np.nan)
    d0 = cal["date"].iloc[0]
    for r in truth[truth["kpi_id"] == kpi].itertuples():
        i = teams.index(r.org_unit_id)
        s = (pd.Timestamp(r.start_date) - d0).days
        e = (pd.Timestamp(r.end_date) - d0).days
        out[i, s: e + 1] = 1.0 + r.magnitude
    return out


# --- the dataset -------------------------------------------------------------------------------------


def _sales_series(rng: np.random.Generator, cal: pd.DataFrame, truth: pd.DataFrame, scale: float) -> list[tuple]:
    """Net revenue: Poisson orders × lognormal order values. Each series: (kpi, teams, value, numerator, denominator), one row per team."""
    series: list[tuple] = []
    # net revenue: Poisson orders × lognormal order values
    teams = [t[0] for t in SALES]
    prof = [profile(cal, "online_sales" if o else "b2b_sales") for *_, o in SALES]
    lam = _lambda(cal, np.array([t[1] for t in SALES]), np.array([t[2] for t in SALES]), prof,
                  ORDERS_PER_DAY * scale)
    counts = rng.poisson(lam * _noise(rng, lam.shape))
    fac = _factors(truth, "net_revenue", teams, cal)
    counts = np.where(np.isnan(fac), counts, np.round(lam * np.nan_to_num(fac))).astype(np.int64)
    sigma = 1.0
    vals = rng.lognormal(np.log(ORDER_VALUE) - sigma**2 / 2, sigma, int(counts.sum()))
    owner = np.repeat(np.arange(counts.size), counts.ravel())
    revenue = np.bincount(owner, weights=vals, minlength=counts.size).reshape(counts.shape)
    series.append(("net_revenue", teams, revenue, None, None))
    return series


def _service_series(rng: np.random.Generator, cal: pd.DataFrame, truth: pd.DataFrame, scale: float) -> tuple[list[tuple], pd.DataFrame]:
    """Service desk: tickets, complaints, first-response times (and the tickets' frame). Each series: (kpi, teams, value, numerator, denominator), one row per team."""
    series: list[tuple] = []
    n = len(cal)
    dates = cal["date"].to_numpy()
    # service desk: tickets, complaints, first-response times
    teams = [t[0] for t in SERVICE]
    lam = _lambda(cal, np.array([t[1] for t in SERVICE]), np.array([t[2] for t in SERVICE]),
                  profile(cal, "service"), TICKETS_PER_DAY * scale)
    tickets = rng.poisson(lam * _noise(rng, lam.shape))
    p = np.array([t[4] for t in SERVICE])[:, None]
    complaints = rng.binomial(tickets, np.broadcast_to(p, tickets.shape))
    cfac = _factors(truth, "complaint_rate", teams, cal)
    # as the service-desk generator: single days and dropouts rounded towards the anomaly, level
    # shifts rounded at random (unbiased over the window)
    x = tickets * p * np.nan_to_num(cfac)
    shift = _factors(truth[truth["kind"] == "level_shift"], "complaint_rate", teams, cal)
    injected = np.where(~np.isnan(shift), np.floor(x + rng.random(x.shape)),
                        np.where(np.nan_to_num(cfac) > 1, np.ceil(x), np.floor(x)))
    complaints = np.where(np.isnan(cfac), complaints, np.minimum(injected, tickets)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(tickets > 0, complaints / tickets, np.nan)
    series.append(("complaint_rate", teams, rate, complaints.astype(float), tickets.astype(float)))
    med = np.array([t[3] for t in SERVICE]) * 60.0
    owner = np.repeat(np.arange(tickets.size), tickets.ravel())
    team_of = owner // n
    day_of = owner % n
    frt = np.exp(rng.normal(np.log(med[team_of]), 0.72))
    ffac = _factors(truth, "first_response_p90", teams, cal)[team_of, day_of]
    frt = np.where(np.isnan(ffac), frt, frt * np.nan_to_num(ffac))
    frt = np.maximum(1, np.round(frt))
    t_frame = pd.DataFrame({"team": team_of, "date": dates[day_of], "frt": frt})
    p90 = t_frame.groupby(["team", "date"])["frt"].quantile(0.9).unstack().reindex(columns=dates)
    series.append(("first_response_p90", teams, p90.reindex(range(len(teams))).to_numpy(), None, None))
    return series, t_frame


def _production_series(rng: np.random.Generator, cal: pd.DataFrame, truth: pd.DataFrame, scale: float) -> list[tuple]:
    """Production: runs, produced, good. Each series: (kpi, teams, value, numerator, denominator), one row per team."""
    series: list[tuple] = []
    n = len(cal)
    # production: runs, produced, good
    teams = [t[0] for t in PRODUCTION]
    lam = _lambda(cal, np.array([t[1] for t in PRODUCTION]), np.array([t[2] for t in PRODUCTION]),
                  profile(cal, "production"), RUNS_PER_DAY * scale)
    runs = rng.poisson(lam * _noise(rng, lam.shape))
    owner = np.repeat(np.arange(runs.size), runs.ravel())
    produced = rng.integers(100, 400, owner.size)
    pr = np.array([t[3] for t in PRODUCTION])[owner // n]
    qfac = _factors(truth, "quality_pass_rate", teams, cal).ravel()[owner]
    good = np.where(np.isnan(qfac), rng.binomial(produced, pr), np.round(produced * pr * np.nan_to_num(qfac)))
    prod_d = np.bincount(owner, weights=produced, minlength=runs.size).reshape(runs.shape)
    good_d = np.bincount(owner, weights=good, minlength=runs.size).reshape(runs.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        qrate = np.where(prod_d > 0, good_d / prod_d, np.nan)
    series.append(("quality_pass_rate", teams, qrate, good_d, prod_d))
    return series


def _bug_series(rng: np.random.Generator, cal: pd.DataFrame, truth: pd.DataFrame) -> list[tuple]:
    """R&D bugs. Each series: (kpi, teams, value, numerator, denominator), one row per team."""
    series: list[tuple] = []
    # R&D bugs
    teams = [t[0] for t in RND]
    lam = _lambda(cal, np.array([t[1] for t in RND]), np.zeros(len(RND)), profile(cal, "rnd_bugs"),
                  BUGS_PER_DAY)
    bugs = rng.poisson(lam * _noise(rng, lam.shape)).astype(float)
    bfac = _factors(truth, "bugs_reported", teams, cal)
    bugs = np.where(np.isnan(bfac), bugs, np.round(lam * np.nan_to_num(bfac)))
    series.append(("bugs_reported", teams, bugs, None, None))
    return series


def make_dataset(seed: int, *, start: date = DEFAULT_START, end: date = DEFAULT_END, n_events: int = 40,
                 scale: float = 1.0) -> SyntheticDataset:
    """Simulate the five anomaly KPIs of the demo company for every team, with ``n_events`` events."""
    rng = np.random.default_rng(seed)
    cal = load_calendar(start, end)
    truth = plan_events(cal, seed, n_events, scale)
    dates = cal["date"].to_numpy()
    daily: list[pd.DataFrame] = []

    def add_daily(kpi: str, teams: list[str], value: np.ndarray, num: np.ndarray | None, den: np.ndarray | None):
        for i, t in enumerate(teams):
            daily.append(pd.DataFrame({
                "kpi_id": kpi, "org_unit_id": t, "date": dates, "value": value[i],
                "numerator": num[i] if num is not None else np.nan,
                "denominator": den[i] if den is not None else np.nan,
            }))

    sales = _sales_series(rng, cal, truth, scale)
    service, t_frame = _service_series(rng, cal, truth, scale)
    production = _production_series(rng, cal, truth, scale)
    bugs = _bug_series(rng, cal, truth)
    for kpi, teams, value, num, den in [*sales, *service, *production, *bugs]:
        add_daily(kpi, teams, value, num, den)

    daily_df = pd.concat(daily, ignore_index=True)
    daily_df["date"] = pd.to_datetime(daily_df["date"])
    periods_df = _period_actuals(daily_df, t_frame, [t[0] for t in SERVICE], pd.Timestamp(end))
    targets = _targets(periods_df, rng)
    calendar = cal[["date", "is_holiday", "is_workday"]].copy()
    return SyntheticDataset(daily_df, periods_df, truth, calendar, KPIS.copy(), targets)


def _period_bounds(d: pd.Series, grain: str) -> tuple[pd.Series, pd.Series]:
    code = {"month": "M", "quarter": "Q", "year": "Y"}[grain]
    per = d.dt.to_period(code)
    return per.dt.start_time.dt.normalize(), per.dt.end_time.dt.normalize()


def _period_actuals(daily: pd.DataFrame, tickets: pd.DataFrame, service_teams: list[str],
                    as_of: pd.Timestamp) -> pd.DataFrame:
    out = []
    for grain in ("month", "quarter", "year"):
        d = daily.copy()
        d["period_start"], d["period_end"] = _period_bounds(d["date"], grain)
        g = d.groupby(["kpi_id", "org_unit_id", "period_start", "period_end"], as_index=False).agg(
            value_sum=("value", "sum"), num=("numerator", "sum"), den=("denominator", "sum"))
        g["grain"] = grain
        g["actual_value"] = np.where(g["kpi_id"].isin(["complaint_rate", "quality_pass_rate"]),
                                     g["num"] / g["den"].replace(0, np.nan), g["value_sum"])
        g.loc[g["kpi_id"] == "first_response_p90", "actual_value"] = np.nan
        tk = tickets.copy()
        tk["date"] = pd.to_datetime(tk["date"])
        tk["period_start"], tk["period_end"] = _period_bounds(tk["date"], grain)
        q = tk.groupby(["team", "period_start"])["frt"].quantile(0.9).reset_index()
        q["org_unit_id"] = [service_teams[i] for i in q["team"]]
        q["kpi_id"] = "first_response_p90"
        g = g.merge(q[["kpi_id", "org_unit_id", "period_start", "frt"]], how="left",
                    on=["kpi_id", "org_unit_id", "period_start"])
        g["actual_value"] = g["actual_value"].fillna(g["frt"])
        g["is_complete"] = g["period_end"] <= as_of
        out.append(g[["kpi_id", "org_unit_id", "grain", "period_start", "period_end", "actual_value",
                      "num", "den", "is_complete"]].rename(columns={"num": "numerator", "den": "denominator"}))
    return pd.concat(out, ignore_index=True)


def _targets(periods: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Targets near what each period will turn out to be (the plan's error is ~±8 %), so that about
    half are met — a hard but fair test of the probability."""
    t = periods[["kpi_id", "org_unit_id", "grain", "period_start", "period_end", "actual_value",
                 "is_complete"]].copy()
    # a running period's actual is to date: scale additive ones to the full period first
    additive = t["kpi_id"].isin(["net_revenue", "bugs_reported"]) & ~t["is_complete"]
    if additive.any():
        last = periods.loc[~periods["is_complete"], "period_end"].min()
        as_of = min(pd.Timestamp(DEFAULT_END), last) if pd.notna(last) else pd.Timestamp(DEFAULT_END)
        elapsed = (as_of - t["period_start"]).dt.days + 1
        total = (t["period_end"] - t["period_start"]).dt.days + 1
        t.loc[additive, "actual_value"] *= (total / elapsed.clip(lower=1))[additive]
    t = t.drop(columns=["is_complete"])
    t = t.sort_values(["kpi_id", "org_unit_id", "grain", "period_start"]).reset_index(drop=True)
    # the plan is last period's level × a plan factor; use the period's own value × noise for simplicity
    err = rng.normal(0.0, 0.08, len(t))
    t["target_value"] = t["actual_value"] * np.exp(err)
    ratio = t["kpi_id"].isin(["complaint_rate", "quality_pass_rate"])
    t.loc[ratio, "target_value"] = t.loc[ratio, "actual_value"] * np.exp(rng.normal(0.0, 0.04, int(ratio.sum())))
    pass_rate = t["kpi_id"] == "quality_pass_rate"
    t.loc[pass_rate, "target_value"] = np.minimum(
        t.loc[pass_rate, "actual_value"] + rng.normal(0.0, 0.004, int(pass_rate.sum())), 0.999)
    t["target_low"] = np.nan
    t["target_high"] = np.nan
    return t.drop(columns=["actual_value"])
