"""The demo company generator: determinism, the contract of docs/sources.md, ground truth, KPIs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from pipelines.demo import generate
from pipelines.demo.__main__ import main
from pipelines.demo.anomalies import (
    BOUNDS,
    COUNT_KPIS,
    DROPOUT_MAX_DAYS,
    SHIFT_DAYS,
    SHIFT_DAYS_LOW_COUNT,
    poisson_lower,
    poisson_upper,
)
from pipelines.demo.company import PRODUCTION_TEAMS, RND_TEAMS, SALES_TEAMS, SERVICE_TEAMS
from pipelines.demo.servicedesk import COLUMNS as TICKET_COLUMNS

from . import recompute as rc
from .conftest import SMALL

HOLIDAYS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "cn_public_holidays.csv"
KPI_TEAMS = {"net_revenue": SALES_TEAMS, "complaint_rate": SERVICE_TEAMS, "first_response_p90": SERVICE_TEAMS,
             "quality_pass_rate": PRODUCTION_TEAMS, "bugs_reported": RND_TEAMS}
DB_KEYS = {"orders": "order_id", "order_lines": "order_line_id", "returns": "return_id",
           "employee_assignments": "assignment_id", "training_records": "training_id"}


def _hashes(manifest: dict) -> dict[str, str]:
    return {path: entry["sha256"] for path, entry in manifest["files"].items()}


# --- determinism -------------------------------------------------------------------------------


def test_same_parameters_give_identical_bytes(small_demo, tmp_path):
    root, manifest = small_demo
    again = generate(tmp_path / "again", **SMALL, parallel=False)
    assert again == manifest  # manifest holds a sha256 per file, incl. SQLite, Parquet and XLSX
    on_disk = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert on_disk == _hashes(manifest)
    assert (root / "ground_truth" / "manifest.json").read_bytes() == (
        tmp_path / "again" / "ground_truth" / "manifest.json").read_bytes()


def test_rerun_in_place_is_byte_identical_and_leaves_no_temp_files(small_demo):
    root, manifest = small_demo
    stale = root / "landing" / "servicedesk" / "tickets_20000101.csv"
    stale.write_bytes(b"old export\n")
    unrelated = root / "landing" / "servicedesk" / "README.txt"
    unrelated.write_text("not ours")
    assert generate(root, **SMALL, parallel=True) == manifest  # forked ERP writer, same bytes
    assert not stale.exists()  # a stale daily file from another window would be read as data
    assert unrelated.exists()
    unrelated.unlink()
    assert not [p for p in root.rglob(".*tmp*")]


def test_different_seed_gives_different_data(small_demo, tmp_path):
    _, manifest = small_demo
    other = generate(tmp_path / "other", **{**SMALL, "seed": 43})
    a, b = _hashes(manifest), _hashes(other)
    assert a.keys() == b.keys()
    for path in ("sources/erp.sqlite", "sources/hr.sqlite", "landing/servicedesk/tickets_20240610.csv",
                 "landing/survey/nps_20240610.jsonl", "landing/engineering/bugs_20240610.jsonl",
                 "ground_truth/defects.csv"):
        assert a[path] != b[path], path
    assert sum(a[p] != b[p] for p in a) > 0.7 * len(a)  # tiny scale: some days are empty for both


# --- layout and manifest -----------------------------------------------------------------------


def test_layout_and_manifest_counts(small_demo):
    root, manifest = small_demo
    days = (SMALL["end"] - SMALL["start"]).days + 1
    for pattern in ("landing/servicedesk/tickets_*.csv", "landing/survey/nps_*.jsonl",
                    "landing/mes/production_runs_*.parquet", "landing/engineering/bugs_*.jsonl",
                    "landing/engineering/releases_*.jsonl"):
        assert len(list(root.glob(pattern))) == days, pattern
    assert sorted(p.name for p in (root / "landing" / "finance").iterdir()) == [
        "plan_FY2024_v1.xlsx", "plan_FY2024_v2.xlsx"]
    assert manifest["params"] == {"seed": 42, "scale": 0.02, "start": "2024-05-01", "end": "2024-08-31",
                                  "timezone": "Asia/Shanghai", "erp": "sources/erp.sqlite",
                                  "hr": "sources/hr.sqlite"}
    counts = manifest["row_counts"]
    with sqlite3.connect(root / "sources" / "erp.sqlite") as con:
        for table in ("products", "customers", "orders", "order_lines", "returns", "inventory_snapshots"):
            assert con.execute(f"select count(*) from {table}").fetchone()[0] == counts[f"erp.{table}"]  # noqa: S608
        # indexes on the watermark were created after the load
        names = {r[0] for r in con.execute("select name from sqlite_master where type = 'index'")}
        assert "ix_order_lines_updated_at" in names
    assert counts["erp.products"] == 200
    assert counts["erp.inventory_snapshots"] <= 400_000
    rows = sum(len(pd.read_parquet(p)) for p in (root / "landing" / "mes").glob("*.parquet"))
    assert rows == counts["mes.production_runs"]
    assert sum(e["rows"] for f, e in manifest["files"].items() if "/tickets_" in f) == counts["servicedesk.tickets"]
    assert "wall" not in json.dumps(manifest) and str(date.today().year + 1) not in json.dumps(manifest["params"])


def test_sqlite_timestamps_are_utc_text_and_updated_at_inside_the_window(small_demo):
    root, _ = small_demo
    pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    lo = datetime(2024, 4, 30, 16, 0, 0)  # 2024-05-01 00:00 in Shanghai
    hi = datetime(2024, 8, 31, 16, 0, 0)
    for db, tables in (("erp", ("products", "customers", "orders", "order_lines", "returns")),
                       ("hr", ("org_units", "employees", "employee_assignments", "training_records"))):
        with sqlite3.connect(root / "sources" / f"{db}.sqlite") as con:
            for table in tables:
                values = [r[0] for r in con.execute(f"select updated_at from {table}")]  # noqa: S608
                assert all(pattern.match(v) for v in values), table
                stamps = [datetime.fromisoformat(v) for v in values]
                assert lo <= min(stamps) and max(stamps) < hi, table


# --- ground truth ------------------------------------------------------------------------------


def test_anomalies_reference_existing_teams_and_respect_the_rules(anomaly_demo):
    root, manifest = anomaly_demo
    an = pd.read_csv(root / "ground_truth" / "anomalies.csv")
    assert list(an.columns) == ["anomaly_id", "kpi_id", "org_unit_id", "kind", "start_date", "end_date",
                                "magnitude"]
    assert len(an) == manifest["ground_truth"]["anomalies"] >= 10
    with sqlite3.connect(root / "sources" / "hr.sqlite") as con:
        teams = {r[0] for r in con.execute("select org_unit_id from org_units where unit_type = 'team'")}
    holidays = pd.read_csv(HOLIDAYS, parse_dates=["date"])
    start = date(2024, 1, 1)
    for a in an.itertuples():
        assert a.org_unit_id in teams and a.org_unit_id in KPI_TEAMS[a.kpi_id]
        s, e = date.fromisoformat(a.start_date), date.fromisoformat(a.end_date)
        assert (s - start).days >= 90 and e >= s
        assert not holidays["date"].between(pd.Timestamp(s), pd.Timestamp(e)).any()
        bounds = BOUNDS[a.kpi_id]
        days = (e - s).days + 1
        # magnitudes: inside the kind's range (two decimals, rounded away from zero)
        if a.kind in ("spike", "dip"):
            lo, hi = bounds[a.kind]
            assert lo - 0.01 <= a.magnitude <= hi + 0.01 and s == e
        elif a.kind == "dropout":
            assert a.magnitude == -1.0
            # low counts: as many days as it takes for zeros to be improbable
            assert days <= (DROPOUT_MAX_DAYS if a.kpi_id in COUNT_KPIS else 3)
        else:
            assert a.kind == "level_shift"
            lo, hi = bounds["up" if a.magnitude > 0 else "down"]
            assert lo - 0.01 <= a.magnitude <= hi + 0.01
            assert (SHIFT_DAYS_LOW_COUNT if a.kpi_id in COUNT_KPIS else SHIFT_DAYS[0]) <= days <= SHIFT_DAYS[1]
        if a.kpi_id == "quality_pass_rate":
            assert a.magnitude < 0
    for (_, _), group in an.groupby(["kpi_id", "org_unit_id"]):
        spans = sorted(zip(group["start_date"], group["end_date"], strict=True))
        assert all(b[0] > a[1] for a, b in zip(spans, spans[1:], strict=False))


def _find_db_row(root: Path, d: pd.Series) -> str:
    db = root / d["file"]
    table = d["table"]
    with sqlite3.connect(db) as con:
        if d["row_key"].startswith("order_id="):
            parts = dict(p.split("=", 1) for p in d["row_key"].split(","))
            rows = con.execute(f"select updated_at from {table} where order_line_id is null and order_id = ? "  # noqa: S608
                               "and line_no = ?", (parts["order_id"], int(parts["line_no"]))).fetchall()
        else:
            rows = con.execute(f"select updated_at from {table} where {DB_KEYS[table]} = ?",  # noqa: S608
                               (d["row_key"],)).fetchall()
    assert len(rows) == 1, d.to_dict()
    local = datetime.fromisoformat(rows[0][0]) + timedelta(hours=8)
    return local.date().isoformat()


def test_every_defect_row_exists_where_defects_csv_says(small_demo):
    root, manifest = small_demo
    defects = pd.read_csv(root / "ground_truth" / "defects.csv", dtype=str, keep_default_na=False)
    assert list(defects.columns) == ["defect_id", "source", "table", "partition_date", "file", "row_key", "field",
                                     "defect", "expected"]
    assert 20 <= len(defects) == manifest["ground_truth"]["defects"] <= 60
    assert set(defects["expected"]) == {"quarantine", "batch_rejected"}
    assert {"duplicate", "null_key", "wrong_type", "orphan_fk", "negative_quantity", "future_date",
            "unparsable", "changed_columns"} <= set(defects["defect"])
    for _, d in defects.iterrows():
        path = root / d["file"]
        assert path.exists(), d.to_dict()
        if d["source"] in ("erp", "hr"):
            assert _find_db_row(root, d) == d["partition_date"], d.to_dict()
            continue
        stamp = re.search(r"_(\d{8})\.", path.name).group(1)
        assert d["partition_date"] == f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"
        key = d["row_key"]
        if path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
            header, body = rows[0], rows[1:]
            if d["defect"] == "changed_columns":
                assert "satisfaction" in header and "csat" not in header
            elif key.startswith("row="):
                assert body[int(key[4:]) - 1][0] == ""
            elif d["defect"] == "duplicate":
                dup = [r for r in body if r[0] == key]
                assert len(dup) == 2 and dup[0] == dup[1]
            else:
                assert sum(r[0] == key for r in body) == 1
        elif path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            if key.startswith("row="):
                line = lines[int(key[4:]) - 1]
                if d["defect"] == "unparsable":
                    with pytest.raises(json.JSONDecodeError):
                        json.loads(line)
                else:
                    assert json.loads(line)[d["field"]] is None
            else:
                assert sum(key in line for line in lines) == 1
        else:
            assert key in pq.read_table(path).column("run_id").to_pylist()


def test_the_rejected_servicedesk_file_is_redundant(small_demo):
    """Every row of the renamed-column file re-appears in a later file, so KPIs survive the rejection."""
    root, _ = small_demo
    defects = pd.read_csv(root / "ground_truth" / "defects.csv", dtype=str, keep_default_na=False)
    rejected = defects[defects["expected"] == "batch_rejected"]
    assert len(rejected) == 1
    path = root / rejected.iloc[0]["file"]
    bad = pd.read_csv(path, encoding="gb18030", dtype=str)
    later = pd.concat([pd.read_csv(p, encoding="gb18030", dtype=str)
                       for p in sorted(path.parent.glob("tickets_*.csv")) if p.name > path.name])
    assert set(bad["ticket_id"]) <= set(later["ticket_id"])


# --- source formats ----------------------------------------------------------------------------


def test_servicedesk_csv_is_gb18030_with_chinese_text(small_demo):
    root, _ = small_demo
    raw = (root / "landing" / "servicedesk" / "tickets_20240610.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == TICKET_COLUMNS
    assert any("投诉" in r[6] or "故障" in r[6] for r in rows[1:])
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", r[1]) for r in rows[1:] if r[0].startswith("T0"))
    # round trip: re-encoding the decoded text gives the same bytes
    assert text.encode("gb18030") == raw


def test_local_time_edges(small_demo):
    root, _ = small_demo
    # tickets opened at 23:xx local time are in that local day's file
    late = []
    for path in sorted((root / "landing" / "servicedesk").glob("tickets_*.csv")):
        day = f"{path.stem[8:12]}-{path.stem[12:14]}-{path.stem[14:16]}"
        t = pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
        late.extend(t[(t["opened_at"].str[11:13] == "23") & (t["opened_at"].str[:10] == day)]["ticket_id"])
    assert len(late) >= 5
    # orders booked 16:00–23:59 UTC belong to the next local day
    with sqlite3.connect(root / "sources" / "erp.sqlite") as con:
        ts = [r[0] for r in con.execute("select order_ts from orders where substr(order_ts, 12, 2) >= '16' "
                                        "and order_ts < '2030'")]
    assert len(ts) >= 5
    for v in ts[:20]:
        utc = datetime.fromisoformat(v)
        assert (utc + timedelta(hours=8)).date() == utc.date() + timedelta(days=1)
    # survey with +08:00 offsets, engineering with Z, MES tz-aware UTC
    line = (root / "landing" / "survey" / "nps_20240610.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(line)["submitted_at"].endswith("+08:00")
    bug = json.loads((root / "landing" / "engineering" / "bugs_20240610.jsonl").read_text().splitlines()[0])
    assert bug["created_at"].endswith("Z") and bug["created_at"].startswith("2024-06-")
    schema = pq.read_schema(root / "landing" / "mes" / "production_runs_20240610.parquet")
    assert str(schema.field("finished_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("promised_date").type) == "date32[day]"


def test_reorganisation_rows(small_demo):
    root, _ = small_demo
    with sqlite3.connect(root / "sources" / "hr.sqlite") as con:
        rows = con.execute("select parent_org_unit_id, valid_from, valid_to from org_units "
                           "where org_unit_id = 'TM-SE-3' order by valid_from").fetchall()
        units = pd.read_sql("select * from org_units", con)
        managers = set(pd.read_sql("select employee_id from employees", con)["employee_id"])
    assert rows == [("DEP-SALES-EAST", "2020-01-01", "2024-07-01"), ("DEP-SALES-NORTH", "2024-07-01", None)]
    others = units[units["org_unit_id"] != "TM-SE-3"]
    assert others["org_unit_id"].is_unique and others["valid_to"].isna().all()
    assert set(units["unit_type"]) == {"company", "division", "department", "team"}
    assert 30 <= (others["unit_type"] == "team").sum() + 1 <= 40
    assert units.loc[units["org_unit_id"] == "ACME", "name_zh"].item() == "艾克美仪器"
    assert set(units["manager_employee_id"]) <= managers
    # the catalog names the executives as KPI owners: E00001 runs ACME, E00002..E00006 the divisions
    heads = units[units["unit_type"].isin(["company", "division"])].set_index("org_unit_id")["manager_employee_id"]
    assert heads.to_dict() == {"ACME": "E00001", "DIV-SALES": "E00002", "DIV-SERVICE": "E00003",
                               "DIV-OPS": "E00004", "DIV-RND": "E00005", "DIV-CORP": "E00006"}


def test_plan_workbooks(demo_2025):
    root, _ = demo_2025
    folder = root / "landing" / "finance"
    assert sorted(p.name for p in folder.iterdir()) == ["plan_FY2025_v1.xlsx", "plan_FY2025_v2.xlsx"]
    frames = {}
    for name in ("plan_FY2025_v1.xlsx", "plan_FY2025_v2.xlsx"):
        wb = load_workbook(folder / name)
        assert wb.sheetnames == ["Info", "Targets", "Weights"]
        info = {r[0]: r[1] for r in wb["Info"].iter_rows(min_row=2, values_only=True)}
        assert set(info) == {"plan_version", "fiscal_year", "valid_from", "approved_by"}
        assert info["fiscal_year"] == 2025
        rows = list(wb["Targets"].iter_rows(values_only=True))
        assert list(rows[0]) == ["kpi_id", "org_unit_id", "period", "target_value", "target_low", "target_high",
                                 "comment"]
        t = pd.DataFrame(rows[1:], columns=rows[0])
        assert t["period"].map(lambda p: isinstance(p, str) and re.fullmatch(
            r"2025(-Q[1-4]|-(0[1-9]|1[0-2]))?", p) is not None).all()
        ranges = t[t["target_low"].notna()]
        assert set(ranges["kpi_id"]) == {"avg_discount_rate", "headcount"}
        assert (ranges["target_low"] <= ranges["target_high"]).all()
        w = pd.DataFrame(list(wb["Weights"].iter_rows(min_row=2, values_only=True)),
                         columns=["org_unit_id", "kpi_id", "weight"])
        assert set(w["org_unit_id"]) == {"ACME", "DIV-SALES", "DIV-SERVICE", "DIV-OPS", "DIV-RND", "DIV-CORP"}
        assert (w.groupby("org_unit_id")["weight"].sum() == 100).all()
        frames[info["plan_version"]] = (info, t)
    (i1, v1), (i2, v2) = frames["FY2025-v1"], frames["FY2025-v2"]
    assert i1["valid_from"] == "2025-01-01" and i2["valid_from"] == "2025-07-01"
    rev = "kpi_id == 'net_revenue' and org_unit_id == 'DIV-SALES'"
    q = {p: (v1.query(rev).set_index("period").loc[p, "target_value"], v2.query(rev).set_index("period").loc[
        p, "target_value"]) for p in ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2025")}
    assert q["2025-Q1"][0] == q["2025-Q1"][1] and q["2025-Q2"][0] == q["2025-Q2"][1]
    assert q["2025-Q3"][1] > q["2025-Q3"][0] and q["2025"][1] > q["2025"][0]
    for v in (v1, v2):  # quarters add up to the year, months to the quarter at the company
        acme = v.query("kpi_id == 'net_revenue' and org_unit_id == 'ACME'").set_index("period")["target_value"]
        assert acme["2025"] == pytest.approx(sum(acme[f"2025-Q{k}"] for k in range(1, 5)))
        assert acme["2025-Q3"] == pytest.approx(sum(acme[f"2025-{m:02d}"] for m in (7, 8, 9)))
        nc = v.query("kpi_id == 'new_contracts'")
        assert set(nc["org_unit_id"]) == set(SALES_TEAMS) and (nc["target_value"] == 20).all()
        assert len(nc) == 4 * len(SALES_TEAMS)
        one = {(r.kpi_id, r.org_unit_id, r.period): r.target_value for r in v.itertuples()}
        assert one[("nps", "ACME", "2025")] == 80
        assert one[("bug_rate", "DIV-RND", "2025")] == 0.005
        assert one[("first_response_p90", "DIV-SERVICE", "2025")] == 60
        assert one[("quality_pass_rate", "DIV-OPS", "2025")] == 0.98
        assert one[("on_time_delivery", "DIV-OPS", "2025")] == 0.95
        assert ("net_revenue", "TM-SE-1", "2025-Q2") in one


def test_cli(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "d"), "--scale", "0.01", "--start", "2024-03-01",
                 "--end", "2024-03-10"]) == 0
    out = capsys.readouterr().out
    assert "erp:" in out and "servicedesk:" in out and "done:" in out
    manifest = json.loads((tmp_path / "d" / "ground_truth" / "manifest.json").read_text())
    assert manifest["params"]["end"] == "2024-03-10"
    assert main(["--data-dir", str(tmp_path / "e"), "--start", "2024-03-10", "--end", "2024-03-01"]) == 2
    assert "before start" in capsys.readouterr().err


# --- the numbers -------------------------------------------------------------------------------


def _anomaly_days(anomalies: pd.DataFrame) -> set[pd.Timestamp]:
    out: set[pd.Timestamp] = set()
    for a in anomalies.itertuples():
        out.update(pd.date_range(a.start_date, a.end_date))
    return out


#: what the generated data must show of each event, in its series' own noise (the planner targets
#: 4.5 σ for single days and 6 σ cumulative for shifts from a volume model; these are measured)
MIN_POINT_Z = 3.5
MIN_SHIFT_Z = 4.0


def _z_of_tail(p: float) -> float:
    from statistics import NormalDist

    return -NormalDist().inv_cdf(min(max(p, 1e-300), 0.5))


def _count_z(kind: str, magnitude: float, observed: float, expected: float) -> float:
    """How improbable the window's count is under the series' usual rate (Poisson), in σ."""
    k = int(round(observed))
    tail = poisson_upper(k, expected) if magnitude > 0 else poisson_lower(k, expected)
    return _z_of_tail(tail)


def _log_z(window: np.ndarray, expected: np.ndarray, sigma: np.ndarray) -> float:
    """Weighted mean log deviation of the window in units of its standard error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.maximum(window, 1e-9 * np.maximum(expected, 1e-9)) / expected)
    w = 1.0 / sigma**2
    return float(abs(np.sum(r * w)) / np.sqrt(np.sum(w)))


def _robust_sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _check_visible(kpi: str, kind: str, magnitude: float, observed: float) -> None:
    """The anomaly shows in the right direction with at least a third of its size, and not wildly more."""
    if kind == "dropout":
        assert observed == pytest.approx(-1.0, abs=1e-9)
    elif magnitude > 0:
        assert observed >= 0.35 * magnitude
        assert (1 + observed) / (1 + magnitude) < 3.0  # a day of few tickets has a noisy p90
    else:
        floor = -1.5 if kpi == "net_revenue" else -1.0  # refunds can outweigh a day's few sales
        assert floor <= observed <= 0.35 * magnitude


def _daily_count_effect(a, rev: pd.DataFrame, bugs: pd.DataFrame, days: pd.DatetimeIndex, window: np.ndarray,
                        base: np.ndarray) -> tuple[float, float]:
    """Net revenue or bugs in the event's window against the clean days around it: (effect, z)."""
    series = rev.loc[a.org_unit_id] if a.kpi_id == "net_revenue" else bugs[
        bugs["team_id"] == a.org_unit_id].groupby("day").size()
    s = series.reindex(days, fill_value=0).to_numpy(dtype=float)
    weekday = np.asarray(days.day_of_week < 5)
    push = np.asarray(days.days_in_month - days.day < 3)
    expected = np.where(weekday, s[base & weekday & ~push].mean(), s[base & ~weekday].mean())
    observed = s[window].sum() / expected[window].sum() - 1
    if a.kpi_id == "bugs_reported":
        z = _count_z(a.kind, a.magnitude, s[window].sum(), expected[window].sum())
    elif a.kind != "dropout":
        sd_wd = _robust_sd(np.log(np.maximum(s[base & weekday & ~push], 1.0)))
        sd_we = _robust_sd(np.log(np.maximum(s[base & ~weekday], 1.0)))
        z = _log_z(s[window], expected[window], np.where(weekday, sd_wd, sd_we)[window])
    else:
        z = np.inf  # no order at all
    return observed, z


def _ticket_effect(a, tickets: pd.DataFrame, days: pd.DatetimeIndex, window: np.ndarray, same: pd.DataFrame,
                   special: set) -> tuple[float, float]:
    """Complaint rate or first-response p90 in the window against the team's other clean days."""
    # rates have no trend or seasonality: the baseline is every other clean day of the team
    t = tickets[tickets["team_id"] == a.org_unit_id]
    w = t[t["day"].isin(days[window])]
    b = t[~t["day"].isin(_anomaly_days(same) | special) & ~t["day"].isin(days[window])]
    if a.kpi_id == "complaint_rate":
        observed = w["complaint"].mean() / b["complaint"].mean() - 1
        z = _count_z(a.kind, a.magnitude, w["complaint"].sum(), b["complaint"].mean() * len(w))
    else:
        observed = w["frt"].quantile(0.9) / b["frt"].quantile(0.9) - 1
        # the noise of a day's p90: the spread of the baseline days' p90 on the log scale
        wd_w = np.asarray(pd.DatetimeIndex(sorted(w["day"].unique())).day_of_week < 5)
        p90_b = b.groupby("day")["frt"].quantile(0.9)
        wd_b = np.asarray(p90_b.index.day_of_week < 5)
        sd = np.where(wd_w, _robust_sd(np.log(p90_b[wd_b].to_numpy())),
                      _robust_sd(np.log(p90_b[~wd_b].to_numpy())))
        p90_w = w.groupby("day")["frt"].quantile(0.9).to_numpy()
        z = _log_z(p90_w, np.full(len(p90_w), b["frt"].quantile(0.9)), sd)
    return observed, z


def _line_effect(a, runs: pd.DataFrame, days: pd.DatetimeIndex, window: np.ndarray, same: pd.DataFrame,
                 special: set) -> tuple[float, float]:
    """A production line's pass rate in the window against its other clean days."""
    t = runs[runs["line_id"] == a.org_unit_id]
    w = t[t["day"].isin(days[window])]
    b = t[~t["day"].isin(_anomaly_days(same) | special) & ~t["day"].isin(days[window])]

    def passed(x: pd.DataFrame) -> float:
        return (x["produced_qty"] - x["defective_qty"]).sum() / x["produced_qty"].sum()

    observed = passed(w) / passed(b) - 1
    # defects are the count behind a pass rate: more of them than the line's usual share
    rate = b["defective_qty"].sum() / b["produced_qty"].sum()
    z = _count_z("spike", 1.0, w["defective_qty"].sum(), rate * w["produced_qty"].sum())
    return observed, z


@pytest.mark.slow
def test_anomalies_are_visible_in_the_daily_series(anomaly_demo):
    root, _ = anomaly_demo
    an = pd.read_csv(root / "ground_truth" / "anomalies.csv", parse_dates=["start_date", "end_date"])
    special = set(pd.read_csv(HOLIDAYS, parse_dates=["date"])["date"])
    rev, tickets, runs, bugs = (rc.net_revenue_daily(root), rc.tickets(root), rc.production_runs(root),
                                rc.bugs(root))
    assert set(an["kpi_id"]) == set(KPI_TEAMS)
    snr = []
    for a in an.itertuples():
        days = pd.date_range(a.start_date - pd.Timedelta(days=28), a.end_date + pd.Timedelta(days=28))
        window = np.asarray((days >= a.start_date) & (days <= a.end_date))
        other = np.zeros(len(days), dtype=bool)
        same = an[(an.kpi_id == a.kpi_id) & (an.org_unit_id == a.org_unit_id) & (an.anomaly_id != a.anomaly_id)]
        for o in same.itertuples():
            other |= np.asarray((days >= o.start_date) & (days <= o.end_date))
        base = ~window & ~other & ~np.asarray(days.isin(special))
        if a.kpi_id in ("net_revenue", "bugs_reported"):
            observed, z = _daily_count_effect(a, rev, bugs, days, window, base)
        elif a.kpi_id in ("complaint_rate", "first_response_p90"):
            observed, z = _ticket_effect(a, tickets, days, window, same, special)
        else:
            observed, z = _line_effect(a, runs, days, window, same, special)
        try:
            _check_visible(a.kpi_id, a.kind, a.magnitude, observed)
            # volume-aware ground truth: every event stands out from its own series' noise
            assert z >= (MIN_SHIFT_Z if a.kind == "level_shift" else MIN_POINT_Z), f"only {z:.1f} σ"
        except AssertionError as exc:
            raise AssertionError(f"{a.anomaly_id} {a.kpi_id} {a.org_unit_id} {a.kind} magnitude {a.magnitude} "
                                 f"observed {observed:.2f}, {z:.1f} σ: {exc}") from exc
        snr.append(z)
    assert len(snr) == len(an)


@pytest.mark.slow
def test_kpis_have_plausible_values(anomaly_demo):
    root, _ = anomaly_demo
    t = rc.tickets(root)
    p90 = t.groupby("team_id")["frt"].quantile(0.9)
    assert p90.between(40, 95).all() and p90.max() - p90.min() > 8  # near 60 s, varying by team
    assert t.groupby("team_id")["complaint"].mean().between(0.02, 0.08).all()
    s = rc.survey(root)
    nps = s.groupby("account_team_id")["score"].apply(lambda x: (x >= 9).mean() - (x <= 6).mean()) * 100
    assert nps.between(20, 65).all()
    runs = rc.production_runs(root)
    runs = runs.assign(good=runs["produced_qty"] - runs["defective_qty"])
    pass_rate = runs.groupby("line_id")["good"].sum() / runs.groupby("line_id")["produced_qty"].sum()
    assert pass_rate.between(0.9, 0.995).all() and pass_rate.max() > 0.97
    delivered = runs[runs["delivered_date"].notna()]
    on_time = (delivered["delivered_date"] <= delivered["promised_date"]).groupby(delivered["line_id"]).mean()
    assert on_time.between(0.85, 0.99).all()
    bug_rate = rc.bugs(root).groupby("team_id").size() / rc.releases(root).groupby("team_id")[
        "test_cases_executed"].sum()
    assert bug_rate.between(0.002, 0.01).all()
    rev = rc.net_revenue_daily(root).groupby(level=0).sum()
    assert set(rev.index) == set(SALES_TEAMS) and (rev > 0).all()
    with sqlite3.connect(root / "sources" / "erp.sqlite") as con:
        contracts = con.execute("select count(*) from orders where order_type = 'contract' "
                                "and status != 'cancelled'").fetchone()[0]
        cancelled = con.execute("select avg(status = 'cancelled') from orders").fetchone()[0]
        late = con.execute("select avg(l.created_at > o.order_ts) from order_lines l join orders o using (order_id)"
                           ).fetchone()[0]
        weekday = pd.read_sql("select order_ts from orders", con)
    quarters = 10 / 3
    assert 10 * len(SALES_TEAMS) * quarters <= contracts <= 30 * len(SALES_TEAMS) * quarters
    assert 0.01 < cancelled < 0.03 and 0.02 < late < 0.1
    local = pd.to_datetime(weekday["order_ts"]) + pd.Timedelta(hours=8)
    by_dow = local.dt.day_of_week.value_counts()
    assert by_dow[6] < 0.6 * by_dow[2]  # B2B weekends are low
