"""Benchmark metrics on hand-made events: event-level precision / recall / F1, coverage, Brier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.analytics.evaluation import (
    brier_score,
    event_scores,
    interval_coverage,
    magnitude_bucket,
    match_events,
    scores_by,
)


def _truth() -> pd.DataFrame:
    return pd.DataFrame({
        "anomaly_id": ["A1", "A2", "A3", "A4"],
        "kpi_id": ["rev", "rev", "rev", "cr"],
        "org_unit_id": ["T1", "T1", "T2", "T1"],
        "kind": ["spike", "level_shift", "dip", "dropout"],
        "start_date": ["2024-03-05", "2024-05-01", "2024-03-05", "2024-04-01"],
        "end_date": ["2024-03-05", "2024-05-20", "2024-03-05", "2024-04-03"],
        "magnitude": [1.5, 0.4, -0.6, -1.0],
    })


def test_event_level_precision_recall_f1():
    truth = _truth()
    flags = pd.DataFrame({
        "kpi_id": ["rev", "rev", "rev", "cr", "rev"],
        "org_unit_id": ["T1", "T1", "T2", "T2", "T1"],
        "date": ["2024-03-05", "2024-05-12", "2024-03-06", "2024-04-02", "2024-07-01"],
    })
    detected = pd.DataFrame({
        "kpi_id": ["rev", "rev", "rev", "cr", "rev"],
        "org_unit_id": ["T1", "T1", "T2", "T2", "T1"],
        "start_date": ["2024-03-05", "2024-05-10", "2024-03-06", "2024-04-02", "2024-07-01"],
        "end_date": ["2024-03-05", "2024-05-25", "2024-03-06", "2024-04-02", "2024-07-01"],
        "kind": ["spike", "level_shift", "dip", "dropout", "spike"],
    })
    tm, dm = match_events(truth, flags, detected)
    # A1 flagged on its day; A2 flagged inside its window; A3's flag is a day late; A4's flag is on
    # another unit
    assert tm["found"].tolist() == [True, True, False, False]
    # the T2 dip a day late and the cr flag on T2 overlap no true event of their series; the July
    # spike overlaps nothing either; the level shift run overlaps A2 although it outlasts it
    assert dm["is_false_alarm"].tolist() == [False, False, True, True, True]
    sc = event_scores(tm, dm)
    assert (sc.true_events, sc.found, sc.detected_events, sc.false_alarms) == (4, 2, 5, 3)
    assert sc.recall == pytest.approx(0.5)
    assert sc.precision == pytest.approx(0.4)
    assert sc.f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)


def test_nothing_detected_and_nothing_to_find():
    truth = _truth()
    empty = pd.DataFrame(columns=["kpi_id", "org_unit_id", "date"])
    none = pd.DataFrame(columns=["kpi_id", "org_unit_id", "start_date", "end_date"])
    tm, dm = match_events(truth, empty, none)
    sc = event_scores(tm, dm)
    assert sc.recall == 0.0 and sc.precision == 0.0 and sc.f1 == 0.0


def test_scores_by_kind_and_magnitude():
    truth = _truth().assign(bucket=lambda t: magnitude_bucket(t["magnitude"]))
    flags = pd.DataFrame({"kpi_id": ["rev"], "org_unit_id": ["T1"], "date": ["2024-03-05"]})
    detected = pd.DataFrame({"kpi_id": ["rev", "rev"], "org_unit_id": ["T1", "T1"],
                             "start_date": ["2024-03-05", "2024-08-01"], "end_date": ["2024-03-05", "2024-08-01"],
                             "kind": ["spike", "spike"]})
    tm, dm = match_events(truth, flags, detected)
    by_kind = scores_by(tm, dm, "kind", "kind").set_index("group")
    assert by_kind.loc["spike", "recall"] == 1.0 and by_kind.loc["spike", "precision"] == 0.5
    assert by_kind.loc["dip", "recall"] == 0.0
    by_mag = scores_by(tm, dm, "bucket").set_index("group")
    assert by_mag.loc["≥+100%", "found"] == 1 and by_mag.loc["-100%", "found"] == 0
    assert list(magnitude_bucket(np.array([-1.0, -0.6, -0.3, 0.3, 0.8, 2.0]))) == [
        "-100%", "-95%..-50%", "-50%..-25%", "+25%..+50%", "+50%..+100%", "≥+100%"]


def test_coverage_and_brier():
    assert interval_coverage([1, 5, 10, np.nan], [0, 6, 9, 0], [2, 7, 11, 1]) == pytest.approx(2 / 3)
    assert brier_score([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)
    assert brier_score([0.0, 1.0], [1, 0]) == 1.0
