"""The malformed-input corpus: one case per way a source can be broken.

Every case writes its own partition (its own date, or its own workbook) next to clean rows, so
one extraction call per table runs the whole corpus: each case must get its clear rejection
message or its quarantine rule, the clean rows of the same file must load, and the counts must
reconcile (rows read = loaded + quarantined). Files are generated (not committed) so that the
corpus documents exactly which bytes are wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.extract import sources as S

BASE = date(2025, 3, 4)  # after the fixtures' rows (2025-03-01 … 03-02 local): rows are judged by their partition day


@dataclass(frozen=True)
class Expect:
    status: str  # loaded | rejected | empty
    rule: str | None = None  # the quarantine rule of the defective row(s)
    contains: tuple[str, ...] = ()  # substrings of the load-log message
    rows_read: int | None = None
    loaded: int | None = None
    quarantined: int | None = None


@dataclass(frozen=True)
class Case:
    id: str
    table: str  # source.table
    build: Callable[[Path, date, str], None]  # (landing dir, partition date, case id)
    expect: Expect
    days: int = 1  # partitions the case occupies (the last one is checked)
    db_rows: Callable[[date, str], list[dict]] | None = field(default=None)


# --- service desk CSV ---------------------------------------------------------------------------


def _clean(cid: str, n: int = 2) -> list[dict]:
    return [S.ticket_row(f"{cid}-ok{i}") for i in range(n)]


def _tickets(rows_of: Callable[[str], list[dict]], **kwargs: object) -> Callable[[Path, date, str], None]:
    def build(landing: Path, day: date, cid: str) -> None:
        S.write_tickets(landing, day, rows_of(cid), **kwargs)
    return build


def _tickets_bytes(bytes_of: Callable[[str], bytes]) -> Callable[[Path, date, str], None]:
    def build(landing: Path, day: date, cid: str) -> None:
        path = landing / "servicedesk" / f"tickets_{day:%Y%m%d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes_of(cid))
    return build


def _with_bad(**over: object) -> Callable[[str], list[dict]]:
    return lambda cid: _clean(cid) + [S.ticket_row(f"{cid}-bad", **over)]


def _truncated(cid: str) -> bytes:
    data = S.tickets_csv_bytes(_clean(cid) + [S.ticket_row(f"{cid}-bad")])
    return data[: len(data) - 25]  # the last row loses its last fields (ASCII: "…,0,2025-… 09:15:00")


def _truncated_mid_character(cid: str) -> bytes:
    data = S.tickets_csv_bytes(_clean(cid))
    return data + f"{cid}-bad,2025-01-01 09:00:00,,,P2,phone,投".encode("gb18030")[:-1]


def _truncated_in_quote(cid: str) -> bytes:
    data = S.tickets_csv_bytes(_clean(cid))
    return data + f'{cid}-bad,2025-01-01 09:00:00,,,P2,phone,"投诉,"未完'.encode("gb18030")


def _garbage_bytes(cid: str) -> bytes:
    data = S.tickets_csv_bytes(_clean(cid))
    return data + b"\xff\xff\xff,broken\r\n"


def _too_many_fields(cid: str) -> bytes:
    data = S.tickets_csv_bytes(_clean(cid))
    line = ",".join(S.ticket_row(f"{cid}-bad").values()) + ",extra"
    return data + (line + "\r\n").encode("gb18030")


def _duplicate_file(landing: Path, day: date, cid: str) -> None:
    rows = _clean(cid)
    S.write_tickets(landing, day - timedelta(days=1), rows)
    S.write_tickets(landing, day, rows)


TICKETS = "servicedesk.tickets"
HEADER_DROP_CSAT = [h for h in S.TICKET_HEADER if h != "csat"]

CSV_CASES = [
    Case("csv_truncated_last_row", TICKETS, _tickets_bytes(_truncated),
         Expect("loaded", "field_count", ("truncated file?",), 3, 2, 1)),
    Case("csv_truncated_mid_character", TICKETS, _tickets_bytes(_truncated_mid_character),
         Expect("rejected", contains=("not valid GB18030 at byte offset", "incomplete multibyte sequence"))),
    Case("csv_truncated_inside_quotes", TICKETS, _tickets_bytes(_truncated_in_quote),
         Expect("rejected", contains=("CSV syntax error at line 4",))),
    Case("csv_wrong_delimiter", TICKETS, _tickets(_clean, delimiter=";"),
         Expect("rejected", contains=("wrong delimiter ';'",))),
    Case("csv_utf8_instead_of_gb18030", TICKETS, _tickets(_clean, encoding="utf-8"),
         Expect("rejected", contains=("file is UTF-8", "must be GB18030"))),
    Case("csv_utf8_bom", TICKETS, _tickets_bytes(lambda c: b"\xef\xbb\xbf" + S.tickets_csv_bytes(_clean(c),
                                                                                                   encoding="utf-8")),
         Expect("rejected", contains=("byte-order mark",))),
    Case("csv_invalid_gb18030_bytes", TICKETS, _tickets_bytes(_garbage_bytes),
         Expect("rejected", contains=("not valid GB18030 at byte offset", "(line 4)"))),
    Case("csv_missing_column", TICKETS, _tickets(_clean, header=HEADER_DROP_CSAT),
         Expect("rejected", contains=("changed column set", "missing csat"))),
    Case("csv_extra_column", TICKETS, _tickets(_clean, header=S.TICKET_HEADER + ["region"]),
         Expect("rejected", contains=("unexpected 'region'",))),
    Case("csv_duplicated_header_column", TICKETS, _tickets(_clean, header=S.TICKET_HEADER + ["csat"]),
         Expect("rejected", contains=("duplicated csat",))),
    Case("csv_empty_file", TICKETS, _tickets_bytes(lambda c: b""),
         Expect("rejected", contains=("file is empty (0 bytes)",))),
    Case("csv_header_only", TICKETS, _tickets(lambda c: []), Expect("empty", rows_read=0, loaded=0, quarantined=0)),
    Case("csv_non_numeric_csat", TICKETS, _tickets(_with_bad(csat="N/A")),
         Expect("loaded", "type", ("csat must be an integer",), 3, 2, 1)),
    Case("csv_flag_not_numeric", TICKETS, _tickets(_with_bad(is_complaint="yes")),
         Expect("loaded", "type", (), 3, 2, 1)),
    Case("csv_flag_out_of_set", TICKETS, _tickets(_with_bad(is_complaint="2")),
         Expect("loaded", "expect_column_values_to_be_in_set(is_complaint)", (), 3, 2, 1)),
    Case("csv_impossible_timestamp", TICKETS, _tickets(_with_bad(opened="2025-13-45 10:00:00")),
         Expect("loaded", "type", ("local timestamp",), 3, 2, 1)),
    Case("csv_duplicate_key", TICKETS, _tickets(lambda c: _clean(c) + [S.ticket_row(f"{c}-ok0")]),
         Expect("loaded", "duplicate_key", ("1 × duplicate_key",), 3, 2, 1)),
    Case("csv_null_key", TICKETS, _tickets(lambda c: _clean(c) + [S.ticket_row("")]),
         Expect("loaded", "expect_column_values_to_not_be_null(ticket_id)", (), 3, 2, 1)),
    Case("csv_orphan_team", TICKETS, _tickets(_with_bad(team_id="TM-DOES-NOT-EXIST")),
         Expect("loaded", "reference(team_id)", (), 3, 2, 1)),
    Case("csv_csat_out_of_range", TICKETS, _tickets(_with_bad(csat="9")),
         Expect("loaded", "expect_column_values_to_be_between(csat)", (), 3, 2, 1)),
    Case("csv_unknown_priority", TICKETS, _tickets(_with_bad(priority="P9")),
         Expect("loaded", "expect_column_values_to_be_in_set(priority)", (), 3, 2, 1)),
    Case("csv_future_date", TICKETS, _tickets(_with_bad(opened="2030-01-01 08:00:00")),
         Expect("loaded", "not_future(opened_at)", (), 3, 2, 1)),
    Case("csv_absurd_past_date", TICKETS, _tickets(_with_bad(opened="1900-01-01 08:00:00")),
         Expect("loaded", "expect_column_values_to_be_between(opened_at)", (), 3, 2, 1)),
    Case("csv_huge_field", TICKETS, _tickets(_with_bad(subject="长" * 200_000)),
         Expect("loaded", "expect_column_value_lengths_to_be_between(subject)", (), 3, 2, 1)),
    Case("csv_resolved_before_opened", TICKETS, _tickets(_with_bad(resolved_at="2024-12-31 08:00:00")),
         Expect("loaded", "expect_column_pair_values_a_to_be_greater_than_b(resolved_at,opened_at)",
                (), 3, 2, 1)),
    Case("csv_too_many_fields", TICKETS, _tickets_bytes(_too_many_fields),
         Expect("loaded", "field_count", ("has 15 fields, the header has 14",), 3, 2, 1)),
    Case("csv_duplicated_file", TICKETS, _duplicate_file,
         Expect("rejected", contains=("duplicated file",)), days=2),
]

# --- survey JSONL -------------------------------------------------------------------------------------

NPS = "survey.nps_responses"


def _nps(lines_of: Callable[[str], list[dict | str]]) -> Callable[[Path, date, str], None]:
    def build(landing: Path, day: date, cid: str) -> None:
        S.write_jsonl(landing, f"survey/nps_{day:%Y%m%d}.jsonl", lines_of(cid))
    return build


def _nps_bad(**over: object) -> Callable[[str], list[dict | str]]:
    return lambda c: [S.nps_record(f"{c}-ok"), S.nps_record(f"{c}-bad", **over)]


def _nps_gb18030(landing: Path, day: date, cid: str) -> None:
    path = landing / "survey" / f"nps_{day:%Y%m%d}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((json.dumps(S.nps_record(f"{cid}-ok"), ensure_ascii=False) + "\n").encode("gb18030"))


JSONL_CASES = [
    Case("jsonl_line_not_json", NPS, _nps(lambda c: [S.nps_record(f"{c}-ok"), '{"response_id": "x",']),
         Expect("loaded", "json", ("1 × json",), 2, 1, 1)),
    Case("jsonl_line_is_array", NPS, _nps(lambda c: [S.nps_record(f"{c}-ok"), "[1, 2, 3]"]),
         Expect("loaded", "json", (), 2, 1, 1)),
    Case("jsonl_score_as_word", NPS, _nps(_nps_bad(score="ten")), Expect("loaded", "type", (), 2, 1, 1)),
    Case("jsonl_score_boolean", NPS, _nps(_nps_bad(score=True)), Expect("loaded", "type", (), 2, 1, 1)),
    Case("jsonl_score_out_of_range", NPS, _nps(_nps_bad(score=11)),
         Expect("loaded", "expect_column_values_to_be_between(score)", (), 2, 1, 1)),
    Case("jsonl_negative_score", NPS, _nps(_nps_bad(score=-1)),
         Expect("loaded", "expect_column_values_to_be_between(score)", (), 2, 1, 1)),
    Case("jsonl_timestamp_without_offset", NPS, _nps(_nps_bad(submitted_at="2025-01-01T10:00:00")),
         Expect("loaded", "type", ("UTC offset",), 2, 1, 1)),
    Case("jsonl_object_in_text_field", NPS, _nps(_nps_bad(comment={"text": "很好"})),
         Expect("loaded", "type", ("comment must be text",), 2, 1, 1)),
    Case("jsonl_renamed_key", NPS, _nps(lambda c: [
        {("rating" if k == "score" else k): v for k, v in S.nps_record(f"{c}-{i}").items()} for i in range(2)]),
        Expect("rejected", contains=("changed column set", "no record has score", "'rating'"))),
    Case("jsonl_gb18030_instead_of_utf8", NPS, _nps_gb18030,
         Expect("rejected", contains=("not valid UTF-8 at byte offset",))),
    Case("jsonl_orphan_customer", NPS, _nps(_nps_bad(customer_id="C999999")),
         Expect("loaded", "reference(customer_id)", (), 2, 1, 1)),
]

# --- MES Parquet ----------------------------------------------------------------------------------------

RUNS = "mes.production_runs"


def _runs(records_of: Callable[[str], list[dict]], schema: pa.Schema | None = None) \
        -> Callable[[Path, date, str], None]:
    def build(landing: Path, day: date, cid: str) -> None:
        S.write_runs(landing, day, records_of(cid), schema)
    return build


def _runs_bad(**over: object) -> Callable[[str], list[dict]]:
    return lambda c: [S.run_record(f"{c}-ok"), S.run_record(f"{c}-bad", **over)]


def _corrupt_parquet(landing: Path, day: date, cid: str) -> None:
    path = landing / "mes" / f"production_runs_{day:%Y%m%d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 this is not really parquet PAR1")


def _runs_missing_column(landing: Path, day: date, cid: str) -> None:
    table = pa.Table.from_pylist([S.run_record(f"{cid}-ok")], schema=S.RUN_SCHEMA).drop_columns(["line_id"])
    path = landing / "mes" / f"production_runs_{day:%Y%m%d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


_TEXT_QTY = pa.schema([f if f.name != "planned_qty" else pa.field("planned_qty", pa.string())
                       for f in S.RUN_SCHEMA])

PARQUET_CASES = [
    Case("parquet_negative_quantity", RUNS, _runs(_runs_bad(produced_qty=-5, defective_qty=0)),
         Expect("loaded", "expect_column_values_to_be_between(produced_qty)", (), 2, 1, 1)),
    Case("parquet_absurd_quantity", RUNS, _runs(_runs_bad(planned_qty=10**12)),
         Expect("loaded", "expect_column_values_to_be_between(planned_qty)", (), 2, 1, 1)),
    Case("parquet_defective_above_produced", RUNS, _runs(_runs_bad(defective_qty=500)),
         Expect("loaded", "expect_column_pair_values_a_to_be_greater_than_b(produced_qty,defective_qty)",
                (), 2, 1, 1)),
    Case("parquet_text_in_integer_column", RUNS,
         _runs(lambda c: [S.run_record(f"{c}-ok", planned_qty="100"),
                          S.run_record(f"{c}-bad", planned_qty="abc")], _TEXT_QTY),
         Expect("loaded", "type", ("planned_qty must be an integer",), 2, 1, 1)),
    Case("parquet_future_delivery", RUNS, _runs(_runs_bad(delivered_date=date(2031, 1, 1))),
         Expect("loaded", "not_future(delivered_date)", (), 2, 1, 1)),
    Case("parquet_null_key", RUNS, _runs(lambda c: [S.run_record(f"{c}-ok"), S.run_record(None)]),
         Expect("loaded", "expect_column_values_to_not_be_null(run_id)", (), 2, 1, 1)),
    Case("parquet_corrupt_file", RUNS, _corrupt_parquet,
         Expect("rejected", contains=("not a readable Parquet file",))),
    Case("parquet_missing_column", RUNS, _runs_missing_column,
         Expect("rejected", contains=("changed column set", "missing line_id"))),
]

# --- finance workbooks (the partition is the workbook's valid_from) ----------------------------------

TARGETS = "finance.targets"


def _workbook(**kwargs: object) -> Callable[[Path, date, str], None]:
    def build(landing: Path, day: date, cid: str) -> None:
        S.write_workbook(landing, f"plan_FY{day:%Y}_v{day:%m%d}.xlsx", valid_from=day,
                         plan_version=f"P-{cid}", **kwargs)
    return build


_GOOD_TARGET = ["net_revenue", "ACME", "2025", 1000, None, None, None]

XLSX_CASES = [
    Case("xlsx_renamed_sheet", TARGETS, _workbook(sheet_names={"Targets": "Target"}),
         Expect("rejected", contains=("sheet 'Targets' not found", "Target"))),
    Case("xlsx_valid_from_not_a_date", TARGETS, lambda landing, day, cid: S.write_workbook(
        landing, f"plan_FY{day:%Y}_v{day:%m%d}.xlsx", valid_from="soon", plan_version=f"P-{cid}"),
         Expect("rejected", contains=("valid_from 'soon' is not a date",))),
    Case("xlsx_bad_period", TARGETS, _workbook(targets=[_GOOD_TARGET, ["nps", "ACME", "2025-13", 50, None, None, None]]),
         Expect("loaded", "expect_column_values_to_match_regex(period)", (), 2, 1, 1)),
    Case("xlsx_text_target_value", TARGETS,
         _workbook(targets=[_GOOD_TARGET, ["nps", "ACME", "2025", "TBD", None, None, None]]),
         Expect("loaded", "type", ("target_value must be a number",), 2, 1, 1)),
    Case("xlsx_range_inverted", TARGETS,
         _workbook(targets=[_GOOD_TARGET, ["avg_discount_rate", "ACME", "2025", None, 0.2, 0.1, None]]),
         Expect("loaded", "expect_column_pair_values_a_to_be_greater_than_b(target_high,target_low)",
                (), 2, 1, 1)),
    Case("xlsx_changed_header", TARGETS, _workbook(target_header=["kpi", "org_unit_id", "period", "target_value",
                                                                  "target_low", "target_high", "comment"]),
         Expect("rejected", contains=("sheet 'Targets' row 1 (header)", "missing kpi_id"))),
]

# --- ERP database rows (each case's rows are updated on its own local day) ---------------------------

LINES = "erp.order_lines"


def _line(day: date, cid: str, **over: object) -> list[dict]:
    ts = datetime.combine(day, datetime.min.time()).replace(hour=4).strftime("%Y-%m-%d %H:%M:%S")
    base = {**S.order_lines()[0], "created_at": ts, "updated_at": ts}
    return [{**base, "order_line_id": f"{cid}-ok"}, {**base, "order_line_id": f"{cid}-bad", **over}]


def _db(**over: object) -> Callable[[date, str], list[dict]]:
    return lambda day, cid: _line(day, cid, **over)


def _nothing(landing: Path, day: date, cid: str) -> None:
    return None


DB_CASES = [
    Case("db_text_in_integer_column", LINES, _nothing, Expect("loaded", "type", ("quantity",), 2, 1, 1),
         db_rows=_db(quantity="N/A")),
    Case("db_negative_quantity", LINES, _nothing,
         Expect("loaded", "expect_column_values_to_be_between(quantity)", (), 2, 1, 1),
         db_rows=_db(quantity=-2)),
    Case("db_absurd_quantity", LINES, _nothing,
         Expect("loaded", "expect_column_values_to_be_between(quantity)", (), 2, 1, 1),
         db_rows=_db(quantity=10**9)),
    Case("db_discount_above_cap", LINES, _nothing,
         Expect("loaded", "expect_column_values_to_be_between(discount_pct)", (), 2, 1, 1),
         db_rows=_db(discount_pct=0.75)),
    Case("db_orphan_product", LINES, _nothing, Expect("loaded", "reference(product_id)", (), 2, 1, 1),
         db_rows=_db(product_id="P4040")),
    Case("db_null_key", LINES, _nothing,
         Expect("loaded", "expect_column_values_to_not_be_null(order_line_id)", (), 2, 1, 1),
         db_rows=_db(order_line_id=None)),
    Case("db_future_created_at", LINES, _nothing,
         Expect("loaded", "not_future(created_at)", (), 2, 1, 1),
         db_rows=_db(created_at="2031-05-05 00:00:00")),
    Case("db_unparseable_timestamp", LINES, _nothing, Expect("loaded", "type", ("created_at",), 2, 1, 1),
         db_rows=_db(created_at="yesterday")),
]

ALL_CASES = CSV_CASES + JSONL_CASES + PARQUET_CASES + XLSX_CASES + DB_CASES
