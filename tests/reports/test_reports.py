"""The reports built from the synthetic marts: files, self-containment, escaping, scoping, language,
and numbers that match the marts (attribution parts add up to the gap)."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import pytest

import reports
from reports.formatting import format_pct, format_value
from reports.html import PLOTLY_FILE, plotly_js
from reports.i18n import LABELS
from reports.periods import running_periods
from tests.fixtures.synthetic_marts import AS_OF, XSS

from .conftest import SCOPED, Built, page_text, tables_of

OUTSIDE_EAST = ["ACME", "DIV-SALES", "DIV-OPS", "DEP-SALES-NORTH", "DEP-SERVICE", "TM-SN-1", "TM-SE-3",
                "TM-SV-1", "TM-SV-2"]
SECRETS = ["NORTH-ONLY-SECRET-COMMENT", "NORTH-ONLY-ANOMALY-REASON", "COMPANY-ONLY-ANOMALY-REASON"]


def by_kind(paths: list[Path]) -> dict[str, Path]:
    return {p.stem.split("_", 1)[0] + ("_" + p.stem.split("_")[1] if p.stem.startswith("review") else ""): p
            for p in paths}


def figures_of(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="kpi-figures">(.*?)</script>', text, re.S)
    assert block, f"{path.name}: no figure block"
    return json.loads(block.group(1))


# --- files ------------------------------------------------------------------------------------


def test_build_all_writes_every_report_and_an_index(built: Built):
    kinds = by_kind(built.company_en)
    assert set(kinds) == {"attainment", "review_month", "review_quarter", "anomalies", "quality", "index"}
    assert kinds["review_month"].name == "review_month_2025-09.html"
    assert kinds["review_quarter"].name == "review_quarter_2025-Q3.html"
    assert all(p.parent == built.out_dir and p.exists() for p in built.all)
    # the quality report is about sources, not org units: a scoped run has none
    assert "quality" not in by_kind(built.scoped_en)
    index = page_text(kinds["index"])
    for p in built.company_en[:-1]:
        assert f'href="{p.name}"' in index


def test_the_index_shows_the_nights_headline(built: Built, marts_con: duckdb.DuckDBPyConnection):
    text = page_text(by_kind(built.company_en)["index"])
    scores = dict(marts_con.execute(
        "select grain, score from marts.kpi_scorecard where org_unit_id = 'ACME' and "
        "((grain = 'month' and period_start = ?) or (grain = 'quarter' and period_start = ?) "
        "or (grain = 'year' and period_start = ?))", list(running_periods(AS_OF).values())).fetchall())
    for grain, label in (("month", "Month · Oct 2025"), ("quarter", "Quarter · 2025 Q4"), ("year", "Year · 2025")):
        assert f'<div class="v">{format_pct(scores[grain])}</div><div class="l">Score · ACME · {label}</div>' in text
    # what needs attention first, linked into the attainment report
    attention = pd.read_csv(built.out_dir / "attainment__attention.csv")
    assert f'<a href="attainment.html#attention">Needs attention</a> <span class="sub">({attention["rank"].max()})' in text
    first = re.search(r'<ol class="attention-list"><li>(.*?)</li>', text, re.S).group(1)
    assert 'href="attainment.html#u-DIV-SALES-k-net_revenue"' in first and "Target rejected" in first
    # the day's anomalies by severity and the data-quality problems
    assert '<span class="chip sev-critical">Critical 1</span>' in text and '<span class="chip sev-high">High 2</span>' in text
    assert '<div class="stat problem"><div class="v">2</div><div class="l">Checks failed</div></div>' in text
    zh = page_text(by_kind(built.company_zh)["index"])
    assert "今日概览" in zh and "需要关注" in zh and 'href="attainment_zh.html#u-DIV-SALES-k-net_revenue"' in zh
    scoped = page_text(by_kind(built.scoped_en)["index"])
    assert "Score · DEP-SALES-EAST" in scoped and "quality" not in scoped.split("<main")[1]


def test_each_table_is_written_as_csv_and_parquet_beside_the_html(built: Built):
    for path in built.all:
        if path.stem.startswith("index"):
            continue
        csvs = tables_of(path)
        assert csvs, f"{path.name} has no tables beside it"
        for csv in csvs:
            parquet = csv.with_suffix(".parquet")
            assert parquet.exists(), parquet
            assert len(pd.read_csv(csv)) == len(pd.read_parquet(parquet))
    names = {c.name for c in tables_of(by_kind(built.company_en)["attainment"])}
    assert {"attainment__kpis.csv", "attainment__score_breakdown.csv", "attainment__leaderboard.csv"} <= names


def test_no_temp_files_are_left_behind(built: Built):
    assert not [p for p in built.out_dir.iterdir() if p.name.startswith(".")]


def test_rebuilding_is_byte_identical(built: Built, marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    again = reports.build_attainment_report(marts_con, tmp_path, as_of=AS_OF, org=SCOPED)
    first = next(p for p in built.scoped_en if p.stem.startswith("attainment"))
    assert again.read_bytes() == first.read_bytes()


# --- self-contained ---------------------------------------------------------------------------


def test_one_shared_plotly_bundle_beside_the_reports_and_nothing_from_the_network(built: Built):
    # one plotly.min.js per report folder, referenced by relative path (the night's reports share it)
    bundle = built.out_dir / PLOTLY_FILE
    assert bundle.read_text(encoding="utf-8") == plotly_js()
    signature = plotly_js()[:300]
    for path in built.all:
        text = path.read_text(encoding="utf-8")
        has_figures = bool(figures_of(path))
        assert signature not in text, f"{path.name} embeds plotly.js"
        assert re.findall(r"<script[^>]+src=\"([^\"]*)\"", text) == ([PLOTLY_FILE] if has_figures else []), path.name
        assert not re.search(r'(href|src)="(https?:)?//', text), path.name
        assert "@import" not in text and "url(http" not in text
    assert len(list(built.out_dir.glob("*.js"))) == 1


def test_the_attainment_report_is_light_and_keeps_everything_reachable(built: Built):
    path = by_kind(built.company_en)["attainment"]
    text = path.read_text(encoding="utf-8")
    # every unit has its section and a contents link to it; only the root's section is open
    for uid in ("ACME", "DIV-SALES", "DEP-SALES-EAST", "TM-SE-1", "TM-SV-2"):
        assert f'id="u-{uid}"' in text and f'href="#u-{uid}"' in text
    assert text.count('<details class="fold">') >= 12
    assert '<section class="unit level-1" id="u-ACME"><h2>' in text


def test_every_figure_is_a_valid_plotly_figure(built: Built):
    count = 0
    for path in built.company_en + built.scoped_zh:
        for spec in figures_of(path):
            go.Figure(spec["figure"])  # raises on an unknown property
            count += 1
    assert count >= 10


# --- escaping ---------------------------------------------------------------------------------


def test_user_strings_are_escaped_everywhere(built: Built):
    for path in built.all:
        text = page_text(path)
        assert XSS not in text, path.name
        assert "<img src=x" not in text, path.name
        assert "<script>alert(" not in text and "</script><script>" not in text, path.name
        assert "<b>Mallory</b>" not in text and "<b>improve</b>" not in text, path.name
        # figure JSON: no raw angle brackets at all, so nothing inside can close the script element
        block = re.search(r'id="kpi-figures">(.*?)</script>', text, re.S).group(1)
        assert "<" not in block and ">" not in block, path.name
    attainment = page_text(by_kind(built.company_en)["attainment"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in attainment
    zh = page_text(by_kind(built.company_zh)["attainment"])
    assert "&lt;img src=x onerror=alert(2)&gt;新签合同" in zh


def test_escaped_names_survive_into_the_csv_as_plain_text(built: Built):
    kpis = pd.read_csv(built.out_dir / "attainment__kpis.csv")
    assert XSS in set(kpis["kpi"])


# --- scoping ----------------------------------------------------------------------------------


def _outside_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("select name, name_zh from marts.dim_org_unit where list_contains(?, org_unit_id)",
                       [OUTSIDE_EAST]).fetchall()
    return sorted({n for row in rows for n in row if n})


def _parent_numbers(con: duckdb.DuckDBPyConnection) -> list[float]:
    periods = running_periods(AS_OF)
    keys = [("month", periods["month"]), ("quarter", periods["quarter"]), ("year", periods["year"]),
            ("month", date(2025, 9, 1)), ("quarter", date(2025, 7, 1))]
    values = []
    for grain, start in keys:
        values += [r[0] for r in con.execute(
            "select actual_value from marts.kpi_attainment where kpi_id = 'net_revenue' and grain = ? "
            "and period_start = ? and org_unit_id in ('ACME', 'DIV-SALES', 'DEP-SALES-NORTH')",
            [grain, start]).fetchall()]
    return values


def test_a_scoped_report_contains_its_subtree_only(built: Built, marts_con: duckdb.DuckDBPyConnection):
    names = _outside_names(marts_con)
    assert "North Sales Department" in names and "销售事业部" in names
    numbers = _parent_numbers(marts_con)
    assert len(numbers) == 15
    formatted = {format_value(v, "CNY", lang) for v in numbers for lang in ("en", "zh")}
    raw = {repr(float(v)) for v in numbers} | {f"{v:.6g}" for v in numbers}
    for path in built.scoped_en + built.scoped_zh:
        files = [path] + tables_of(path)
        for f in files:
            text = page_text(f) if f.suffix == ".html" else f.read_text(encoding="utf-8")
            for uid in OUTSIDE_EAST:
                assert not re.search(rf"(?<![A-Za-z0-9_-]){re.escape(uid)}(?![A-Za-z0-9_-])", text), (f.name, uid)
            for name in names:
                assert name not in text, (f.name, name)
            for secret in SECRETS:
                assert secret not in text, (f.name, secret)
            if f.suffix == ".html":
                for number in formatted:
                    assert number not in text, (f.name, number)
            else:
                for number in raw:
                    assert number not in text, (f.name, number)


def test_a_scoped_report_still_shows_the_whole_subtree(built: Built):
    text = page_text(by_kind(built.scoped_en)["attainment"])
    for uid in ("DEP-SALES-EAST", "TM-SE-1", "TM-SE-2"):
        assert uid in text
    assert "Shanghai Key Accounts Team" in text
    review = page_text(by_kind(built.scoped_en)["review_month"])
    assert "Two key accounts slipped to October" in review
    # a check-in that names a unit outside the scope has the name redacted, the rest kept
    assert "Compared with … we lag." in review


def test_an_unknown_org_unit_is_a_clear_error(marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    with pytest.raises(reports.UnknownOrgUnit, match="NOPE"):
        reports.build_attainment_report(marts_con, tmp_path, as_of=AS_OF, org="NOPE")


def test_the_scope_follows_the_reorganisation(marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    # TM-SE-3 belonged to DEP-SALES-EAST before 2024-07-01: a review of 2024-05 shows it
    path = reports.build_review_report(marts_con, tmp_path, grain="month", period_start=date(2024, 5, 1), org=SCOPED)
    assert "TM-SE-3" in page_text(path)
    path = reports.build_review_report(marts_con, tmp_path, grain="month", period_start=date(2024, 8, 1), org=SCOPED)
    assert "TM-SE-3" not in page_text(path)


# --- language ---------------------------------------------------------------------------------


def test_every_label_exists_in_both_languages():
    for key, entry in LABELS.items():
        assert entry.get("en") and entry.get("zh"), key


def test_chinese_reports_use_chinese_labels_and_names(built: Built):
    pages = by_kind(built.company_zh)
    att = page_text(pages["attainment"])
    assert '<html lang="zh-CN">' in att
    for label in ("达成率", "目标值", "目标树", "得分构成（权重）", "进度", "未验证"):
        assert label in att, label
    assert "净收入" in att and "华东销售部" in att
    for english in ("Attainment", "Goal tree", "Score breakdown", "Leaderboard of sub-units", "Net revenue"):
        assert english not in att, english
    review = page_text(pages["review_month"])
    for label in ("差距归因", "负责人反馈", "结构效应", "比率效应", "与上期相比的变化", "按渠道"):
        assert label in review, label
    assert "Gap attribution" not in review and "Check-ins" not in review
    assert "严重" in page_text(pages["anomalies"])
    assert "数据质量" in page_text(pages["quality"])


def test_pages_declare_a_cjk_font_stack(built: Built):
    text = page_text(by_kind(built.company_zh)["attainment"])
    assert '"Noto Sans CJK SC"' in text and "Microsoft YaHei" in text


# --- content ----------------------------------------------------------------------------------


def test_attainment_tiles_match_the_mart(built: Built, marts_con: duckdb.DuckDBPyConnection):
    kpis = pd.read_csv(built.out_dir / "attainment__kpis.csv")
    mart = marts_con.execute(
        "select org_unit_id, kpi_id, grain, actual_value, target_value, expected_to_date from marts.kpi_attainment "
        "where (grain = 'month' and period_start = ?) or (grain = 'quarter' and period_start = ?) "
        "or (grain = 'year' and period_start = ?)", list(running_periods(AS_OF).values())).df()
    merged = kpis.merge(mart, on=["org_unit_id", "kpi_id", "grain"], suffixes=("", "_mart"))
    assert len(merged) == len(mart) == len(kpis)
    assert (merged["actual_value"] - merged["actual_value_mart"]).abs().max() < 1e-6
    assert set(kpis["grain"]) == {"month", "quarter", "year"}


def test_unverified_values_never_get_a_status_colour(built: Built):
    kpis = pd.read_csv(built.out_dir / "attainment__kpis.csv")
    unverified = kpis[~kpis["is_verified"]]
    assert {("TM-SE-2", "net_revenue", "month"), ("ACME", "net_revenue", "month")} <= set(
        zip(unverified["org_unit_id"], unverified["kpi_id"], unverified["grain"], strict=True))
    assert unverified["status"].isna().all()
    text = page_text(by_kind(built.company_en)["attainment"])
    tile = re.search(r'<article class="tile st-(\w+)" id="u-TM-SE-2-k-net_revenue"[^>]*>(.*?)</article>', text, re.S)
    assert tile.group(1) == "unverified"
    first_period = tile.group(2).split('class="prow"')[1]
    assert 'chip st-unverified' in first_period and "Unverified" in first_period
    assert not re.search(r"chip st-(met|on_track|at_risk|missed|off_track)", first_period)


def _tile(text: str, unit: str, kpi: str) -> str:
    tile = re.search(rf'<article class="tile st-\w+" id="u-{unit}-k-{kpi}"[^>]*>(.*?)</article>', text, re.S)
    assert tile, (unit, kpi)
    return tile.group(1)


def _period_blocks(tile: str) -> dict[str, str]:
    """The tile's period blocks by grain (month, quarter, year)."""
    blocks = tile.split('<div class="prow">')[1:]
    out = {}
    for block in blocks:
        label = re.search(r'<span class="pl">(\w+) ·', block).group(1).lower()
        out[label] = block
    return out


def _mart_row(con: duckdb.DuckDBPyConnection, unit: str, kpi: str, grain: str) -> dict:
    start = running_periods(AS_OF)[grain]
    frame = con.execute("select * from marts.kpi_attainment where org_unit_id = ? and kpi_id = ? and grain = ? "
                        "and period_start = ?", [unit, kpi, grain, start]).df()
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


@pytest.mark.parametrize(("unit", "kpi"), [("TM-SE-1", "net_revenue"), ("DEP-SALES-EAST", "cogs")])
def test_a_running_period_headline_is_attainment_to_date(built: Built, marts_con: duckdb.DuckDBPyConnection,
                                                         unit: str, kpi: str):
    """The headline is attainment to date against the phased target (the number the score uses), not
    actual to date / full-period target — which for a lower-is-better KPI even reads inverted."""
    text = page_text(by_kind(built.company_en)["attainment"])
    tile = _tile(text, unit, kpi)
    for grain in ("month", "quarter", "year"):
        row = _mart_row(marts_con, unit, kpi, grain)
        assert not row["is_complete"] and row["expected_to_date"] < row["target_value"]
        block = _period_blocks(tile)[grain]
        headline = re.search(r'<b class="big">([^<]*)</b>', block).group(1)
        assert headline == format_pct(row["attainment_to_date"]), (grain, headline)
        assert headline != format_pct(row["attainment"])
        assert '<span class="lbl">Attainment to date</span>' in block
        # the full-period target and how much of it is reached stand beside it, labelled
        so_far = format_pct(row["actual_value"] / row["target_value"])
        assert f"Full period: Target {format_value(row['target_value'], 'CNY')} · {so_far} of it so far" in block
        assert f"Expected to date {format_value(row['expected_to_date'], 'CNY')}" in block
    if kpi == "cogs":  # lower is better: the full-period ratio would read as far above 100 %
        month = _mart_row(marts_con, unit, kpi, "month")
        assert month["attainment"] > 1.2 and month["attainment_to_date"] < 1.2
    csv = pd.read_csv(built.out_dir / "attainment__kpis.csv")
    mine = csv[(csv["org_unit_id"] == unit) & (csv["kpi_id"] == kpi)].set_index("grain")
    for grain in ("month", "quarter", "year"):
        assert mine.loc[grain, "headline_attainment"] == pytest.approx(
            _mart_row(marts_con, unit, kpi, grain)["attainment_to_date"])


def test_running_periods_show_the_forecast_beside_the_headline(built: Built):
    block = _period_blocks(_tile(page_text(by_kind(built.company_en)["attainment"]), "TM-SE-1", "net_revenue"))["month"]
    assert "Forecast: ¥" in block and "Chance of target" in block


def test_the_running_month_is_drawn_as_partial_in_the_trend(built: Built):
    tile = _tile(page_text(by_kind(built.company_en)["attainment"]), "TM-SE-1", "net_revenue")
    trend = re.search(r'<svg class="mini trend".*?</svg>', tile, re.S).group(0)
    assert "Oct: this month to date (partial)" in trend
    assert "the running month is drawn hollow and dashed (to date, not a drop)" in page_text(
        by_kind(built.company_en)["attainment"])
    # the to-date point is hollow and joined by a dashed segment (not a solid drop)
    assert re.search(r'<polyline points="[^"]+" class="ty pt"/><circle [^>]*fill="#fff" stroke="#1f5fa8"', trend)
    assert ".pt { stroke-dasharray: 3 2; }" in page_text(by_kind(built.company_en)["attainment"])


def test_targets_show_their_source_and_rejected_or_missing_targets_say_why(built: Built):
    text = page_text(by_kind(built.company_en)["attainment"])
    acme = _tile(text, "ACME", "net_revenue")
    assert "Target source" in acme and "plan_FY2025_v2.xlsx (FY2025-v2)" in acme
    assert "allocated from DEP-SALES-EAST by last year&#39;s share (FY2025-v2)" in _tile(text, "TM-SE-1", "net_revenue")
    assert "catalog rule: fixed 34" in _tile(text, "TM-SE-1", "repurchase_rate")
    quarter = _period_blocks(_tile(text, "DIV-SALES", "net_revenue"))["quarter"]
    assert "Target rejected: plan row Targets!D17 of plan_FY2025_v2.xlsx" in quarter
    assert '<span class="chip st-missed">Target rejected</span>' in quarter
    assert "<svg" not in quarter and 'class="big"' not in quarter  # no number pretends to judge it
    month = _period_blocks(_tile(text, "TM-SE-3", "new_contracts"))["month"]
    assert "Target missing: growth target needs a complete base period" in month
    csv = pd.read_csv(built.out_dir / "attainment__kpis.csv")
    rejected = csv[csv["target_status"] == "rejected"]
    assert list(zip(rejected["org_unit_id"], rejected["kpi_id"], rejected["grain"], strict=True)) == [
        ("DIV-SALES", "net_revenue", "quarter")]
    assert rejected["status"].isna().all() and rejected["headline_attainment"].isna().all()
    zh = page_text(by_kind(built.company_zh)["attainment"])
    assert "目标被拒绝：plan row Targets!D17" in _tile(zh, "DIV-SALES", "net_revenue")


def test_no_data_is_shown_as_no_data_never_as_zero(marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    # first_response_p90's inputs start on 2024-03-01: February 2024 has no data
    path = reports.build_attainment_report(marts_con, tmp_path, as_of=date(2024, 2, 20), org="DEP-SERVICE")
    month = _period_blocks(_tile(page_text(path), "DEP-SERVICE", "first_response_p90"))["month"]
    assert '<span class="chip st-none" title="No data: the period lies before' in month
    assert "0 s" not in month and "Target" not in month
    # the quarter and the year have data from March on: shown with their numbers, not judged
    quarter = _period_blocks(_tile(page_text(path), "DEP-SERVICE", "first_response_p90"))["quarter"]
    assert '<span class="chip st-none" title="Partial data: this KPI&#39;s inputs start inside the period' in quarter
    csv = pd.read_csv(tmp_path / "attainment_DEP-SERVICE__kpis.csv")
    assert csv[(csv["kpi_id"] == "first_response_p90") & (csv["grain"] == "quarter")]["status"].isna().all()
    row = csv[(csv["kpi_id"] == "first_response_p90") & (csv["grain"] == "month")].iloc[0]
    assert row["data_status"] == "no_data" and pd.isna(row["actual_value"])
    attention = pd.read_csv(tmp_path / "attainment_DEP-SERVICE__attention.csv")
    p90 = attention[attention["kpi_id"] == "first_response_p90"]
    assert "month" not in set(p90["grain"])  # no data is not a miss (the quarter has data from March)


def test_needs_attention_comes_first_ranked_by_weight_times_severity(built: Built):
    text = page_text(by_kind(built.company_en)["attainment"])
    main = text[text.index("<main"):]
    assert main.index('id="attention"') < main.index('id="overview-ACME"') < main.index('class="chart"')
    frame = pd.read_csv(built.out_dir / "attainment__attention.csv")
    firsts = frame.drop_duplicates("rank")
    assert list(firsts["rank"]) == list(range(1, len(firsts) + 1))
    assert firsts["score"].is_monotonic_decreasing
    # DIV-SALES' rejected revenue target: weight 50 × severity 3, ranked first
    top = firsts.iloc[0]
    assert (top["org_unit_id"], top["kpi_id"], top["issue"], top["score"]) == ("DIV-SALES", "net_revenue",
                                                                             "target_rejected", 150.0)
    kinds = set(frame["issue"])
    assert {"target_rejected", "target_missing", "unverified"} <= kinds
    assert kinds & {"off_track", "at_risk"}
    acme = frame[(frame["org_unit_id"] == "ACME") & (frame["kpi_id"] == "net_revenue")]
    assert acme["score"].iloc[0] == pytest.approx(40 * acme["severity"].max())  # weight 40 at ACME
    unverified = acme[acme["issue"] == "unverified"].iloc[0]
    assert unverified["grain"] == "month" and "erp.orders: 3 rows quarantined" in unverified["why"]
    first_item = re.search(r'<ol class="attention-list">\s*<li>(.*?)</li>', main, re.S).group(1)
    assert 'href="#u-DIV-SALES-k-net_revenue"' in first_item and "Target rejected" in first_item


def test_unverified_values_say_why_and_link_to_the_rows(built: Built):
    text = page_text(by_kind(built.company_en)["attainment"])
    month = _period_blocks(_tile(text, "ACME", "net_revenue"))["month"]
    assert "Unverified: erp.orders: 3 rows quarantined on 2025-10-19" in month
    assert '<a href="quality.html#src-erp-orders">erp.orders</a>' in month
    assert '<a href="quality.html#src-erp-order_lines">erp.order_lines</a>' in month
    complaints = _period_blocks(_tile(text, "TM-SV-1", "complaint_rate"))["month"]
    assert '<a href="quality.html#src-servicedesk-tickets">servicedesk.tickets</a>' in complaints
    quality = page_text(by_kind(built.company_en)["quality"])
    for anchor in ("src-erp-orders", "src-servicedesk-tickets"):
        assert f'id="{anchor}"' in quality
    zh = page_text(by_kind(built.company_zh)["attainment"])
    assert '<a href="quality_zh.html#src-erp-orders">erp.orders</a>' in zh
    assert 'id="src-erp-orders"' in page_text(by_kind(built.company_zh)["quality"])
    # a scoped report has no quality report beside it: the tables are named, not linked
    scoped = page_text(by_kind(built.scoped_en)["attainment"])
    assert "<code>erp.orders</code>" in scoped and "quality.html" not in scoped


def test_review_attribution_adds_up_to_the_gap(built: Built):
    frame = pd.read_csv(built.out_dir / "review_month_2025-09__attribution.csv")
    assert not frame.empty
    assert {"org_unit", "channel", "region"} <= set(frame["decomposition"])
    assert "ratio" in set(frame["method"]) and "additive" in set(frame["method"])
    for _, group in frame.groupby(["org_unit_id", "kpi_id", "decomposition"]):
        gap = group["gap"].iloc[0]
        assert math.isclose(group["contribution"].sum(), gap, rel_tol=1e-9, abs_tol=1e-6)
        if group["method"].iloc[0] == "ratio":
            assert math.isclose(group["mix_effect"].sum() + group["rate_effect"].sum(), gap, rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(gap, group["kpi_actual"].iloc[0] - group["kpi_target"].iloc[0], rel_tol=1e-9, abs_tol=1e-6)


def test_review_attribution_by_child_units_uses_the_marts(built: Built, marts_con: duckdb.DuckDBPyConnection):
    frame = pd.read_csv(built.out_dir / "review_month_2025-09__attribution.csv")
    children = frame[(frame["method"] == "additive") & (frame["decomposition"] == "org_unit")
                     & (frame["component_kind"] == "child")]
    assert not children.empty
    for child in children.itertuples():
        actual, target = marts_con.execute(
            "select a.actual_value, t.target_value from marts.kpi_actuals a join marts.kpi_targets t using "
            "(kpi_id, org_unit_id, grain, period_start) where a.kpi_id = ? and a.org_unit_id = ? "
            "and a.grain = 'month' and a.period_start = '2025-09-01'", [child.kpi_id, child.component]).fetchone()
        assert child.contribution == pytest.approx(actual - target)
        assert child.org_unit_id != child.component


def test_review_lists_target_definition_and_weight_changes(marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    path = reports.build_review_report(marts_con, tmp_path, grain="month", period_start=date(2025, 7, 1))
    text = page_text(path)
    assert "FY2025-v1 → FY2025-v2" in text
    defs = pd.read_csv(tmp_path / "review_month_2025-07__definition_changes.csv")
    assert set(defs["kpi_id"]) == {"complaint_rate"}
    assert "measure_filter" in set(defs["field"])
    assert "Spam tickets no longer count as complaints." in text
    changes = pd.read_csv(tmp_path / "review_month_2025-07__target_changes.csv")
    weight = changes[(changes["what"] == "weight") & (changes["kpi_id"] == "net_revenue")]
    assert list(zip(weight["before"], weight["after"], strict=True)) == [(50.0, 60.0)]


def test_review_shows_checkins_beside_the_kpi(built: Built):
    text = page_text(by_kind(built.company_en)["review_month"])
    assert "Two key accounts slipped to October" in text
    assert "&lt;script&gt;alert(&#39;checkin&#39;)&lt;/script&gt;" in text
    assert "Status override" in text


def test_anomaly_report_lists_the_days_anomalies_by_severity(built: Built):
    frame = pd.read_csv(built.out_dir / "anomalies__anomalies.csv")
    assert list(frame["severity"]) == ["critical", "high", "high", "medium", "low", "low"]
    assert "An old spike outside the window." not in set(frame["reason"])
    text = page_text(by_kind(built.company_en)["anomalies"])
    assert text.index("sev-critical") < text.index('id="sev-high"') < text.index('id="sev-low"')
    assert "Data issue" in text
    scoped = pd.read_csv(built.out_dir / f"anomalies_{SCOPED}__anomalies.csv")
    assert set(scoped["org_unit_id"]) == {"TM-SE-1", "DEP-SALES-EAST"}
    assert len(figures_of(by_kind(built.company_en)["anomalies"])) == len(frame)


def test_quality_report_tables(built: Built, quarantine_dir: Path):
    q = pd.read_csv(built.out_dir / "quality__quarantine.csv")
    got = {(r.source, r.table, r.rule): r.rows for r in q.itertuples()}
    assert got[("erp", "orders", "negative_quantity")] == 2
    assert got[("servicedesk", "tickets", "wrong_type")] == 2
    recon = pd.read_csv(built.out_dir / "quality__reconciliation.csv")
    unbalanced = recon[~recon["balanced"]]
    assert list(zip(unbalanced["source"], unbalanced["table"], strict=True)) == [("mes", "production_runs")]
    checks = pd.read_csv(built.out_dir / "quality__checks_by_layer.csv").set_index("layer")
    assert checks.loc["kpi", "failed"] == 1 and checks.loc["kpi", "blocking_failed"] == 1
    assert checks.loc["source", "passed"] == 8
    lint = pd.read_csv(built.out_dir / "quality__lint.csv")
    assert list(lint["severity"]) == ["error", "warning"]
    fresh = pd.read_csv(built.out_dir / "quality__freshness.csv")
    assert fresh.iloc[0]["status"] == "stale"


def test_quality_inputs_accept_lint_objects_and_empty_inputs(tmp_path: Path):
    from dataclasses import dataclass

    @dataclass
    class Finding:
        kpi_id: str
        field: str
        rule: str
        severity: str
        message: str

    frame = reports.lint_frame([Finding("k", "f", "r", "error", "m")])
    assert frame.to_dict("records") == [{"kpi_id": "k", "field": "f", "rule": "r", "severity": "error", "message": "m"}]
    path = reports.build_quality_report(reports.QualityInputs(), tmp_path, run_date=AS_OF, lang="zh")
    assert "无数据" in page_text(path)
    assert reports.quarantine_summary(tmp_path / "missing").empty


def test_the_review_shows_no_data_and_target_sources(marts_con: duckdb.DuckDBPyConnection, tmp_path: Path):
    path = reports.build_review_report(marts_con, tmp_path, grain="month", period_start=date(2024, 2, 1),
                                       org="DEP-SERVICE")
    text = page_text(path)
    section = text[text.index('id="u-TM-SV-1"'):]
    row = re.search(r"<tr><td[^>]*>First response time \(P90\)</td>(.*?)</tr>", section, re.S).group(1)
    assert '<td data-label="Actual" class="num">no data</td>' in row  # not "0 s"
    assert '<span class="chip st-none" title="No data' in row
    kpis = pd.read_csv(tmp_path / "review_month_2024-02_DEP-SERVICE__kpis.csv")
    p90 = kpis[kpis["kpi_id"] == "first_response_p90"]
    assert set(p90["data_status"]) == {"no_data"} and p90["actual_value"].isna().all()
    quarter = page_text(reports.build_review_report(marts_con, tmp_path, grain="quarter", period_start=date(2024, 1, 1),
                                                    org="DEP-SERVICE"))
    row = re.search(r"<tr><td[^>]*>First response time \(P90\)</td>(.*?)</tr>", quarter[quarter.index('id="u-TM-SV-1"'):],
                    re.S).group(1)
    assert ">Partial data</span>" in row  # inputs start in March: numbers shown, not judged
    september = page_text(reports.build_review_report(marts_con, tmp_path, grain="month", period_start=date(2025, 9, 1)))
    assert 'title="Target source: plan_FY2025_v2.xlsx (FY2025-v2)"' in september


def test_an_older_warehouse_without_issue_12s_columns_still_builds(marts_path: Path, tmp_path: Path):
    """No target source / status / note / data status / unverified reason in the marts: the reports
    build, the target's source comes from kpi_targets' `source` and `plan_version`, unverified values
    say the generic reason, and no period is called "no data"."""
    old = tmp_path / "old.duckdb"
    old.write_bytes(marts_path.read_bytes())
    with duckdb.connect(str(old)) as con:
        for table, cols in (("kpi_attainment", ("target_source", "target_status", "target_note", "plan_version",
                                                "plan_file", "data_status", "unverified_reason", "unverified_tables")),
                            ("kpi_actuals", ("data_status", "unverified_reason", "unverified_tables")),
                            ("kpi_targets", ("target_status", "target_note", "plan_file"))):
            for col in cols:
                con.execute(f'alter table marts."{table}" drop column "{col}"')  # fixed names
    with duckdb.connect(str(old), read_only=True) as con:
        paths = reports.build_all(con, tmp_path / "out", as_of=AS_OF)
    text = page_text(paths[0])
    acme = _tile(text, "ACME", "net_revenue")
    assert "<b>Target source: </b>plan · FY2025-v2" in acme
    assert "Unverified: a check upstream of this value failed" in _period_blocks(acme)["month"]
    assert "No data" not in text and "Target rejected" not in text
    # the rejected target has no value: without a target status it reads as "no target"
    assert '<span class="chip st-none">No target</span>' in _period_blocks(_tile(text, "DIV-SALES", "net_revenue"))["quarter"]


def test_the_quality_summary_counts_the_unplaced_store(tmp_path: Path):
    """Database rows no partition can hold yet (an unreadable or future watermark) sit in the
    table's `date=unplaced` store: the quality report counts them whatever the night it is built for."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"_raw": "{}", "_rule": "watermark(updated_at)", "_field": "updated_at", "_value": "2031-01-01 00:00:00",
             "_reason": "orders@erp.sqlite (unplaced): updated_at is after 2025-11-20: in the future"}]
    for folder in ("date=2025-11-01", "date=unplaced"):
        path = tmp_path / "erp" / "orders" / folder / "part-0.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), path)
    summary = reports.quarantine_summary(tmp_path, until=date(2025, 11, 19))
    assert summary["rows"].tolist() == [2]
    assert summary["last_partition"].tolist() == ["unplaced"]
