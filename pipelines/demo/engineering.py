"""Engineering: issue-tracker bugs and CI releases, JSON lines per local day (UTC timestamps, ``Z``).

A bug appears in the file of the day it was created and again on the day it was resolved (fixed or
won't fix); the latest file wins. Bug rate = bugs created / test cases executed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .anomalies import AnomalyPlan
from .business_calendar import Calendar
from .common import DAY, HOUR, NAT, Clock, atomic_write_bytes, choice_by_weights, fmt_ids, fmt_ts, rng_for
from .company import BUGS_PER_DAY, RELEASES_PER_DAY, RND_TEAMS, UNIT_BY_ID
from .defects import DefectLog
from .volumes import day_noise, team_lambda

SEVERITIES = np.array(["S1", "S2", "S3", "S4"])
SEVERITY_P = np.array([0.03, 0.15, 0.50, 0.32])
HOUR_W = np.array([0.1, 0.05, 0, 0, 0, 0, 0.1, 0.3, 1.5, 5, 7, 7, 4, 6, 7, 7, 6, 5, 3, 2, 1.5, 1, 0.6, 0.3])
RELEASE_HOUR_W = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 1, 2, 3, 4, 4, 3, 2, 1, 0.5, 0.2, 0, 0])


@dataclass
class EngineeringResult:
    files: dict[str, int]
    bugs: int
    bug_rows: int
    releases: int
    defects: DefectLog


def _iso_z(utc: np.ndarray) -> list:
    s = fmt_ts(utc, sep="T", suffix="Z")
    out = s.astype(object)
    out[np.asarray(utc) == NAT] = None
    return out.tolist()


@dataclass
class _Releases:
    team: np.ndarray  # index into RND_TEAMS, in release order
    day: np.ndarray  # calendar day index
    utc: np.ndarray
    ids: np.ndarray
    lines: list[str]  # one JSON line per release


@dataclass
class _BugRows:
    lines: list[str]  # one JSON line per bug and day it appears
    day: np.ndarray  # local day number of each line
    bugs: int


def generate_engineering(cal: Calendar, default_cal: Calendar, clock: Clock, seed: int, plan: AnomalyPlan,
                         landing: Path, rel_root: Path) -> EngineeringResult:
    snapshot_local = (cal.day0 + cal.n) * DAY - 1
    snapshot = clock.to_utc(np.array([snapshot_local]))[0]
    releases = _draw_releases(rng_for(seed, "engineering"), cal, default_cal, clock)
    bugs = _draw_bugs(rng_for(seed, "engineering", "bugs"), cal, default_cal, clock, plan, releases, snapshot)
    defects = DefectLog()
    files = _write_days(rng_for(seed, "engineering", "defects"), cal, releases, bugs, landing, rel_root, defects)
    return EngineeringResult(files, bugs.bugs, len(bugs.lines), releases.team.size, defects)


def _draw_releases(rng: np.random.Generator, cal: Calendar, default_cal: Calendar, clock: Clock) -> _Releases:
    """CI releases per team and day, with test cases sized so bugs / test cases is the team's bug rate."""
    teams = RND_TEAMS
    nt = len(teams)
    lam_rel = team_lambda(cal, default_cal, teams, "rnd_release", RELEASES_PER_DAY)
    n_rel = rng.poisson(lam_rel)
    r_team = np.repeat(np.repeat(np.arange(nt), cal.n), n_rel.ravel())
    r_day = np.repeat(np.tile(np.arange(cal.n), nt), n_rel.ravel())
    nr = r_team.size
    r_local = (cal.day0 + r_day) * DAY + choice_by_weights(rng, RELEASE_HOUR_W, nr) * HOUR + rng.integers(0, HOUR, nr)
    o = np.lexsort((r_team, r_local))
    r_team, r_day, r_local = r_team[o], r_day[o], r_local[o]
    r_utc = clock.to_utc(r_local)
    lam_bug_default = team_lambda(default_cal, default_cal, teams, "rnd_bugs", BUGS_PER_DAY).mean(axis=1)
    lam_rel_default = team_lambda(default_cal, default_cal, teams, "rnd_release", RELEASES_PER_DAY).mean(axis=1)
    bug_rate = np.array([UNIT_BY_ID[t].params["bug_rate"] for t in teams])
    cases_mean = lam_bug_default / (bug_rate * lam_rel_default)
    cases = np.round(cases_mean[r_team] * rng.uniform(0.7, 1.3, nr)).astype(np.int64)
    failed = rng.binomial(cases, 0.012)
    changes = 5 + rng.poisson(25, nr)
    ordinal = np.zeros(nr, dtype=np.int64)
    for ti in range(nt):
        idx = np.flatnonzero(r_team == ti)
        ordinal[idx] = np.arange(len(idx))
    version = [f"{teams[t].split('-', 1)[1].lower()}-{2 + k // 60}.{(k // 10) % 6}.{k % 10}"
               for t, k in zip(r_team.tolist(), ordinal.tolist(), strict=True)]
    rel_ids = fmt_ids("REL-", np.arange(1, nr + 1), 5)
    rel_recs = [
        {"release_id": rid, "team_id": teams[t], "released_at": ts, "version": v, "test_cases_executed": c,
         "test_cases_failed": f, "change_count": ch}
        for rid, t, ts, v, c, f, ch in zip(rel_ids.tolist(), r_team.tolist(), _iso_z(r_utc), version,
                                           cases.tolist(), failed.tolist(), changes.tolist(), strict=True)
    ]
    return _Releases(r_team, r_day, r_utc, rel_ids, [json.dumps(r, ensure_ascii=False) for r in rel_recs])


def _draw_bugs(b_rng: np.random.Generator, cal: Calendar, default_cal: Calendar, clock: Clock, plan: AnomalyPlan,
               releases: _Releases, snapshot: int) -> _BugRows:
    """Bugs per team and day (the planned anomalies included), each linked to the team's latest release."""
    teams = RND_TEAMS
    nt = len(teams)
    lam = team_lambda(cal, default_cal, teams, "rnd_bugs", BUGS_PER_DAY)
    counts = b_rng.poisson(lam * day_noise(b_rng, lam.shape))
    fac = plan.factors("bugs_reported", teams)
    counts = np.where(np.isnan(fac), counts, np.round(lam * np.nan_to_num(fac))).astype(np.int64)
    team = np.repeat(np.repeat(np.arange(nt), cal.n), counts.ravel())
    day = np.repeat(np.tile(np.arange(cal.n), nt), counts.ravel())
    m = team.size
    local = (cal.day0 + day) * DAY + choice_by_weights(b_rng, HOUR_W, m) * HOUR + b_rng.integers(0, HOUR, m)
    o = np.lexsort((team, local))
    team, day, local = team[o], day[o], local[o]
    created = clock.to_utc(local)
    sev = SEVERITIES[choice_by_weights(b_rng, SEVERITY_P, m)]
    comps = [UNIT_BY_ID[t].params["components"] for t in teams]
    cu = b_rng.random(m)
    component = np.array([comps[t][int(c * len(comps[t]))] for t, c in zip(team.tolist(), cu.tolist(),
                                                                          strict=True)], dtype=object)
    # the team's latest release before the bug (70 % of bugs are linked)
    release = np.where(b_rng.random(m) < 0.7, _latest_release(team, created, releases), -1)
    outcome = choice_by_weights(b_rng, np.array([0.75, 0.10, 0.15]), m)  # fixed, wontfix, stays open
    days_to = np.exp(b_rng.normal(np.log(np.where(outcome == 1, 10.0, 5.0)), 0.8))
    resolved = created + (days_to * DAY).astype(np.int64)
    resolved = np.where((outcome == 2) | (resolved > snapshot), NAT, resolved)
    final_status = np.where(resolved == NAT, "open", np.where(outcome == 1, "wontfix", "fixed"))
    c_day = clock.to_local(created) // DAY
    res_day = np.where(resolved == NAT, NAT, clock.to_local(np.where(resolved == NAT, 0, resolved)) // DAY)
    bug_ids = fmt_ids("BUG-", np.arange(1, m + 1), 6)
    # rows: creation day (state then) + resolution day (final state)
    same = res_day == c_day
    row_bug = np.concatenate([np.arange(m), np.flatnonzero((resolved != NAT) & ~same)])
    row_day = np.concatenate([c_day, res_day[(resolved != NAT) & ~same]])
    row_final = np.concatenate([same & (resolved != NAT), np.ones(row_bug.size - m, dtype=bool)])
    o = np.lexsort((row_bug, row_day))
    row_bug, row_day, row_final = row_bug[o], row_day[o], row_final[o]
    created_s = _iso_z(created)
    resolved_s = _iso_z(resolved)
    rel_list = releases.ids.tolist()
    bug_lines = [
        json.dumps({"bug_id": bug_ids[b], "created_at": created_s[b], "team_id": teams[team[b]],
                    "severity": sev[b], "component": component[b],
                    "release_id": rel_list[release[b]] if release[b] >= 0 else None,
                    "status": final_status[b] if fin else "open", "resolved_at": resolved_s[b] if fin else None},
                   ensure_ascii=False)
        for b, fin in zip(row_bug.tolist(), row_final.tolist(), strict=True)
    ]
    return _BugRows(bug_lines, row_day, m)


def _latest_release(team: np.ndarray, created: np.ndarray, releases: _Releases) -> np.ndarray:
    """The index of the team's latest release before each bug (-1: none yet)."""
    release = np.full(team.size, -1, dtype=np.int64)
    for ti in range(len(RND_TEAMS)):
        rows = np.flatnonzero(team == ti)
        rel_idx = np.flatnonzero(releases.team == ti)
        if rows.size == 0 or rel_idx.size == 0:
            continue
        pos = np.searchsorted(releases.utc[rel_idx], created[rows], side="right") - 1
        release[rows] = np.where(pos >= 0, rel_idx[np.maximum(pos, 0)], -1)
    return release


def _write_days(d_rng: np.random.Generator, cal: Calendar, releases: _Releases, bugs: _BugRows, landing: Path,
                rel_root: Path, defects: DefectLog) -> dict[str, int]:
    """A bugs and a releases file per day; one bugs file ends in a cut-off line, one release fails too many tests."""
    files: dict[str, int] = {}
    b_bounds = np.searchsorted(bugs.day, cal.day_numbers[0] + np.arange(cal.n + 1))
    r_bounds = np.searchsorted(releases.day, np.arange(cal.n + 1))
    bad_bug_day = int(d_rng.integers(min(3, cal.n - 1), cal.n))
    bad_rel_days = [i for i in range(cal.n) if r_bounds[i + 1] > r_bounds[i]]
    bad_rel_day = bad_rel_days[int(d_rng.integers(len(bad_rel_days)))] if bad_rel_days else None
    for di in range(cal.n):
        d = cal.date_of(di)
        body = bugs.lines[int(b_bounds[di]):int(b_bounds[di + 1])]
        name = f"bugs_{d:%Y%m%d}.jsonl"
        rel = (rel_root / name).as_posix()
        if di == bad_bug_day:
            body.append('{"bug_id": "BUG-999001", "created_at": "' + d.isoformat() + 'T03:00:00Z", "team_id": ')
            defects.add("engineering", "bugs", d.isoformat(), rel, f"row={len(body)}", "", "unparsable")
        atomic_write_bytes(landing / name, "".join(x + "\n" for x in body).encode("utf-8"))
        files[rel] = len(body)

        body = releases.lines[int(r_bounds[di]):int(r_bounds[di + 1])]
        name = f"releases_{d:%Y%m%d}.jsonl"
        rel = (rel_root / name).as_posix()
        if di == bad_rel_day:
            bad = json.loads(body[0])
            bad.update(release_id="REL-99001", test_cases_failed=bad["test_cases_executed"] + 10)
            body.append(json.dumps(bad, ensure_ascii=False))
            defects.add("engineering", "releases", d.isoformat(), rel, "REL-99001", "test_cases_failed",
                        "out_of_range")
        atomic_write_bytes(landing / name, "".join(x + "\n" for x in body).encode("utf-8"))
        files[rel] = len(body)
    return files
