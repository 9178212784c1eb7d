"""Slow integration: generate a tiny demo company, extract everything, check it against the ground truth."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipelines.extract import SOURCE_TABLES, ExtractConfig, extract_all, read_load_log

demo = pytest.importorskip("pipelines.demo")

START, END = date(2024, 6, 1), date(2024, 7, 30)
#: defects.csv names a few tables by their landing file stem
TABLE_ALIASES = {("survey", "nps"): "nps_responses"}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("demo")
    demo.generate(root, scale=0.02, start=START, end=END)
    cfg = ExtractConfig(lake_dir=root / "lake", landing_dir=root / "landing",
                        erp_url=f"sqlite:///{root / 'sources' / 'erp.sqlite'}",
                        hr_url=f"sqlite:///{root / 'sources' / 'hr.sqlite'}",
                        timezone="Asia/Shanghai", run_date=END,
                        # several chunks, so a reference to a row of an earlier chunk (the
                        # re-organised team's old parent) must be found in the lake
                        chunk_days=7)
    days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    results = pd.DataFrame([r.to_dict() for r in extract_all(cfg, days)])
    return root, results


def _quarantine(lake: Path) -> pd.DataFrame:
    frames = []
    for path in sorted((lake / "quarantine").glob("*/*/date=*/part-0.parquet")):
        frame = pd.read_parquet(path)
        frame["source"], frame["table"] = path.parts[-4], path.parts[-3]
        frame["partition_date"] = path.parts[-2].removeprefix("date=")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _matches(q: pd.DataFrame, defect: pd.Series, key: tuple[str, ...]) -> pd.DataFrame:
    q = q[(q["source"] == defect["source"]) & (q["table"] == defect["table"]) &
          (q["partition_date"] == defect["partition_date"])]
    row_key = str(defect["row_key"])
    raw = q["_raw"].map(json.loads)
    if row_key.startswith("row="):
        return q[q["_row_number"] == int(row_key.removeprefix("row="))]
    if "=" in row_key:
        wanted = dict(part.split("=", 1) for part in row_key.split(","))
        return q[raw.map(lambda r: all(str(r.get(k)) == v for k, v in wanted.items()))]
    return q[raw.map(lambda r: r.get(key[-1]) == row_key)]


@pytest.mark.slow
def test_demo_company_extracts_and_every_defect_is_caught(extracted):
    root, results = extracted
    # every table, every partition: reconciliation holds
    assert (results["rows_read"] == results["rows_loaded"] + results["rows_quarantined"]).all()
    assert set(zip(results["source"], results["table"], strict=True)) == \
        {(t.source, t.table) for t in SOURCE_TABLES}
    assert results["rows_loaded"].sum() > 1000
    log = read_load_log(root / "lake")
    assert len(log) == len(results)

    defects = pd.read_csv(root / "ground_truth" / "defects.csv", dtype=str)
    defects["table"] = [TABLE_ALIASES.get((s, t), t) for s, t in zip(defects["source"], defects["table"],
                                                                      strict=True)]
    assert len(defects) > 10
    q = _quarantine(root / "lake")
    keys = {(t.source, t.table): t.key for t in SOURCE_TABLES}
    caught = []
    for _, defect in defects.iterrows():
        if defect["expected"] == "batch_rejected":
            hit = results[(results["source"] == defect["source"]) & (results["table"] == defect["table"]) &
                          (results["partition_date"].astype(str) == defect["partition_date"])]
            assert hit["status"].tolist() == ["rejected"], defect.to_dict()
            continue
        found = _matches(q, defect, keys[(defect["source"], defect["table"])])
        assert len(found) == 1, (defect.to_dict(), found[["_rule", "_reason"]].to_dict("records"))
        caught.append(found.index[0])
    # no clean row is quarantined: every quarantine row is a known defect
    extra = q.drop(index=caught)
    assert extra.empty, extra[["source", "table", "partition_date", "_rule", "_reason"]].head(20).to_dict("records")
