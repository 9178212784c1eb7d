"""Manufacturing execution (MES): production runs, one Parquet file per local finish date."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .anomalies import AnomalyPlan
from .business_calendar import Calendar
from .common import DAY, HOUR, NAT, Clock, choice_by_weights, fmt_ids, rng_for
from .company import MES_RUNS_PER_DAY, PRODUCTION_TEAMS, UNIT_BY_ID
from .defects import DefectLog
from .erp import CATEGORIES, Products
from .volumes import day_noise, team_lambda
from .writers import write_parquet

SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("line_id", pa.string()),
    ("product_id", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")),
    ("planned_qty", pa.int64()),
    ("produced_qty", pa.int64()),
    ("defective_qty", pa.int64()),
    ("promised_date", pa.date32()),
    ("delivered_date", pa.date32()),
])
#: manufactured categories and their batch sizes (low, high)
BATCH = {"instruments": (5, 30), "sensors": (50, 500), "consumables": (200, 3000)}


@dataclass
class MESResult:
    files: dict[str, int]
    rows: int
    defects: DefectLog


def generate_mes(cal: Calendar, default_cal: Calendar, clock: Clock, seed: int, scale: float, products: Products,
                 plan: AnomalyPlan, landing: Path, rel_root: Path) -> MESResult:
    cols, day = _draw_runs(rng_for(seed, "mes"), cal, default_cal, clock, scale, products, plan)
    defects = DefectLog()
    bounds = np.searchsorted(day, np.arange(cal.n + 1))
    extra = _defect_rows(rng_for(seed, "mes", "defects"), cal, cols, bounds, rel_root, defects)
    files: dict[str, int] = {}
    for di in range(cal.n):
        d = cal.date_of(di)
        s, e = int(bounds[di]), int(bounds[di + 1])
        part = {c: v[s:e] for c, v in cols.items()}
        rows = extra.get(di, [])
        if rows:
            part = {c: np.concatenate([v, np.array([r[c] for r in rows])]) for c, v in part.items()}
        name = f"production_runs_{d:%Y%m%d}.parquet"
        write_parquet(landing / name, _table(part))
        files[(rel_root / name).as_posix()] = len(part["run_id"])
    return MESResult(files, int(day.size), defects)


def _draw_runs(rng: np.random.Generator, cal: Calendar, default_cal: Calendar, clock: Clock, scale: float,
               products: Products, plan: AnomalyPlan) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The production runs as columns (in finishing order), and the calendar day index of each."""
    teams = PRODUCTION_TEAMS
    nt = len(teams)
    lam = team_lambda(cal, default_cal, teams, "production", MES_RUNS_PER_DAY * scale)
    counts = rng.poisson(lam * day_noise(rng, lam.shape))
    team = np.repeat(np.repeat(np.arange(nt), cal.n), counts.ravel())
    day = np.repeat(np.tile(np.arange(cal.n), nt), counts.ravel())
    m = team.size
    finished_local = (cal.day0 + day) * DAY + rng.integers(0, DAY, m)
    order = np.lexsort((team, finished_local))
    team, day, finished_local = team[order], day[order], finished_local[order]
    finished = clock.to_utc(finished_local)
    started = finished - rng.integers(2 * HOUR, 10 * HOUR, m)

    cat_names = np.array(CATEGORIES)[products.category]
    made = np.flatnonzero(np.isin(cat_names, list(BATCH)) & products.active)
    product = made[choice_by_weights(rng, products.popularity[made], m)]
    lo = np.array([BATCH[c][0] for c in cat_names[product]])
    hi = np.array([BATCH[c][1] for c in cat_names[product]])
    planned = (lo + rng.random(m) * (hi - lo)).astype(np.int64)
    produced = np.maximum(1, np.round(planned * rng.uniform(0.9, 1.05, m))).astype(np.int64)
    defective = _defective(rng, plan, team, day, produced)
    promised, delivered = _delivery(rng, cal, team, day)
    cols = {
        "run_id": fmt_ids("RUN", np.arange(1, m + 1), 8),
        "line_id": np.array(teams)[team],
        "product_id": products.ids[product],
        "started_at": started,
        "finished_at": finished,
        "planned_qty": planned,
        "produced_qty": produced,
        "defective_qty": defective,
        "promised_date": promised,
        "delivered_date": delivered,
    }
    return cols, day


def _defective(rng: np.random.Generator, plan: AnomalyPlan, team: np.ndarray, day: np.ndarray,
               produced: np.ndarray) -> np.ndarray:
    """Defective quantities at the line's pass rate; inside a pass-rate anomaly exactly the anomaly's rate."""
    pass_rate = np.array([UNIT_BY_ID[t].params["pass_rate"] for t in PRODUCTION_TEAMS])
    defective = rng.binomial(produced, 1.0 - pass_rate[team])
    fac = plan.factors("quality_pass_rate", PRODUCTION_TEAMS)[team, day]
    anom = ~np.isnan(fac)
    target_pass = np.clip(pass_rate[team] * np.nan_to_num(fac), 0.0, 1.0)
    return np.where(anom, np.round(produced * (1.0 - target_pass)).astype(np.int64), defective)


def _delivery(rng: np.random.Generator, cal: Calendar, team: np.ndarray,
              day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Promised and delivered day numbers (NAT: not delivered by the end of the window)."""
    m = team.size
    on_time = np.array([UNIT_BY_ID[t].params["on_time"] for t in PRODUCTION_TEAMS])
    finish_day = cal.day0 + day
    promised = finish_day + rng.integers(1, 8, m)
    ok = rng.random(m) < on_time[team]
    delivered = np.where(ok, np.maximum(finish_day, promised - rng.integers(0, 4, m)),
                         promised + rng.integers(1, 7, m))
    last_day = cal.day0 + cal.n - 1
    return promised, np.where(delivered > last_day, NAT, delivered)


def _defect_rows(d_rng: np.random.Generator, cal: Calendar, cols: dict[str, np.ndarray], bounds: np.ndarray,
                 rel_root: Path, defects: DefectLog) -> dict[int, list[dict]]:
    """Day index -> extra runs: a negative quantity, an unknown line, more defective than produced."""
    candidates = [i for i in range(min(3, cal.n - 1), cal.n) if bounds[i + 1] > bounds[i]]
    extra: dict[int, list[dict]] = {}
    for j, (defect, field) in enumerate([("negative_quantity", "produced_qty"), ("orphan_fk", "line_id"),
                                         ("out_of_range", "defective_qty")]):
        if not candidates:
            break
        di = candidates[int(d_rng.integers(len(candidates)))]
        src = int(bounds[di])
        row = {c: v[src] for c, v in cols.items()}
        row["run_id"] = f"RUN9{j + 1:07d}"
        if defect == "negative_quantity":
            row["produced_qty"] = -row["produced_qty"]
            row["defective_qty"] = 0
        elif defect == "orphan_fk":
            row["line_id"] = "TM-XX-9"
        else:
            row["defective_qty"] = row["produced_qty"] + 5
        extra.setdefault(di, []).append(row)
        defects.add("mes", "production_runs", cal.date_of(di).isoformat(),
                    (rel_root / f"production_runs_{cal.date_of(di):%Y%m%d}.parquet").as_posix(), row["run_id"],
                    field, defect)
    return extra


def _table(part: dict[str, np.ndarray]) -> pa.Table:
    arrays = []
    for field in SCHEMA:
        vals = part[field.name]
        if field.name in ("started_at", "finished_at"):
            arr = pa.array(vals.astype(np.int64) * 1_000_000, type=pa.int64()).cast(field.type)
        elif field.name in ("promised_date", "delivered_date"):
            v = vals.astype(np.int64)
            arr = pa.array(np.where(v == NAT, 0, v).astype(np.int32), type=pa.int32(), mask=v == NAT).cast(
                field.type)
        elif pa.types.is_integer(field.type):
            arr = pa.array(vals.astype(np.int64), type=field.type)
        else:
            arr = pa.array(vals.astype(str).tolist() if len(vals) else [], type=field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
