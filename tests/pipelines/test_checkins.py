from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest

from pipelines.checkins import append_checkin, snapshot_checkins
from pipelines.cli import main


def _read(root):
    return sorted(
        (row for f in sorted(root.glob("date=*/part-0.parquet")) for row in pq.read_table(f).to_pylist()),
        key=lambda r: (r["_source"], r["_row_number"]),
    )


def test_appended_checkins_reach_the_raw_lake_on_their_local_day(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    # 17:30 UTC is 01:30 the next day in Shanghai: the comment belongs to that local day
    append_checkin(landing, kpi_id="net_revenue", org_unit_id="DEP-SALES-EAST", grain="quarter",
                   period_start=date(2025, 10, 1), author="E00012", comment="两个大客户推迟到12月签约",
                   now=datetime(2025, 11, 18, 17, 30, tzinfo=UTC))
    append_checkin(landing, kpi_id="nps", org_unit_id="ACME", grain="month", period_start=date(2025, 11, 1),
                   author="E00001", comment="Survey vendor changed mid-month",
                   now=datetime(2025, 11, 18, 9, 0, tzinfo=UTC))
    load = snapshot_checkins(landing, lake, timezone="Asia/Shanghai")
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (2, 2, 0)
    root = lake / "raw" / "checkins" / "comments"
    assert sorted(p.name for p in root.iterdir()) == ["date=2025-11-18", "date=2025-11-19"]
    rows = _read(root)
    assert rows[0]["comment"] == "两个大客户推迟到12月签约"
    assert rows[0]["period_start"] == date(2025, 10, 1)
    assert rows[1]["kpi_id"] == "nps"


def test_bad_rows_are_quarantined_with_file_line_and_reason_and_counts_reconcile(tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    (landing / "checkins").mkdir(parents=True)
    (landing / "checkins" / "team.csv").write_text(
        "kpi_id,org_unit_id,grain,period_start,author,comment,created_at\n"
        "net_revenue,TM-SE-1,month,2025-10-01,E00100,ok,2025-11-01T08:00:00Z\n"
        "net_revenue,TM-SE-1,week,2025-10-01,E00100,wrong grain,2025-11-01T08:00:00Z\n"
        ",TM-SE-1,month,2025-10-01,E00100,no kpi,2025-11-01T08:00:00Z\n"
        "net_revenue,TM-SE-1,month,2025-13-01,E00100,bad date,2025-11-01T08:00:00Z\n",
        encoding="utf-8",
    )
    load = snapshot_checkins(landing, lake, timezone="Asia/Shanghai",
                             now=datetime(2025, 11, 19, 1, 0, tzinfo=UTC))
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (4, 1, 3)
    quarantined = _read(lake / "quarantine" / "checkins" / "comments")
    assert [(q["_row_number"], q["_rule"], q["_field"]) for q in quarantined] == [
        (2, "in_set", "grain"), (3, "not_null", "kpi_id"), (4, "type", "period_start")]
    assert quarantined[0]["_reason"].startswith("checkins/team.csv row 2: grain must be one of")


def test_snapshot_without_any_checkins_still_leaves_a_typed_table(tmp_path):
    load = snapshot_checkins(tmp_path / "landing", tmp_path / "lake", timezone="Asia/Shanghai")
    files = list((tmp_path / "lake" / "raw" / "checkins" / "comments").glob("date=*/part-0.parquet"))
    assert load.rows_read == 0 and len(files) == 1
    assert "kpi_id" in pq.read_schema(files[0]).names


def test_kpi_checkin_command_appends(tmp_path, monkeypatch):
    from pipelines.settings import get_settings

    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        code = main(["checkin", "--kpi", "net_revenue", "--org", "ACME", "--grain", "quarter",
                     "--period", "2025-10-01", "--author", "E00001", "--comment", "On plan"])
    finally:
        get_settings.cache_clear()
    assert code == 0
    lines = (tmp_path / "landing" / "checkins" / "checkins.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("kpi_id,org_unit_id,grain")
    assert lines[1].startswith("net_revenue,ACME,quarter,2025-10-01,E00001,On plan,")


def test_empty_comment_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a comment"):
        append_checkin(tmp_path, kpi_id="x", org_unit_id="y", grain="month", period_start=date(2025, 1, 1),
                       author="a", comment="  ")
