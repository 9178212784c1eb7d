"""Benchmark: the anomaly detectors against two simple references — the trailing mean ± 3σ
baseline (14 points) and a rolling median ± MAD z-score (30 points) — on the demo company and on
real labelled series it was not built around, and the forecast's back-test (80 % interval coverage,
Brier score of the probability vs a 'pace so far' baseline).

Not a timed test: a script that prints a Markdown report and writes it, with a JSON twin, to
``benchmarks/out/`` (git-ignored).

    # the real demo company (a built warehouse and the generator's ground truth) and the Microsoft
    # Cloud Monitoring Dataset (score_series, one setting for every series)
    python benchmarks/anomaly_benchmark.py --warehouse data/warehouse/warehouse.duckdb \\
        --ground-truth data/ground_truth/anomalies.csv \\
        --cloud-monitoring ../shared/benchmarks/cloud-monitoring
    # simulated series like the demo company's (benchmarks/synthetic_series.py)
    python benchmarks/anomaly_benchmark.py --synthetic --seeds 101 102 103 104 105

Labelled real series (``--cloud-monitoring``; ``data/<domain>/<series>.csv`` with
``TimeStamp,Value,Label``): each point is one period, a run of label-1 points one event, a run of
flagged points (no gap) one detected event; the flagged share is measured on the series without any
labelled anomaly. ``score_series`` gets the timestamps and values only.

Event-level scoring (pipelines/analytics/evaluation.py): a true event is found when ≥ 1 flag falls
in [start_date, end_date]; a detected (collapsed) event that overlaps no true event is a false
alarm. Series evaluated: every (kpi, org unit) of the ground truth, plus as many clean series of
the same KPIs at sibling units (same parent; other units of the KPI when there are not enough).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from references import rolling_median_mad, trailing_mean_sigma  # noqa: E402

from pipelines.analytics.anomaly import DetectorParams, detect_frame  # noqa: E402
from pipelines.analytics.evaluation import (  # noqa: E402
    event_scores,
    magnitude_bucket,
    match_events,
    scores_by,
)
from pipelines.analytics.marts import measure_segments  # noqa: E402
from pipelines.analytics.score import regular_grid, score_panel  # noqa: E402

KEYS = ["kpi_id", "org_unit_id"]
#: measure types whose values are counts (scored by the count model, like the kpi_anomalies mart)
COUNT_MEASURES = ("count", "count_distinct")


@dataclass
class BenchInput:
    """What the benchmark needs, from a warehouse or from the simulation."""

    name: str
    daily: pd.DataFrame  # kpi_id, org_unit_id, date, value, numerator, denominator
    truth: pd.DataFrame  # anomaly_id, kpi_id, org_unit_id, kind, start_date, end_date, magnitude
    calendar: pd.DataFrame  # date, is_holiday, is_workday
    kpis: pd.DataFrame  # kpi_id, name, direction, measure_type, unit, is_additive
    parents: dict[str, str | None]  # org unit -> parent (siblings)
    periods: pd.DataFrame | None = None  # kpi_id, org_unit_id, grain, period_start, period_end, actual_value
    targets: pd.DataFrame | None = None  # kpi_id, org_unit_id, grain, period_start, target_value, ...
    #: ground-truth events that fall in the warm-up of a new series segment (see warmup_events)
    warmup: pd.DataFrame | None = None
    #: kpi_definitions rows (every version), for the KPIs' possible ranges
    definitions: pd.DataFrame | None = None


# --- inputs ---------------------------------------------------------------------------------------


def load_warehouse(path: Path, ground_truth: Path) -> BenchInput:
    """Read the marts of a built warehouse (read-only) and the ground-truth CSV."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        daily = con.execute(
            "select kpi_id, org_unit_id, period_start as date, actual_value as value, numerator, denominator, "
            "is_verified, kpi_version from marts.kpi_actuals where grain = 'day'"
        ).df()
        versions = con.execute("select * from marts.kpi_definitions").df()
        cal = con.execute("select date_day as date, is_holiday, is_workday from marts.dim_date").df()
        kpis = con.execute(
            "select kpi_id, name, direction, measure_type, unit, is_additive from marts.kpi_definitions "
            "where is_current"
        ).df()
        org = con.execute(
            "select org_unit_id, parent_org_unit_id from marts.dim_org_unit where is_current"
        ).df()
        periods = con.execute(
            "select kpi_id, org_unit_id, grain, period_start, period_end, actual_value, numerator, denominator, "
            "is_complete from marts.kpi_actuals where grain in ('month', 'quarter', 'year')"
        ).df()
        targets = con.execute(
            "select kpi_id, org_unit_id, grain, period_start, period_end, target_value, target_low, target_high "
            "from marts.kpi_targets"
        ).df()
    finally:
        con.close()
    truth = pd.read_csv(ground_truth)
    # as the kpi_anomalies mart: a KPI version that changes the measure starts a new series
    segs = measure_segments(versions)
    daily = daily.merge(segs, left_on=["kpi_id", "kpi_version"], right_on=["kpi_id", "version"], how="left")
    daily["segment"] = daily["segment"].fillna(0).astype(int)
    daily = daily.drop(columns=["version"])
    return BenchInput(
        name=f"warehouse {path}", daily=daily, truth=truth, calendar=cal, kpis=kpis,
        parents=dict(zip(org["org_unit_id"], org["parent_org_unit_id"], strict=True)), periods=periods,
        targets=targets, definitions=versions,
    )


def load_synthetic(seed: int, n_events: int) -> BenchInput:
    from synthetic_series import make_dataset

    d = make_dataset(seed, n_events=n_events)
    parents = {u: u.rsplit("-", 1)[0] for u in d.daily["org_unit_id"].unique()}
    return BenchInput(name=f"synthetic seed {seed}", daily=d.daily, truth=d.truth, calendar=d.calendar,
                      kpis=d.kpis, parents=parents, periods=d.periods, targets=d.targets)


def present_truth(inp: BenchInput) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events whose series exists in the data, events whose series is absent — reported apart).
    Events in the warm-up of a new series segment (:func:`warmup_events`) are in neither."""
    have = inp.daily[KEYS].drop_duplicates()
    truth = inp.truth
    if inp.warmup is not None and len(inp.warmup):
        truth = truth[~truth["anomaly_id"].isin(inp.warmup["anomaly_id"])]
    m = truth.merge(have.assign(_present=True), on=KEYS, how="left")
    present = m["_present"].fillna(False).astype(bool).to_numpy()
    return truth[present].reset_index(drop=True), truth[~present].reset_index(drop=True)


def _keys(inp: BenchInput) -> list[str]:
    return KEYS + ["segment"] if "segment" in inp.daily.columns else KEYS


def warmup_events(inp: BenchInput, series: pd.DataFrame) -> pd.DataFrame:
    """Ground-truth events that lie entirely in the warm-up of a *later* series segment — a KPI
    version that changed the measure restarts the series in ``kpi_anomalies`` (a different formula
    is not an anomaly), and the detector says "not enough history" until the new segment has its
    minimum history. No detector can judge them; they are reported apart, for both detectors."""
    if "segment" not in inp.daily.columns or not (inp.daily["segment"] > 0).any():
        return inp.truth.iloc[0:0]
    data = inp.daily.merge(series, on=KEYS)
    data = data[data["segment"] > 0]
    if data.empty:
        return inp.truth.iloc[0:0]
    directions = dict(zip(inp.kpis["kpi_id"], inp.kpis["direction"], strict=True))
    res = detect_frame(data, keys=_keys(inp), date_col="date", value_col="value", freq="D", direction=directions,
                       calendar=inp.calendar, numerator_col="numerator", denominator_col="denominator",
                       counts=_counts(inp))
    pts = res.points()
    seg = pts.groupby(_keys(inp)).agg(seg_start=("date", "min")).reset_index()
    judged = pts[pts["status"].isin(["ok", "anomaly"])].groupby(_keys(inp)).agg(first_judged=("date", "min"))
    seg = seg.merge(judged.reset_index(), on=_keys(inp), how="left")
    seg["first_judged"] = seg["first_judged"].fillna(pd.Timestamp.max)
    t = inp.truth.merge(seg, on=KEYS)
    s_, e_ = pd.to_datetime(t["start_date"]), pd.to_datetime(t["end_date"])
    inside = (s_ >= t["seg_start"]) & (e_ < t["first_judged"])
    return inp.truth[inp.truth["anomaly_id"].isin(t.loc[inside, "anomaly_id"])].reset_index(drop=True)


def _counts(inp: BenchInput) -> dict[str, bool]:
    return {k: m in COUNT_MEASURES for k, m in zip(inp.kpis["kpi_id"], inp.kpis["measure_type"], strict=True)}


def select_series(inp: BenchInput) -> pd.DataFrame:
    """The ground truth's series plus as many clean series of the same KPIs at sibling units:
    leaf units (no children — a parent's series contains its children's anomalies) with the same
    parent first, then other leaf units of the KPI."""
    truth, _ = present_truth(inp)
    gt = truth[KEYS].drop_duplicates()
    have = inp.daily[KEYS].drop_duplicates()
    parents_of_someone = {p for p in inp.parents.values() if p}
    chosen = [gt]
    taken = set(map(tuple, gt.to_numpy()))
    for kpi, g in gt.groupby("kpi_id"):
        need = len(g)
        units = {u for u in have.loc[have["kpi_id"] == kpi, "org_unit_id"] if u not in parents_of_someone}
        parents = {inp.parents.get(u) for u in g["org_unit_id"]}
        siblings = sorted(u for u in units if inp.parents.get(u) in parents and (kpi, u) not in taken)
        others = sorted(u for u in units if u not in siblings and (kpi, u) not in taken)
        pick = (siblings + others)[:need]
        chosen.append(pd.DataFrame({"kpi_id": kpi, "org_unit_id": pick}))
        taken |= {(kpi, u) for u in pick}
    return pd.concat(chosen, ignore_index=True).drop_duplicates()


# --- anomaly evaluation -----------------------------------------------------------------------------


def run_detector(inp: BenchInput, series: pd.DataFrame, detector: str,
                 params: DetectorParams | None = None) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    data = inp.daily.merge(series, on=KEYS)
    directions = dict(zip(inp.kpis["kpi_id"], inp.kpis["direction"], strict=True))
    t0 = time.perf_counter()
    res = detect_frame(data, keys=_keys(inp), date_col="date", value_col="value", freq="D", direction=directions,
                       calendar=inp.calendar, params=params, detector=detector, numerator_col="numerator",
                       denominator_col="denominator", counts=_counts(inp))
    return res.flags, res.events, time.perf_counter() - t0


def evaluate(inp: BenchInput, series: pd.DataFrame, detector: str, params: DetectorParams | None = None) -> dict:
    flags, events, secs = run_detector(inp, series, detector, params)
    truth, absent = present_truth(inp)
    truth = truth.copy()
    truth["magnitude_bucket"] = magnitude_bucket(truth["magnitude"])
    tm, dm = match_events(truth, flags, events)
    overall = event_scores(tm, dm)
    return {
        "overall": overall.as_dict(),
        "clean_flagged_share": clean_flagged_share(inp, series, flags),
        "by_kind": scores_by(tm, dm, "kind", "kind").to_dict("records"),
        "by_magnitude": scores_by(tm, dm, "magnitude_bucket").to_dict("records"),
        "by_kpi": scores_by(tm, dm.assign(kpi=dm["kpi_id"]) if len(dm) else dm.assign(kpi=[]),
                            "kpi_id", "kpi_id").to_dict("records"),
        "seconds": secs,
        "series": int(len(series)),
        "absent_events": absent.astype(str).to_dict("records"),
        "warmup_events": (inp.warmup if inp.warmup is not None else inp.truth.iloc[0:0]).astype(str)
        .to_dict("records"),
        "missed": tm.loc[~tm["found"], ["anomaly_id", "kpi_id", "org_unit_id", "kind", "start_date", "end_date",
                                        "magnitude"]].astype(str).to_dict("records"),
        "false_alarms": dm.loc[dm["is_false_alarm"], KEYS + ["start_date", "end_date", "kind", "score"]]
        .astype(str).to_dict("records"),
    }


def _sum_counts(rows: list[dict]) -> dict:
    """Pool event counts over several inputs (seeds) and recompute the rates."""
    from pipelines.analytics.evaluation import EventScores

    tot = EventScores(sum(r["true_events"] for r in rows), sum(r["found"] for r in rows),
                      sum(r["detected_events"] for r in rows), sum(r["false_alarms"] for r in rows))
    return tot.as_dict()


def _pool_groups(results: list[dict], key: str) -> list[dict]:
    frames = [pd.DataFrame(r[key]) for r in results if r[key]]
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True)
    cols = [c for c in ("true_events", "found", "detected_events", "false_alarms") if c in df.columns]
    g = df.groupby("group", as_index=False)[cols].sum()
    out = []
    for r in g.to_dict("records"):
        if "detected_events" in r:
            out.append({"group": r["group"], **_sum_counts([r])})
        else:
            out.append({"group": r["group"], "true_events": r["true_events"], "found": r["found"],
                        "recall": r["found"] / r["true_events"] if r["true_events"] else float("nan")})
    return out


def pooled(results: list[dict]) -> dict:
    return {
        "overall": _sum_counts([r["overall"] for r in results]),
        "clean_flagged_share": float(np.nanmean([r.get("clean_flagged_share", np.nan) for r in results])),
        "by_kind": _pool_groups(results, "by_kind"),
        "by_magnitude": _pool_groups(results, "by_magnitude"),
        "by_kpi": _pool_groups(results, "by_kpi"),
        "seconds": sum(r["seconds"] for r in results),
        "series": sum(r["series"] for r in results),
        "absent_events": [e for r in results for e in r.get("absent_events", [])],
        "warmup_events": [e for r in results for e in r.get("warmup_events", [])],
    }


# --- point detectors on plain series (the two references, score_series) ---------------------------


@dataclass
class LabelledSeries:
    name: str
    timestamps: pd.Index
    values: np.ndarray
    labels: np.ndarray  # bool per point


def load_cloud_monitoring(root: Path) -> list[LabelledSeries]:
    """``<root>/data/<domain>/<series>.csv`` (``TimeStamp,Value,Label``), sorted by name."""
    files = sorted((root / "data").glob("*/*.csv"))
    if not files:
        raise FileNotFoundError(f"--cloud-monitoring: no data/<domain>/<series>.csv under {root}")
    out = []
    for f in files:
        d = pd.read_csv(f)
        missing = {"TimeStamp", "Value", "Label"} - set(d.columns)
        if missing:
            raise ValueError(f"{f}: column(s) {sorted(missing)} missing (need TimeStamp, Value, Label)")
        ts = pd.DatetimeIndex(pd.to_datetime(d["TimeStamp"], utc=True)).tz_localize(None)
        out.append(LabelledSeries(f"{f.parent.name}/{f.stem}", ts, d["Value"].to_numpy(dtype=float),
                                  d["Label"].to_numpy() == 1))
    return out


def _runs(mask: np.ndarray, gap: int = 0) -> list[tuple[int, int]]:
    idx = np.nonzero(mask)[0]
    if idx.size == 0:
        return []
    br = np.nonzero(np.diff(idx) > gap + 1)[0]
    return list(zip(np.r_[idx[0], idx[br + 1]].tolist(), np.r_[idx[br], idx[-1]].tolist(), strict=True))


def score_series_flags(series: list[LabelledSeries]) -> tuple[list[np.ndarray], float]:
    """``score_series`` over every series, one panel per sampling step (series padded with missing
    values at the end: causal, so nothing changes). Returns the flags and the seconds it took."""
    flags: list[np.ndarray | None] = [None] * len(series)
    grids = [regular_grid(s.timestamps) for s in series]
    t0 = time.perf_counter()
    by_step: dict[float | None, list[int]] = {}
    for i, (_, step) in enumerate(grids):
        by_step.setdefault(step, []).append(i)
    for step, members in by_step.items():
        t_n = max(int(grids[i][0][-1]) + 1 for i in members)
        vals = np.full((len(members), t_n), np.nan)
        for k, i in enumerate(members):
            vals[k, grids[i][0]] = series[i].values
        res = score_panel(vals, step_seconds=step)
        for k, i in enumerate(members):
            flags[i] = res.flag[k, grids[i][0]]
    return [f for f in flags if f is not None], time.perf_counter() - t0


def point_detector_scores(series: list[LabelledSeries], flags: list[np.ndarray], seconds: float,
                          gap: int = 0) -> dict:
    """Event precision / recall / F1 (a true event is found by a flag inside it; a detected event —
    flags at most ``gap`` points apart — touching no true event is a false alarm) and the share of
    points flagged on the series without any labelled anomaly."""
    from pipelines.analytics.evaluation import EventScores

    t = f = d = fa = 0
    clean_n = clean_f = 0
    per = []
    for sr, fl in zip(series, flags, strict=True):
        fl = np.asarray(fl, dtype=bool)
        true = _runs(sr.labels)
        det = _runs(fl, gap)
        found = sum(1 for a, b in true if fl[a: b + 1].any())
        false = sum(1 for a, b in det if not sr.labels[a: b + 1].any())
        t, f, d, fa = t + len(true), f + found, d + len(det), fa + false
        if not sr.labels.any():
            clean_n += len(fl)
            clean_f += int(fl.sum())
        per.append({"series": sr.name, "true_events": len(true), "found": found, "detected_events": len(det),
                    "false_alarms": false, "flagged_share": float(fl.mean()) if len(fl) else 0.0})
    points = sum(len(sr.values) for sr in series)
    return {**EventScores(t, f, d, fa).as_dict(), "clean_flagged_share": clean_f / clean_n if clean_n else float("nan"),
            "clean_series": sum(1 for sr in series if not sr.labels.any()), "points": points, "seconds": seconds,
            "points_per_second": points / seconds if seconds > 0 else float("nan"), "per_series": per}


def evaluate_labelled(series: list[LabelledSeries]) -> dict[str, dict]:
    """score_series and the two references on labelled series."""
    out = {}
    flags, secs = score_series_flags(series)
    out["score_series"] = point_detector_scores(series, flags, secs)
    for name, fn in (("mean ± 3σ (14)", trailing_mean_sigma), ("median ± MAD (30)", rolling_median_mad)):
        t0 = time.perf_counter()
        fl = [fn(s.values) for s in series]
        out[name] = point_detector_scores(series, fl, time.perf_counter() - t0)
    return out


def demo_reference_results(inp: BenchInput, series: pd.DataFrame) -> dict[str, dict]:
    """The rolling median ± MAD reference and ``score_series`` (no calendar, no counts: what a
    generic detector sees) on the demo's benchmark series, scored like the detectors (events: flags
    of one direction at most two days apart)."""
    data = inp.daily.merge(series, on=KEYS)
    keys = _keys(inp)
    wide = data.pivot_table(index=keys, columns="date", values="value", aggfunc="first")
    dates = pd.date_range(wide.columns.min(), wide.columns.max(), freq="D")
    wide = wide.reindex(columns=dates)
    vals = wide.to_numpy(dtype=float)
    # as the detectors: a series starts at its first non-zero value
    started = np.cumsum(np.nan_to_num(np.abs(vals)) > 0, axis=1) > 0
    vals = np.where(started, vals, np.nan)
    key_frame = wide.index.to_frame(index=False)
    out = {}
    t0 = time.perf_counter()
    ref = np.vstack([rolling_median_mad(v) for v in vals])
    out["median ± MAD (30)"] = (ref, time.perf_counter() - t0)
    t0 = time.perf_counter()
    res = score_panel(vals, step_seconds=86400.0)
    out["score_series (generic)"] = (res.flag, time.perf_counter() - t0)
    truth, _ = present_truth(inp)
    results = {}
    for name, (flag, secs) in out.items():
        s_idx, t_idx = np.nonzero(flag)
        flags = key_frame.iloc[s_idx].reset_index(drop=True)
        flags["date"] = dates[t_idx]
        ev = []
        for s_i in range(len(key_frame)):
            for a, b in _runs(flag[s_i], gap=2):
                ev.append({**key_frame.iloc[s_i].to_dict(), "start_date": dates[a], "end_date": dates[b]})
        events = pd.DataFrame(ev, columns=keys + ["start_date", "end_date"])
        tm, dm = match_events(truth, flags, events)
        clean = ~key_frame.set_index(KEYS).index.isin(truth.set_index(KEYS).index)
        results[name] = {"overall": event_scores(tm, dm).as_dict(), "seconds": secs,
                         "clean_flagged_share": float(flag[clean].sum() / max(np.isfinite(vals[clean]).sum(), 1))}
    return results


def clean_flagged_share(inp: BenchInput, series: pd.DataFrame, flags: pd.DataFrame) -> float:
    """Share of the points of the benchmark's clean series (no ground-truth event) that are flagged."""
    truth, _ = present_truth(inp)
    data = inp.daily.merge(series, on=KEYS)
    clean_keys = series.merge(truth[KEYS].drop_duplicates(), on=KEYS, how="left", indicator=True)
    clean_keys = clean_keys[clean_keys["_merge"] == "left_only"][KEYS]
    pts = data.merge(clean_keys, on=KEYS)
    pts = pts[pts["value"].notna()]
    fl = flags.merge(clean_keys, on=KEYS) if len(flags) else flags
    return len(fl) / len(pts) if len(pts) else float("nan")


# --- report ------------------------------------------------------------------------------------------


def _f(x: object) -> str:
    if isinstance(x, float):
        return "–" if not np.isfinite(x) else f"{x:.3f}"
    return str(x)


def _table(rows: list[dict], cols: list[str]) -> str:
    if not rows:
        return "_none_\n"
    out = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for r in rows:
        out += "| " + " | ".join(_f(r.get(c, "")) for c in cols) + " |\n"
    return out


def summary_rows(report: dict) -> list[dict]:
    """One row per data set and detector: event precision / recall / F1 and the flagged share of the
    clean series."""
    rows = []
    an = report.get("anomaly")
    if an and an["detector"]["series"]:
        entries = [("detector (warehouse, calendar-aware)", an["detector"]), ("mean ± 3σ (14)", an["baseline"])]
        entries += list(an.get("references", {}).items())
        for name, res in entries:
            o = res["overall"]
            rows.append({"data": report["source_short"], "detector": name, "true_events": o["true_events"],
                         "found": o["found"], "detected_events": o["detected_events"], "false_alarms": o["false_alarms"],
                         "precision": o["precision"], "recall": o["recall"], "f1": o["f1"],
                         "clean_flagged_share": res.get("clean_flagged_share", float("nan"))})
    lab = report.get("labelled")
    if lab:
        for name, res in lab["results"].items():
            rows.append({"data": lab["name"], "detector": name, "true_events": res["true_events"], "found": res["found"],
                         "detected_events": res["detected_events"], "false_alarms": res["false_alarms"],
                         "precision": res["precision"], "recall": res["recall"], "f1": res["f1"],
                         "clean_flagged_share": res["clean_flagged_share"]})
    return rows


def markdown_report(report: dict) -> str:
    md = [f"# Anomaly & forecast benchmark — {report['source']}\n",
          f"Generated {report['generated_at']}. Command: `{report['command']}`\n",
          "## Summary (event level)\n",
          _table(summary_rows(report), ["data", "detector", "true_events", "found", "detected_events", "false_alarms",
                                        "precision", "recall", "f1", "clean_flagged_share"]),
          "\n`clean_flagged_share`: share of the points of the series without any true event that are flagged.\n"]
    lab = report.get("labelled")
    if lab:
        res = lab["results"]["score_series"]
        md.append(f"`score_series` on {lab['name']}: {res['points']:,} points in {res['seconds']:.1f} s "
                  f"({res['points_per_second']:,.0f} points/s, one panel per sampling step); "
                  f"{res['clean_series']} series without labelled anomalies.\n")
        md.append("\n### Per series (score_series)\n")
        md.append(_table(res["per_series"], ["series", "true_events", "found", "detected_events", "false_alarms",
                                             "flagged_share"]))
    if not report["anomaly"]["detector"]["series"]:
        return "\n".join(md)
    det, base = report["anomaly"]["detector"], report["anomaly"]["baseline"]
    md.append("## Anomaly detection (event level, daily series)\n")
    md.append(f"Series evaluated: {det['series']} (ground-truth series + as many clean sibling leaf series). "
              f"Detection time: detector {det['seconds']:.2f} s, baseline {base['seconds']:.2f} s.\n")
    if det.get("absent_events"):
        ids = ", ".join(f"{e['anomaly_id']} ({e['kpi_id']} @ {e['org_unit_id']})" for e in det["absent_events"])
        md.append(f"Not scored — the series is absent from the data: {ids}.\n")
    if det.get("warmup_events"):
        ids = ", ".join(f"{e['anomaly_id']} ({e['kpi_id']} @ {e['org_unit_id']}, {e['start_date']})"
                        for e in det["warmup_events"])
        md.append("Not scored — in the warm-up of a new series segment (a KPI version changed the measure, "
                  f"the series restarts as in `kpi_anomalies`; nothing is judged before its minimum history): {ids}. "
                  "Counted as misses, the detector's recall would be "
                  f"{det['overall']['found']}/{det['overall']['true_events'] + len(det['warmup_events'])}.\n")
    cols = ["detector", "true_events", "found", "detected_events", "false_alarms", "precision", "recall", "f1"]
    md.append(_table([{"detector": "robust (this project)", **det["overall"]},
                      {"detector": "baseline mean ± 3σ (14)", **base["overall"]}], cols))
    gain = det["overall"]["f1"] - base["overall"]["f1"]
    md.append(f"\nF1 gain over the baseline: **{gain:+.3f}** (goal: F1 ≥ 0.80 and ≥ +0.15).\n")
    for key, title in (("by_kind", "By kind (recall by true kind; precision by detected kind)"),
                       ("by_kpi", "By KPI")):
        md.append(f"\n### {title}\n")
        rows = []
        for who, res in (("robust", det), ("baseline", base)):
            rows += [{"detector": who, **r} for r in res[key]]
        md.append(_table(rows, ["detector", "group", "true_events", "found", "recall", "detected_events",
                                "false_alarms", "precision", "f1"]))
    md.append("\n### By magnitude (recall)\n")
    rows = []
    for who, res in (("robust", det), ("baseline", base)):
        rows += [{"detector": who, **r} for r in res["by_magnitude"]]
    md.append(_table(rows, ["detector", "group", "true_events", "found", "recall"]))
    fc = report.get("forecast")
    if fc:
        md.append("\n## Forecast back-test\n")
        md.append(fc.get("note", "") + "\n")
        md.append(_table(fc["summary"], list(fc["summary"][0].keys()) if fc["summary"] else []))
        if fc.get("by_grain"):
            md.append("\n### By grain\n")
            md.append(_table(fc["by_grain"], list(fc["by_grain"][0].keys())))
        if fc.get("by_kpi"):
            md.append("\n### By KPI (from month 7)\n")
            md.append(_table(fc["by_kpi"], list(fc["by_kpi"][0].keys())))
        if fc.get("by_elapsed"):
            md.append("\n### By elapsed share of the period\n")
            md.append(_table(fc["by_elapsed"], list(fc["by_elapsed"][0].keys())))
    return "\n".join(md)


def write_outputs(report: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    for path, text in ((md_path, markdown_report(report)), (json_path, json.dumps(report, indent=2, default=str))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return md_path, json_path


# --- main ------------------------------------------------------------------------------------------


def run(inputs: list[BenchInput], source: str, command: str, with_forecast: bool = True,
        labelled: list[LabelledSeries] | None = None, labelled_name: str = "") -> dict:
    det_res, base_res, ref_res, fc_inputs = [], [], [], []
    for inp in inputs:
        series = select_series(inp)
        inp.warmup = warmup_events(inp, series)
        series = select_series(inp)
        det_res.append(evaluate(inp, series, "robust"))
        base_res.append(evaluate(inp, series, "baseline"))
        ref_res.append(demo_reference_results(inp, series))
        fc_inputs.append(inp)
    refs = {name: {"overall": _sum_counts([r[name]["overall"] for r in ref_res]),
                   "seconds": sum(r[name]["seconds"] for r in ref_res),
                   "clean_flagged_share": float(np.nanmean([r[name]["clean_flagged_share"] for r in ref_res]))}
            for name in (ref_res[0] if ref_res else {})}
    report = {
        "source": source,
        "command": command,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "anomaly": {"detector": pooled(det_res), "baseline": pooled(base_res), "references": refs,
                    "per_input": [{"input": i.name, "detector": d["overall"], "baseline": b["overall"],
                                   "missed": d["missed"], "false_alarms": d["false_alarms"]}
                                  for i, d, b in zip(inputs, det_res, base_res, strict=True)]},
    }
    if labelled:
        report["labelled"] = {"name": labelled_name, "results": evaluate_labelled(labelled)}
    if with_forecast and fc_inputs:
        from forecast_backtest import forecast_report

        report["forecast"] = forecast_report(fc_inputs)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, help="a built warehouse.duckdb (opened read-only)")
    ap.add_argument("--ground-truth", type=Path, help="the generator's ground_truth/anomalies.csv")
    ap.add_argument("--synthetic", action="store_true", help="simulate demo-like series instead")
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105],
                    help="simulation seeds (default: the held-out seeds 101-105; tuning used 1-5)")
    ap.add_argument("--events", type=int, default=40, help="injected events per simulated company")
    ap.add_argument("--cloud-monitoring", type=Path,
                    help="the Cloud Monitoring Dataset directory (with data/<domain>/<series>.csv)")
    ap.add_argument("--no-forecast", action="store_true", help="skip the forecast back-test")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = ap.parse_args(argv)
    command = "python benchmarks/anomaly_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.synthetic:
        inputs = [load_synthetic(s, args.events) for s in args.seeds]
        source = f"synthetic demo-like series, seeds {args.seeds}, {args.events} events each"
        short = "synthetic demo-like"
        stem = "benchmark_synthetic"
    elif args.warehouse or args.ground_truth:
        if not args.warehouse or not args.ground_truth:
            ap.error("give --warehouse and --ground-truth together")
        for p, what in ((args.warehouse, "--warehouse"), (args.ground_truth, "--ground-truth")):
            if not p.exists():
                ap.error(f"{what}: {p} does not exist")
        inputs = [load_warehouse(args.warehouse, args.ground_truth)]
        source = f"warehouse {args.warehouse}"
        short = "demo (scale-1 warehouse)"
        stem = "benchmark_warehouse"
    elif args.cloud_monitoring:
        inputs, source, short, stem = [], "labelled series only", "", "benchmark_labelled"
    else:
        ap.error("give --warehouse and --ground-truth, --synthetic, or --cloud-monitoring")
    labelled = load_cloud_monitoring(args.cloud_monitoring) if args.cloud_monitoring else None
    report = run(inputs, source, command, with_forecast=not args.no_forecast, labelled=labelled,
                 labelled_name="Cloud Monitoring Dataset")
    report["source_short"] = short
    md_path, json_path = write_outputs(report, args.out, stem)
    print(markdown_report(report))
    print(f"\nwritten: {md_path}, {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
