"""Landing files: GB18030 CSV, JSON lines, Parquet and XLSX workbooks."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipelines.extract import (
    extract_partitions,
    extract_unpartitioned,
    get_source_table,
    landing_dates,
    load_log_path,
    raw_partition_path,
    read_load_log,
    read_partition,
)
from tests.extract import sources as S

TICKETS = get_source_table("servicedesk.tickets")
NPS = get_source_table("survey.nps_responses")
RUNS = get_source_table("mes.production_runs")
DAY = S.DAY
DAYS = [DAY + timedelta(days=i) for i in range(3)]


def test_gb18030_csv_round_trip_keeps_chinese_text_and_converts_local_time(company_with_dims):
    cfg = company_with_dims.config()
    path = S.write_tickets(company_with_dims.landing, DAY, [
        S.ticket_row("T1", opened="2025-03-01 23:30:00", first_response_at="2025-03-01 23:40:00"),
        S.ticket_row("T2", category="退货／换货", subject="发票抬头错误：“上海某某有限公司”", csat=4),
    ])
    assert "设备".encode("gb18030") in path.read_bytes()
    [result] = extract_partitions(TICKETS, [DAY], cfg)
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 2, 2)
    raw = read_partition(cfg.lake_dir, "servicedesk", "tickets", DAY).set_index("ticket_id")
    assert raw.loc["T1", "subject"] == "设备无法开机，请尽快处理"
    assert raw.loc["T2", "category"] == "退货／换货"
    assert raw.loc["T2", "subject"] == "发票抬头错误：“上海某某有限公司”"
    # 23:30 local (UTC+8) is 15:30 UTC the same day; the ticket stays in the 2025-03-01 partition
    assert raw.loc["T1", "opened_at"] == pd.Timestamp("2025-03-01 15:30:00", tz="UTC")
    assert raw.loc["T2", "csat"] == 4
    assert pd.isna(raw.loc["T1", "csat"]) and pd.isna(raw.loc["T1", "resolved_at"])
    assert raw.loc["T1", "_source"] == "servicedesk/tickets_20250301.csv"


def test_changed_column_set_is_rejected_while_other_partitions_load(company_with_dims):
    cfg = company_with_dims.config()
    S.write_tickets(company_with_dims.landing, DAYS[0], [S.ticket_row("T1")])
    renamed = [h if h != "csat" else "satisfaction" for h in S.TICKET_HEADER]
    bad = S.write_tickets(company_with_dims.landing, DAYS[1], [S.ticket_row("T2")], header=renamed)
    bad_bytes = bad.read_bytes()
    S.write_tickets(company_with_dims.landing, DAYS[2], [S.ticket_row("T3")])
    results = extract_partitions(TICKETS, DAYS, cfg)
    assert [r.status for r in results] == ["loaded", "rejected", "loaded"]
    msg = results[1].message
    assert "servicedesk/tickets_20250302.csv" in msg and "changed column set" in msg
    assert "missing csat" in msg and "'satisfaction'" in msg
    assert bad.read_bytes() == bad_bytes  # the landing file is left untouched
    assert not raw_partition_path(cfg.lake_dir, "servicedesk", "tickets", DAYS[1]).exists()
    log = read_load_log(cfg.lake_dir, "servicedesk", "tickets").set_index("partition_date")
    assert log.loc[DAYS[1], "status"] == "rejected" and log.loc[DAYS[1], "rows_read"] == 0
    # the rejected file's rows could still be read: kept beside the partition's quarantine, for the
    # trust flag to know which days and teams the rejection affects
    batch = cfg.lake_dir / "quarantine/servicedesk/tickets/date=2025-03-02/rejected-batch.parquet"
    kept = pq.read_table(batch).to_pandas()
    assert kept["_rule"].tolist() == ["batch_rejected"]
    assert '"team_id": "TM-SVC-1"' in kept["_raw"].iloc[0] and '"satisfaction"' in kept["_raw"].iloc[0]
    assert "readable row(s) are kept in quarantine" in msg
    # once the file is fixed the partition loads and the kept rows go
    S.write_tickets(company_with_dims.landing, DAYS[1], [S.ticket_row("T2")])
    assert extract_partitions(TICKETS, [DAYS[1]], cfg)[0].status == "loaded"
    assert not batch.exists()


def test_rejection_keeps_the_partition_loaded_earlier(company_with_dims):
    cfg = company_with_dims.config()
    S.write_tickets(company_with_dims.landing, DAY, [S.ticket_row("T1")])
    extract_partitions(TICKETS, [DAY], cfg)
    raw = raw_partition_path(cfg.lake_dir, "servicedesk", "tickets", DAY)
    before = hashlib.sha256(raw.read_bytes()).hexdigest()
    S.write_tickets(company_with_dims.landing, DAY, [S.ticket_row("T1")], encoding="utf-8")
    [result] = extract_partitions(TICKETS, [DAY], cfg)
    assert result.status == "rejected"
    assert "UTF-8" in result.message and "GB18030" in result.message
    assert "loaded earlier is kept" in result.message
    assert hashlib.sha256(raw.read_bytes()).hexdigest() == before
    assert result.path == raw


def test_csv_rerun_unchanged_is_byte_identical(company_with_dims):
    cfg = company_with_dims.config()
    S.write_tickets(company_with_dims.landing, DAY, [S.ticket_row("T1"), S.ticket_row("T2", csat="x")])
    extract_partitions(TICKETS, [DAY], cfg)
    raw = raw_partition_path(cfg.lake_dir, "servicedesk", "tickets", DAY)
    quarantine = raw.parent.parent.parent.parent.parent / "quarantine" / "servicedesk" / "tickets" / \
        f"date={DAY}" / "part-0.parquet"
    stamps = (raw.stat().st_mtime_ns, quarantine.stat().st_mtime_ns)
    [again] = extract_partitions(TICKETS, [DAY], cfg)
    assert again.status == "unchanged"
    assert (raw.stat().st_mtime_ns, quarantine.stat().st_mtime_ns) == stamps
    # a fixed file replaces the partition and removes the stale quarantine file
    S.write_tickets(company_with_dims.landing, DAY, [S.ticket_row("T1"), S.ticket_row("T2", csat="3")])
    [fixed] = extract_partitions(TICKETS, [DAY], cfg)
    assert (fixed.status, fixed.rows_loaded, fixed.rows_quarantined) == ("loaded", 2, 0)
    assert not quarantine.exists()


def test_missing_landing_file_is_an_empty_partition(company_with_dims):
    cfg = company_with_dims.config()
    [result] = extract_partitions(TICKETS, [DAY], cfg)
    assert result.status == "empty"
    assert "no landing file servicedesk/tickets_20250301.csv" in result.message
    table = pq.read_table(raw_partition_path(cfg.lake_dir, "servicedesk", "tickets", DAY))
    assert table.num_rows == 0 and "opened_at" in table.schema.names
    assert load_log_path(cfg.lake_dir, "servicedesk", "tickets", DAY).exists()


def test_jsonl_line_that_is_not_json_is_quarantined_with_its_line_number(company_with_dims):
    cfg = company_with_dims.config()
    S.write_jsonl(company_with_dims.landing, "survey/nps_20250301.jsonl", [
        S.nps_record("R1"),
        '{"response_id": "R2", "score": 7,',
        S.nps_record("R3", submitted_at="2025-03-01T02:00:00Z", score=11),
        S.nps_record("R4", submitted_at="2025-03-01T10:00:00"),
    ])
    [result] = extract_partitions(NPS, [DAY], cfg)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 1, 3)
    q = read_partition(cfg.lake_dir, "survey", "nps_responses", DAY, quarantine=True).set_index("_row_number")
    assert q.loc[2, "_rule"] == "json"
    assert "line 2 is not JSON" in q.loc[2, "_reason"]
    assert q.loc[3, "_rule"] == "expect_column_values_to_be_between(score)"
    assert q.loc[4, "_rule"] == "type" and "UTC offset" in q.loc[4, "_reason"]
    raw = read_partition(cfg.lake_dir, "survey", "nps_responses", DAY)
    # the +08:00 offset is honoured: 10:22:33+08:00 is 02:22:33 UTC
    assert raw["submitted_at"].iloc[0] == pd.Timestamp("2025-03-01 02:22:33", tz="UTC")
    assert raw["comment"].iloc[0] == "很好"


def test_parquet_runs_checked_and_typed(company_with_dims):
    cfg = company_with_dims.config()
    S.write_runs(company_with_dims.landing, DAY, [
        S.run_record("R1"),
        S.run_record("R2", defective_qty=120),
        S.run_record("R3", line_id="TM-GHOST"),
    ])
    [result] = extract_partitions(RUNS, [DAY], cfg)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    q = read_partition(cfg.lake_dir, "mes", "production_runs", DAY, quarantine=True)
    assert sorted(q["_rule"]) == [
        "expect_column_pair_values_a_to_be_greater_than_b(produced_qty,defective_qty)",
        "reference(line_id)",
    ]
    raw = pq.read_table(raw_partition_path(cfg.lake_dir, "mes", "production_runs", DAY))
    assert str(raw.schema.field("promised_date").type) == "date32[day]"
    assert raw.column("promised_date").to_pylist() == [date(2025, 3, 5)]


def test_landing_dates_lists_daily_files(company):
    S.write_tickets(company.landing, date(2025, 3, 2), [])
    S.write_tickets(company.landing, date(2025, 3, 1), [])
    (company.landing / "servicedesk" / "notes.txt").write_text("x")
    assert landing_dates(TICKETS, company.landing) == [date(2025, 3, 1), date(2025, 3, 2)]


def test_duplicated_file_is_rejected(company_with_dims):
    cfg = company_with_dims.config()
    S.write_tickets(company_with_dims.landing, DAYS[0], [S.ticket_row("T1")])
    S.write_tickets(company_with_dims.landing, DAYS[1], [S.ticket_row("T1")])
    results = extract_partitions(TICKETS, DAYS[:2], cfg)
    assert [r.status for r in results] == ["loaded", "rejected"]
    assert "duplicated file" in results[1].message and "tickets_20250301.csv" in results[1].message
    # a later call still recognises it from the load log
    [again] = extract_partitions(TICKETS, [DAYS[1]], cfg)
    assert again.status == "rejected" and "duplicated file" in again.message


def test_volume_warning_is_a_warning_not_a_quarantine(company_with_dims):
    cfg = company_with_dims.config(run_date=date(2025, 4, 30))
    days = [DAY + timedelta(days=i) for i in range(9)]
    for i, day in enumerate(days):
        n = 2 if i == 8 else 30
        rows = [S.ticket_row(f"T{i}-{j}", opened=f"{day} 10:00:00", first_response_at=f"{day} 10:05:00")
                for j in range(n)]
        S.write_tickets(company_with_dims.landing, day, rows)
    results = extract_partitions(TICKETS, days, cfg)
    last = results[-1]
    assert (last.status, last.rows_loaded, last.rows_quarantined) == ("loaded", 2, 0)
    assert any(w.startswith("volume: 2 rows vs a median of 30") for w in last.warnings)
    assert "volume" in last.message
    assert not any(r.warnings for r in results[:-1])


# --- finance workbooks ----------------------------------------------------------------------------


def test_workbooks_partition_by_valid_from(company_with_dims):
    cfg = company_with_dims.config()
    S.write_workbook(company_with_dims.landing, "plan_FY2025_v1.xlsx")
    S.write_workbook(company_with_dims.landing, "plan_FY2025_v2.xlsx", valid_from=date(2025, 7, 1),
                     plan_version="FY2025-v2",
                     targets=[["net_revenue", "ACME", "2025", 1_200_000, None, None, "上调"]])
    targets = extract_unpartitioned(get_source_table("finance.targets"), cfg)
    assert [(r.partition_date, r.status, r.rows_loaded) for r in targets] == [
        (date(2025, 1, 1), "loaded", 3), (date(2025, 7, 1), "loaded", 1)]
    raw = read_partition(cfg.lake_dir, "finance", "targets", date(2025, 1, 1))
    assert raw["plan_version"].unique().tolist() == ["FY2025-v1"]
    assert raw["period"].tolist() == ["2025", "2025-Q1", "2025"]  # the number 2025 became text
    assert raw["comment"].iloc[0] == "全年目标"
    info = extract_unpartitioned(get_source_table("finance.plan_info"), cfg)
    assert [r.rows_loaded for r in info] == [1, 1]
    plan = read_partition(cfg.lake_dir, "finance", "plan_info", date(2025, 7, 1))
    assert plan.iloc[0][["plan_version", "fiscal_year", "file"]].tolist() == \
        ["FY2025-v2", 2025, "finance/plan_FY2025_v2.xlsx"]
    weights = extract_unpartitioned(get_source_table("finance.weights"), cfg)
    assert [r.rows_loaded for r in weights] == [2, 2]
    again = extract_unpartitioned(get_source_table("finance.targets"), cfg)
    assert [r.status for r in again] == ["unchanged", "unchanged"]


def test_formula_cells_without_a_value_are_quarantined_with_their_address(company_with_dims):
    """openpyxl writes formulas without cached values (as any tool that does not calculate): read as
    values, the target would be empty. The row is quarantined naming the cell, not loaded as 'no target'."""
    cfg = company_with_dims.config()
    S.write_workbook(company_with_dims.landing, "plan_FY2025_v1.xlsx", targets=[
        ["net_revenue", "ACME", 2025, 1_000_000, None, None, None],
        ["net_revenue", "DIV-SALES", "2025-Q1", "=D2*0.2", None, None, None],
        ["net_revenue", "ACME", "2025-Q2", 2_500_000_000, None, None, "above 1e9: an amount can be large"],
    ])
    [result] = extract_unpartitioned(get_source_table("finance.targets"), cfg)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    raw = read_partition(cfg.lake_dir, "finance", "targets", date(2025, 1, 1))
    assert raw["target_value"].tolist() == [1_000_000, 2_500_000_000]
    q = read_partition(cfg.lake_dir, "finance", "targets", date(2025, 1, 1), quarantine=True)
    assert q["_rule"].tolist() == ["formula"]
    assert q["_value"].tolist() == ["=D2*0.2"]
    assert "cell D3 (target_value) holds the formula =D2*0.2 without a computed value" in q["_reason"].iloc[0]
    assert '"plan_version": "FY2025-v1"' in q["_raw"].iloc[0] and '"org_unit_id": "DIV-SALES"' in q["_raw"].iloc[0]


def test_workbook_with_renamed_sheet_is_rejected_others_load(company_with_dims):
    cfg = company_with_dims.config()
    S.write_workbook(company_with_dims.landing, "plan_FY2024_v1.xlsx", valid_from=date(2024, 1, 1),
                     plan_version="FY2024-v1")
    S.write_workbook(company_with_dims.landing, "plan_FY2025_v1.xlsx", sheet_names={"Targets": "Ziele"})
    results = extract_unpartitioned(get_source_table("finance.targets"), cfg)
    assert [r.status for r in results] == ["loaded", "rejected"]
    msg = results[1].message
    assert "finance/plan_FY2025_v1.xlsx" in msg and "sheet 'Targets' not found" in msg and "Ziele" in msg
    # the weights of the same workbook are fine
    weights = extract_unpartitioned(get_source_table("finance.weights"), cfg)
    assert [r.status for r in weights] == ["loaded", "loaded"]


# --- one lake whatever the path ---------------------------------------------------------------------


def _lake_state(lake_dir: Path) -> dict[str, list]:
    """Every raw and quarantine partition's rows, without the columns that name the load itself."""
    state: dict[str, list] = {}
    for path in sorted(lake_dir.glob("*/*/*/date=*/part-0.parquet")):
        frame = pq.read_table(path).to_pandas()
        frame = frame.drop(columns=[c for c in ("_loaded_at", "_batch_id") if c in frame.columns])
        state[path.relative_to(lake_dir).as_posix()] = frame.astype(str).to_dict("records")
    return state


def test_a_back_fill_and_single_day_runs_build_the_same_lake(company_with_dims, tmp_path):
    """Every rule that judges a row uses the row's own partition day. A ticket opened 30 days after
    the day of its file is in the future whichever day the extraction runs; a production run's later
    delivery date is a status the export may carry, not a future event — loaded either way."""
    day1, day2 = date(2025, 3, 1), date(2025, 3, 2)
    landing = company_with_dims.landing
    S.write_tickets(landing, day1, [S.ticket_row("T1"),
                                    S.ticket_row("T9", opened="2025-03-31 10:00:00", first_response_at="",
                                                 updated_at="2025-03-31 10:00:00")])
    S.write_tickets(landing, day2, [S.ticket_row("T2", opened="2025-03-02 10:00:00", updated_at="2025-03-02 10:00:00",
                                                 first_response_at="")])
    S.write_runs(landing, day1, [S.run_record("R1", delivered_date=date(2025, 3, 12))])
    S.write_runs(landing, day2, [S.run_record("R2", started_at=datetime(2025, 3, 2, 1), finished_at=datetime(2025, 3, 2, 5),
                                              delivered_date=None)])
    tables = [get_source_table("servicedesk.tickets"), get_source_table("mes.production_runs")]
    backfill = company_with_dims.config(lake_dir=tmp_path / "backfill", run_date=date(2025, 4, 15))
    nightly = tmp_path / "nightly"
    for table in tables:
        extract_partitions(table, [day1, day2], backfill)  # one back-fill, run weeks later
        for day in (day1, day2):  # the nightly runs of each day
            extract_partitions(table, [day], company_with_dims.config(lake_dir=nightly, run_date=day))
    assert _lake_state(backfill.lake_dir) == _lake_state(nightly)
    q = read_partition(nightly, "servicedesk", "tickets", day1, quarantine=True)
    assert q["_rule"].tolist() == ["not_future(opened_at)"]
    runs = read_partition(nightly, "mes", "production_runs", day1)
    assert runs["run_id"].tolist() == ["R1"]
