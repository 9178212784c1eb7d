"""Customer survey (NPS): one JSON-lines dump per local day, timestamps with the local UTC offset."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .business_calendar import Calendar
from .common import (
    DAY,
    HOUR,
    Clock,
    atomic_write_bytes,
    choice_by_weights,
    fmt_ids,
    fmt_offset,
    fmt_ts,
    rng_for,
)
from .company import SALES_TEAMS, SURVEYS_PER_DAY
from .defects import DefectLog
from .erp import Customers
from .volumes import day_noise, team_lambda

TOUCHPOINTS = np.array(["purchase", "delivery", "installation", "support", "renewal"])
TOUCHPOINT_P = np.array([0.3, 0.25, 0.1, 0.25, 0.1])
#: per account team: (share of promoters, share of detractors) -> NPS 30..60
NPS_MIX = {
    "TM-SE-1": (0.64, 0.10), "TM-SE-2": (0.58, 0.13), "TM-SE-3": (0.55, 0.15), "TM-SN-1": (0.60, 0.12),
    "TM-SN-2": (0.62, 0.09), "TM-SN-3": (0.52, 0.17), "TM-SS-1": (0.57, 0.14), "TM-SS-2": (0.52, 0.17),
    "TM-SO-1": (0.66, 0.08), "TM-SO-2": (0.61, 0.12),
}
COMMENTS = {
    "promoter": ["产品质量稳定，服务专业", "工程师响应很快，点赞", "数据准确，操作方便", "会推荐给同行"],
    "passive": ["整体还可以", "价格略高", "交付周期有点长", "希望软件界面更友好"],
    "detractor": ["售后响应太慢", "设备故障率偏高", "发票问题拖了很久", "培训不到位，使用困难"],
}
HOUR_W = np.array([0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 1, 3, 6, 8, 8, 6, 7, 8, 8, 7, 6, 5, 5, 5, 4, 3, 1])


@dataclass
class SurveyResult:
    files: dict[str, int]
    rows: int
    defects: DefectLog


def generate_survey(cal: Calendar, default_cal: Calendar, clock: Clock, seed: int, scale: float,
                    customers: Customers, landing: Path, rel_root: Path) -> SurveyResult:
    lines, day = _draw_responses(rng_for(seed, "survey"), cal, default_cal, clock, scale, customers)
    defects = DefectLog()
    bounds = np.searchsorted(day, np.arange(cal.n + 1))
    extra = _defect_lines(rng_for(seed, "survey", "defects"), cal, lines, bounds)
    files: dict[str, int] = {}
    for di in range(cal.n):
        d = cal.date_of(di)
        body = lines[int(bounds[di]):int(bounds[di + 1])]
        name = f"nps_{d:%Y%m%d}.jsonl"
        rel = (rel_root / name).as_posix()
        for text, key, field, defect in extra.get(di, []):
            body.append(text)
            defects.add("survey", "nps_responses", d.isoformat(), rel, key or f"row={len(body)}", field, defect)
        atomic_write_bytes(landing / name, "".join(x + "\n" for x in body).encode("utf-8"))
        files[rel] = len(body)
    return SurveyResult(files, int(day.size), defects)


def _draw_responses(rng: np.random.Generator, cal: Calendar, default_cal: Calendar, clock: Clock, scale: float,
                    customers: Customers) -> tuple[list[str], np.ndarray]:
    """One JSON line per response (in submission order), and the calendar day index of each."""
    teams = SALES_TEAMS
    nt = len(teams)
    lam = team_lambda(cal, default_cal, teams, "service", SURVEYS_PER_DAY * scale)
    counts = rng.poisson(lam * day_noise(rng, lam.shape))
    team = np.repeat(np.repeat(np.arange(nt), cal.n), counts.ravel())
    day = np.repeat(np.tile(np.arange(cal.n), nt), counts.ravel())
    m = team.size
    local = (cal.day0 + day) * DAY + choice_by_weights(rng, HOUR_W, m) * HOUR + rng.integers(0, HOUR, m)
    order = np.lexsort((team, local))
    team, day, local = team[order], day[order], local[order]
    utc = clock.to_utc(local)
    customer = _respondents(rng.random(m), team, utc, customers)
    score, bucket = _scores(rng, team)
    comment = _comments(rng, bucket)
    touch = TOUCHPOINTS[choice_by_weights(rng, TOUCHPOINT_P, m)]
    offsets = fmt_offset(local - utc)
    submitted = np.strings.add(fmt_ts(local, sep="T"), offsets)
    ids = fmt_ids("NPS", np.arange(1, m + 1), 8)
    recs = {
        "response_id": ids.tolist(),
        "submitted_at": submitted.tolist(),
        "customer_id": customers.ids[customer].tolist(),
        "account_team_id": np.array(teams)[team].tolist(),
        "score": score.tolist(),
        "touchpoint": touch.tolist(),
        "comment": comment.tolist(),
    }
    lines = [json.dumps(dict(zip(recs, vals, strict=True)), ensure_ascii=False)
             for vals in zip(*recs.values(), strict=True)]
    return lines, day


def _respondents(u: np.ndarray, team: np.ndarray, utc: np.ndarray, customers: Customers) -> np.ndarray:
    """A customer of the response's account team who existed at the time."""
    customer = np.zeros(team.size, dtype=np.int64)
    for ti in range(len(SALES_TEAMS)):
        pool = np.flatnonzero(customers.team == ti)
        rows = np.flatnonzero(team == ti)
        if pool.size == 0 or rows.size == 0:
            continue
        elig = np.maximum(np.searchsorted(customers.created_utc[pool], utc[rows], side="right"), 1)
        customer[rows] = pool[np.minimum((u[rows] * elig).astype(np.int64), elig - 1)]
    return customer


def _scores(rng: np.random.Generator, team: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores 0..10 at the team's promoter / detractor mix, and each one's bucket."""
    m = team.size
    mix = np.array([NPS_MIX[t] for t in SALES_TEAMS])
    g = rng.random(m)
    is_prom = g < mix[team, 0]
    is_det = g >= 1 - mix[team, 1]
    s = rng.random(m)
    score = np.where(is_prom, np.where(s < 0.55, 9, 10),
                     np.where(is_det, np.minimum(6, (s ** 0.6 * 7).astype(np.int64)), np.where(s < 0.45, 7, 8)))
    bucket = np.where(is_prom, "promoter", np.where(is_det, "detractor", "passive"))
    return score, bucket


def _comments(rng: np.random.Generator, bucket: np.ndarray) -> np.ndarray:
    """A comment that fits the bucket on 60 % of the responses (None on the others)."""
    m = bucket.size
    has_comment = rng.random(m) < 0.6
    cu = rng.random(m)
    comment = np.empty(m, dtype=object)
    for b, opts in COMMENTS.items():
        mask = bucket == b
        comment[mask] = np.array(opts, dtype=object)[(cu[mask] * len(opts)).astype(np.int64)]
    comment[~has_comment] = None
    return comment


def _defect_lines(d_rng: np.random.Generator, cal: Calendar, lines: list[str],
                  bounds: np.ndarray) -> dict[int, list[tuple[str, str, str, str]]]:
    """Day index -> extra lines (text, key, field, defect): truncated lines, a score of 11, a null id."""
    extra: dict[int, list[tuple[str, str, str, str]]] = {}
    candidates = [i for i in range(min(3, cal.n - 1), cal.n) if bounds[i + 1] > bounds[i]]
    for j, (defect, field) in enumerate([("unparsable", ""), ("unparsable", ""), ("out_of_range", "score"),
                                         ("null_key", "response_id")]):
        if not candidates:
            break
        di = candidates[int(d_rng.integers(len(candidates)))]
        src = json.loads(lines[int(bounds[di])])
        key = f"NPS9{j + 1:07d}"
        if defect == "unparsable":
            text = json.dumps({**src, "response_id": key}, ensure_ascii=False)[:-12]  # truncated export
            key = ""
        elif defect == "out_of_range":
            text = json.dumps({**src, "response_id": key, "score": 11}, ensure_ascii=False)
        else:
            text = json.dumps({**src, "response_id": None}, ensure_ascii=False)
            key = ""
        extra.setdefault(di, []).append((text, key, field, defect))
    return extra
