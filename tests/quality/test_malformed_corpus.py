"""Run the malformed-input corpus (tests/quality/malformed/cases.py) through the extraction engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.extract import (
    LoadResult,
    extract_partitions,
    extract_unpartitioned,
    get_source_table,
    raw_partition_path,
    read_partition,
)
from tests.extract import sources as S
from tests.extract.conftest import WINDOW, copy_company
from tests.quality.malformed.cases import ALL_CASES, BASE, Case


@dataclass
class Outcome:
    result: LoadResult
    lake: Path
    landing_before: dict[Path, str]
    landing: Path


def _hashes(landing: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in landing.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, _company_template) -> dict[str, Outcome]:
    co = copy_company(_company_template[1], tmp_path_factory.mktemp("corpus") / "co")
    cfg = co.config(run_date=date(2025, 12, 31))
    extract_partitions(get_source_table("erp.orders"), WINDOW, cfg)  # order lines reference orders
    next_day: dict[str, date] = {}
    check_day: dict[str, date] = {}
    for case in ALL_CASES:
        start = next_day.get(case.table, BASE)
        day = start + timedelta(days=case.days - 1)
        next_day[case.table] = day + timedelta(days=1)
        check_day[case.id] = day
        case.build(co.landing, day, case.id)
        if case.db_rows is not None:
            S.insert_rows(co.erp_url, "order_lines", case.db_rows(day, case.id))
    before = _hashes(co.landing)
    by_case: dict[str, Outcome] = {}
    for name in dict.fromkeys(c.table for c in ALL_CASES):
        table = get_source_table(name)
        cases = [c for c in ALL_CASES if c.table == name]
        if table.partitioned:
            dates = [check_day[c.id] - timedelta(days=i) for c in cases for i in range(c.days)]
            results = {r.partition_date: r for r in extract_partitions(table, dates, cfg)}
            assert len(results) == len(dates)
            for c in cases:
                by_case[c.id] = Outcome(results[check_day[c.id]], cfg.lake_dir, before, co.landing)
        else:
            results = {r.source_ref: r for r in extract_unpartitioned(table, cfg)}
            for c in cases:
                ref = f"finance/plan_FY{check_day[c.id]:%Y}_v{check_day[c.id]:%m%d}.xlsx"
                by_case[c.id] = Outcome(results[ref], cfg.lake_dir, before, co.landing)
    return by_case


def test_corpus_is_large_enough():
    assert len(ALL_CASES) >= 30
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_malformed_case(case: Case, corpus: dict[str, Outcome]):
    outcome = corpus[case.id]
    r, exp = outcome.result, case.expect
    assert r.status == exp.status, r.message
    assert r.rows_read == r.rows_loaded + r.rows_quarantined
    reasons = ""
    if exp.rule is not None:
        q = read_partition(outcome.lake, r.source, r.table, r.partition_date, quarantine=True)
        reasons = " ".join(q["_reason"])
    for text in exp.contains:
        assert text in r.message + reasons, r.message + reasons
    if exp.rows_read is not None:
        assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (exp.rows_read, exp.loaded, exp.quarantined), \
            r.message
    if exp.status == "rejected":
        assert r.message.startswith("batch rejected: ") and "(rule: " in r.message
        assert r.source_ref in r.message  # names the file / table
        if r.partition_date is not None:
            assert not raw_partition_path(outcome.lake, r.source, r.table, r.partition_date).exists()
        # the landing folder is untouched
        assert _hashes(outcome.landing) == outcome.landing_before
    if exp.rule is not None:
        q = read_partition(outcome.lake, r.source, r.table, r.partition_date, quarantine=True)
        assert exp.rule in set(q["_rule"]), q[["_rule", "_reason"]].to_dict("records")
        row = q[q["_rule"] == exp.rule].iloc[0]
        assert row["_reason"].startswith(r.source_ref)
        assert row["_row_number"] >= 1 and row["_raw"].startswith("{")
        raw = read_partition(outcome.lake, r.source, r.table, r.partition_date)
        assert len(raw) == r.rows_loaded
        key = get_source_table(r.source, r.table).key[-1]
        assert not raw[key].astype(str).str.endswith("-bad").any()  # no defective row reached raw
