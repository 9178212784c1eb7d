"""Scoring detectors and forecasts: event-level precision / recall / F1, interval coverage, Brier.

Event-level rules (docs/anomaly_detection.md, "Benchmark"):

* a ground-truth event is **found** when at least one flagged point of its series falls in
  ``[start_date, end_date]`` (inclusive);
* a **detected event** (a collapsed run of flags, ``[start_date, end_date]``) that overlaps no
  ground-truth event of its series is a **false alarm**;
* precision = detected events that overlap a true event / all detected events;
  recall = found true events / all true events; F1 = their harmonic mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SERIES_KEYS = ["kpi_id", "org_unit_id"]


@dataclass(frozen=True)
class EventScores:
    true_events: int
    found: int
    detected_events: int
    false_alarms: int

    @property
    def recall(self) -> float:
        return self.found / self.true_events if self.true_events else float("nan")

    @property
    def precision(self) -> float:
        if not self.detected_events:
            return float("nan") if not self.true_events else 0.0
        return (self.detected_events - self.false_alarms) / self.detected_events

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if not (np.isfinite(p) and np.isfinite(r)) or p + r == 0:
            return 0.0 if np.isfinite(p) or np.isfinite(r) else float("nan")
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "true_events": self.true_events, "found": self.found, "detected_events": self.detected_events,
            "false_alarms": self.false_alarms, "precision": self.precision, "recall": self.recall,
            "f1": self.f1,
        }


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.normalize()


def match_events(truth: pd.DataFrame, flags: pd.DataFrame, detected: pd.DataFrame,
                 keys: Sequence[str] = SERIES_KEYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mark each true event ``found`` and each detected event ``is_false_alarm``.

    ``truth``: keys + ``start_date``, ``end_date`` (+ anything else, kept);
    ``flags``: keys + ``date`` (one row per flagged point);
    ``detected``: keys + ``start_date``, ``end_date`` (one row per collapsed event).
    Returns copies of ``truth`` with a boolean ``found`` and of ``detected`` with ``is_false_alarm``.
    """
    keys = list(keys)
    tr = truth.copy()
    tr["_gid"] = np.arange(len(tr))
    tr_s, tr_e = _dates(tr["start_date"]), _dates(tr["end_date"])
    tr["_s"], tr["_e"] = tr_s, tr_e
    fl = flags[keys + ["date"]].copy()
    fl["_d"] = _dates(fl["date"])
    m = tr[keys + ["_gid", "_s", "_e"]].merge(fl[keys + ["_d"]], on=keys, how="inner")
    hit = m.loc[(m["_d"] >= m["_s"]) & (m["_d"] <= m["_e"]), "_gid"].unique()
    out_truth = truth.copy()
    out_truth["found"] = np.isin(np.arange(len(tr)), hit)

    det = detected.copy()
    det["_did"] = np.arange(len(det))
    det["_ds"], det["_de"] = _dates(det["start_date"]), _dates(det["end_date"])
    m2 = det[keys + ["_did", "_ds", "_de"]].merge(tr[keys + ["_s", "_e"]], on=keys, how="inner")
    overl = m2.loc[(m2["_ds"] <= m2["_e"]) & (m2["_de"] >= m2["_s"]), "_did"].unique()
    out_det = detected.copy()
    out_det["is_false_alarm"] = ~np.isin(np.arange(len(det)), overl)
    return out_truth, out_det


def event_scores(truth_matched: pd.DataFrame, detected_matched: pd.DataFrame) -> EventScores:
    """Counts from the outputs of :func:`match_events`."""
    return EventScores(
        true_events=len(truth_matched),
        found=int(truth_matched["found"].sum()) if len(truth_matched) else 0,
        detected_events=len(detected_matched),
        false_alarms=int(detected_matched["is_false_alarm"].sum()) if len(detected_matched) else 0,
    )


def scores_by(truth_matched: pd.DataFrame, detected_matched: pd.DataFrame, truth_col: str,
              detected_col: str | None = None) -> pd.DataFrame:
    """Scores per group: recall per value of ``truth_col`` (e.g. the true kind, a magnitude bucket);
    precision per value of ``detected_col`` (e.g. the detected kind) when given."""
    rows = []
    groups = sorted(set(truth_matched[truth_col].dropna().astype(str)) | (
        set(detected_matched[detected_col].dropna().astype(str)) if detected_col else set()))
    for g in groups:
        t = truth_matched[truth_matched[truth_col].astype(str) == g]
        if detected_col:
            d = detected_matched[detected_matched[detected_col].astype(str) == g]
            sc = EventScores(len(t), int(t["found"].sum()), len(d), int(d["is_false_alarm"].sum()))
            rows.append({"group": g, **sc.as_dict()})
        else:
            rows.append({"group": g, "true_events": len(t), "found": int(t["found"].sum()),
                         "recall": (t["found"].mean() if len(t) else float("nan"))})
    return pd.DataFrame(rows)


def magnitude_bucket(magnitude: pd.Series | np.ndarray) -> np.ndarray:
    """Bucket a relative magnitude: ``≤ -0.95`` (to zero), ``(-0.95, -0.5]``, ``(-0.5, -0.25]``,
    ``(-0.25, 0)``, ``(0, 0.25)``, ``[0.25, 0.5)``, ``[0.5, 1)``, ``≥ 1``."""
    m = np.asarray(magnitude, dtype=float)
    labels = np.select(
        [m <= -0.95, m <= -0.5, m <= -0.25, m < 0, m < 0.25, m < 0.5, m < 1.0],
        ["-100%", "-95%..-50%", "-50%..-25%", "-25%..0", "0..+25%", "+25%..+50%", "+50%..+100%"],
        "≥+100%",
    )
    return np.where(np.isnan(m), "unknown", labels)


def interval_coverage(actual: np.ndarray | pd.Series, low: np.ndarray | pd.Series,
                      high: np.ndarray | pd.Series) -> float:
    """Share of finite cases whose actual lies in [low, high]."""
    a, lo, hi = (np.asarray(x, dtype=float) for x in (actual, low, high))
    ok = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return float("nan")
    return float(np.mean((a[ok] >= lo[ok]) & (a[ok] <= hi[ok])))


def brier_score(probability: np.ndarray | pd.Series, outcome: np.ndarray | pd.Series) -> float:
    """Mean squared difference between a probability and the 0/1 outcome (lower is better)."""
    p, o = np.asarray(probability, dtype=float), np.asarray(outcome, dtype=float)
    ok = np.isfinite(p) & np.isfinite(o)
    if not ok.any():
        return float("nan")
    return float(np.mean((p[ok] - o[ok]) ** 2))
