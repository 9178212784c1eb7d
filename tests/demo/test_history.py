"""Faithful history: the demo sources as they stood at the end of a day (pipelines.demo.as_of).

Every test that checks an as-of state also checks that the final state differs, so a materialiser
that copied the final sources would fail it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.demo import DemoConfigError, generate
from pipelines.demo.__main__ import main
from pipelines.demo.as_of import write_sources_as_of
from pipelines.demo.history import read_history_manifest
from pipelines.demo.servicedesk import ENCODING

from .conftest import SMALL

TZ = ZoneInfo("Asia/Shanghai")
#: the as-of day most tests look at: mid-window, just before the re-organisation is entered (06-30 18:00)
DAY = date(2024, 6, 29)


@pytest.fixture(scope="module")
def history_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo_history")
    generate(root, **SMALL, history=True)
    return root


@pytest.fixture(scope="module")
def as_of(history_demo: Path, tmp_path_factory: pytest.TempPathFactory):
    """``as_of(day)`` -> a folder with the sources as of that day (written once per day)."""
    made: dict[date, Path] = {}

    def materialise(day: date) -> Path:
        if day not in made:
            made[day] = tmp_path_factory.mktemp(f"as_of_{day:%Y%m%d}")
            write_sources_as_of(history_demo, made[day], day)
        return made[day]

    return materialise


def _files(root: Path, *folders: str) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted((root / folder).rglob("*")) if p.is_file()}


def _local_day(utc_text: str) -> date:
    return datetime.fromisoformat(utc_text).replace(tzinfo=ZoneInfo("UTC")).astimezone(TZ).date()


def _cut(day: date) -> str:
    """UTC text of the local midnight that ends ``day``."""
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ)
    return midnight.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")


def _query(root: Path, db: str, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(root / "sources" / f"{db}.sqlite") as con:
        return con.execute(sql, params).fetchall()


# --- the last day is today's output -------------------------------------------------------------------


def test_as_of_the_last_day_is_byte_identical_to_the_generators_output(small_demo, history_demo, as_of):
    today, _ = small_demo  # the same parameters, generated without history
    final = as_of(SMALL["end"])
    expected = _files(today, "sources", "landing")
    assert len(expected) > 600
    assert _files(final, "sources", "landing") == expected
    # recording the history changes nothing in the generation's own output
    assert _files(history_demo, "sources", "landing", "ground_truth") == _files(today, "sources", "landing",
                                                                                 "ground_truth")


def test_same_history_and_day_give_the_same_bytes(history_demo, as_of, tmp_path):
    again = tmp_path / "again"
    result = write_sources_as_of(history_demo, again, DAY)
    assert _files(again, "sources", "landing", "ground_truth") == _files(as_of(DAY), "sources", "landing",
                                                                         "ground_truth")
    # writing the same day again touches no landing file (the late-files sensor watches mtimes)
    stamps = {p: p.stat().st_mtime_ns for p in (again / "landing").rglob("*") if p.is_file()}
    repeat = write_sources_as_of(history_demo, again, DAY)
    assert repeat.written == [] and repeat.removed == []
    assert {p: p.stat().st_mtime_ns for p in (again / "landing").rglob("*") if p.is_file()} == stamps
    assert repeat.row_counts == result.row_counts
    # going forward a day adds that day's files; going back removes them
    forward = write_sources_as_of(history_demo, again, DAY + timedelta(days=1))
    assert "landing/survey/nps_20240630.jsonl" in forward.written
    back = write_sources_as_of(history_demo, again, DAY)
    assert "landing/survey/nps_20240630.jsonl" in back.removed


# --- databases: rows in their state at the end of the day ----------------------------------------------


def test_an_order_shipped_later_is_open_as_of_the_day(history_demo, as_of):
    cut = _cut(DAY)
    shipped_later = _query(history_demo, "erp",
                           "select order_id, created_at, updated_at from orders where status = 'shipped' "
                           "and created_at < ? and updated_at >= ? order by updated_at", (cut, cut))
    assert shipped_later, "the window must hold orders created before the day and shipped after it"
    order_id, created_at, shipped_at = shipped_later[0]
    assert _local_day(created_at) <= DAY < _local_day(shipped_at)
    then = _query(as_of(DAY), "erp", "select status, updated_at from orders where order_id = ?", (order_id,))
    assert then == [("open", created_at)]  # the watermark of its last change up to the day: its creation
    assert _query(as_of(_local_day(shipped_at)), "erp", "select status, updated_at from orders "
                  "where order_id = ?", (order_id,)) == [("shipped", shipped_at)]
    # every order shipped after the day is open as of the day; none created after it exists
    statuses = dict(_query(as_of(DAY), "erp", "select order_id, status from orders"))
    assert {statuses[o] for o, _, _ in shipped_later} == {"open"}
    created_later = {r[0] for r in _query(history_demo, "erp", "select order_id from orders where created_at >= ?",
                                          (cut,))}
    assert created_later and not created_later & statuses.keys()


def test_a_cancellation_after_the_day_is_undone_on_the_order_and_its_lines(history_demo, as_of):
    cancelled = _query(history_demo, "erp", "select order_id, created_at, updated_at from orders "
                       "where status = 'cancelled' order by updated_at")
    order_id, day = next((o, _local_day(u) - timedelta(days=1)) for o, c, u in cancelled
                         if _local_day(c) < _local_day(u))  # cancelled on a later day than it was placed
    cut = _cut(day)
    lines_final = _query(history_demo, "erp", "select is_cancelled, count(*) from order_lines where order_id = ? "
                         "and created_at < ? group by 1", (order_id, cut))
    assert lines_final and {c for c, _ in lines_final} == {1}
    then = as_of(day)
    assert _query(then, "erp", "select status from orders where order_id = ?", (order_id,)) == [("open",)]
    assert _query(then, "erp", "select is_cancelled, count(*) from order_lines where order_id = ? group by 1",
                  (order_id,)) == [(0, lines_final[0][1])]


def test_employees_and_assignments_before_a_later_termination(history_demo, as_of):
    cut = _cut(DAY)
    left = _query(history_demo, "hr", "select employee_id, termination_date, updated_at from employees "
                  "where termination_date > ? and hire_date <= ? and updated_at >= ?",
                  (DAY.isoformat(), DAY.isoformat(), cut))
    assert left
    employee_id, termination, _ = left[0]
    (status,) = _query(as_of(DAY), "hr", "select termination_date, updated_at from employees where employee_id = ?",
                       (employee_id,))
    assert status[0] is None and _local_day(status[1]) <= DAY
    open_then = _query(as_of(DAY), "hr", "select valid_to from employee_assignments where employee_id = ? "
                       "and valid_from <= ? order by valid_from desc limit 1", (employee_id, DAY.isoformat()))
    closed_now = _query(history_demo, "hr", "select valid_to from employee_assignments where employee_id = ? "
                        "and valid_from <= ? order by valid_from desc limit 1", (employee_id, DAY.isoformat()))
    assert open_then == [(None,)] and closed_now[0][0] is not None
    assert _query(as_of(date.fromisoformat(termination)), "hr",
                  "select termination_date from employees where employee_id = ?", (employee_id,)) == [(termination,)]


def test_the_reorganisation_appears_on_the_day_it_is_entered(history_demo, as_of):
    sql = ("select parent_org_unit_id, valid_from, valid_to from org_units where org_unit_id = 'TM-SE-3' "
           "order by valid_from")
    final = [("DEP-SALES-EAST", "2020-01-01", "2024-07-01"), ("DEP-SALES-NORTH", "2024-07-01", None)]
    assert _query(history_demo, "hr", sql) == final
    assert _query(as_of(DAY), "hr", sql) == [("DEP-SALES-EAST", "2020-01-01", None)]
    assert _query(as_of(DAY + timedelta(days=1)), "hr", sql) == final  # entered 06-30 18:00, valid 07-01


def test_every_row_as_of_the_day_is_its_latest_version_up_to_the_day(history_demo, as_of):
    """Watermarks are faithful: each row is the final row when that was written by the day, else the
    latest earlier version written by the day; rows first written later are absent."""
    cut = _cut(DAY)
    then = as_of(DAY)
    checked = 0
    for db in ("erp", "hr"):
        with sqlite3.connect(history_demo / "sources" / f"{db}.sqlite") as con:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table' order by 1")]
            keys = {t: [r[2] for r in con.execute(f"pragma index_info('ux_{t}_key')")] for t in tables}
        for table in tables:
            key = keys[table]
            final = _frame(history_demo / "sources" / f"{db}.sqlite", table)
            earlier = _frame(history_demo / "history" / f"{db}.sqlite", table)
            versions = pd.concat([earlier, final], ignore_index=True)
            versions = versions[versions["updated_at"] < cut].drop_duplicates(key, keep="last") \
                if table != "order_lines" else _latest_lines(versions, cut)
            got = _frame(then / "sources" / f"{db}.sqlite", table)
            assert (got["updated_at"] < cut).all(), table
            expected = versions.sort_values(key, na_position="first").reset_index(drop=True)
            got = got.sort_values(key, na_position="first").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, expected[got.columns], check_dtype=False, obj=f"{db}.{table}")
            checked += len(got)
    assert checked > 10_000


def _frame(path: Path, table: str) -> pd.DataFrame:
    with sqlite3.connect(path) as con:
        frame = pd.read_sql(f"select * from {table} order by rowid", con)  # noqa: S608 - table from sqlite_master
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def _latest_lines(versions: pd.DataFrame, cut: str) -> pd.DataFrame:
    """Order lines: the NULL-key defect row has no key to de-duplicate on; keep it as it is."""
    visible = versions[versions["updated_at"] < cut]
    keyed = visible[visible["order_line_id"].notna()].drop_duplicates(["order_line_id"], keep="last")
    return pd.concat([visible[visible["order_line_id"].isna()], keyed])


# --- landing files: delivered by the day, in their content as of the day ------------------------------


def test_a_ticket_resolved_later_has_no_resolution_as_of_the_day(history_demo, as_of):
    def latest(root: Path) -> pd.DataFrame:
        frames = [pd.read_csv(p, encoding=ENCODING, dtype=str, keep_default_na=False)
                  for p in sorted((root / "landing" / "servicedesk").glob("tickets_*.csv"))]
        frames = [f.rename(columns={"satisfaction": "csat"}) for f in frames]
        rows = pd.concat(frames, ignore_index=True)
        return rows[rows["ticket_id"].str.match(r"^T0")].sort_values("updated_at").drop_duplicates(
            "ticket_id", keep="last").set_index("ticket_id")

    final, then = latest(history_demo), latest(as_of(DAY))
    opened = final["opened_at"].str[:10] <= DAY.isoformat()
    resolved_later = final[opened & (final["resolved_at"].str[:10] > DAY.isoformat())]
    assert len(resolved_later) >= 5
    assert (then.loc[resolved_later.index, "resolved_at"] == "").all()
    assert (then.loc[resolved_later.index, "updated_at"].str[:10] <= DAY.isoformat()).all()
    assert (then["updated_at"].str[:10] <= DAY.isoformat()).all()


def test_a_production_run_delivered_later_has_no_delivery_date_as_of_the_day(history_demo, as_of):
    day = DAY.isoformat()
    for back in range(14):  # a finish day up to the as-of day with a run delivered after it
        name = f"production_runs_{DAY - timedelta(days=back):%Y%m%d}.parquet"
        final = pq.read_table(history_demo / "landing" / "mes" / name).to_pandas()
        later = final["delivered_date"].notna() & (final["delivered_date"].astype(str) > day)
        if later.any():
            break
    assert later.any()
    then = pq.read_table(as_of(DAY) / "landing" / "mes" / name).to_pandas()
    assert then["delivered_date"][later].isna().all()
    on_time = final["delivered_date"].notna() & ~later
    assert (then["delivered_date"][on_time] == final["delivered_date"][on_time]).all()
    assert then.drop(columns="delivered_date").equals(final.drop(columns="delivered_date"))


def test_a_late_file_is_absent_until_the_day_it_arrives(history_demo, as_of):
    landing = read_history_manifest(history_demo)["landing"]
    late = [(rel, e) for rel, e in landing.items()
            if e["arrives"] > e["day"] and "status_column" not in e and e["day"] > SMALL["start"].isoformat()]
    assert late, "some daily exports arrive late"
    rel, entry = late[0]
    day, arrives = date.fromisoformat(entry["day"]), date.fromisoformat(entry["arrives"])
    assert not (as_of(day) / rel).exists()
    assert not (as_of(arrives - timedelta(days=1)) / rel).exists()
    assert (as_of(arrives) / rel).read_bytes() == (history_demo / rel).read_bytes()
    # on time: every daily file of the day is there unless it is one of the late ones
    delivered = {p.relative_to(as_of(DAY)).as_posix() for p in (as_of(DAY) / "landing").rglob("*") if p.is_file()}
    assert delivered == {r for r, e in landing.items() if e["arrives"] <= DAY.isoformat()}
    assert {r for r, e in landing.items() if e["day"] <= DAY.isoformat()} - delivered  # some are still missing


def test_as_of_record_and_errors(history_demo, as_of, tmp_path):
    record = json.loads((as_of(DAY) / "ground_truth" / "as_of.json").read_text(encoding="utf-8"))
    assert record["as_of"] == DAY.isoformat() and record["params"]["scale"] == SMALL["scale"]
    with sqlite3.connect(as_of(DAY) / "sources" / "erp.sqlite") as con:
        assert record["row_counts"]["erp.orders"] == con.execute("select count(*) from orders").fetchone()[0]
    with pytest.raises(DemoConfigError, match=r"outside the generated window 2024-05-01\.\.2024-08-31"):
        write_sources_as_of(history_demo, tmp_path / "x", date(2024, 9, 1))
    with pytest.raises(DemoConfigError, match="must not be the history folder"):
        write_sources_as_of(history_demo, history_demo, DAY)
    with pytest.raises(DemoConfigError, match=r"history.manifest\.json not found"):
        write_sources_as_of(as_of(DAY), tmp_path / "y", DAY)


def test_history_needs_sqlite_targets(tmp_path):
    with pytest.raises(DemoConfigError, match="history=True needs the SQLite"):
        generate(tmp_path, **SMALL, history=True, erp_url="postgresql+psycopg://u@localhost/erp")


def test_cli_as_of(history_demo, as_of, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--history-dir", str(history_demo), "--data-dir", str(out), "--as-of", DAY.isoformat()]) == 0
    assert "sources as of 2024-06-29" in capsys.readouterr().out
    assert _files(out, "sources", "landing") == _files(as_of(DAY), "sources", "landing")
    assert main(["--history-dir", str(history_demo), "--data-dir", str(out), "--as-of", "2025-01-01"]) == 2
    assert "outside the generated window" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data-dir", str(out), "--as-of", DAY.isoformat()])


def test_a_generation_without_history_removes_a_stale_one(tmp_path):
    params = {"seed": 1, "scale": 0.01, "start": date(2024, 5, 1), "end": date(2024, 5, 12)}
    generate(tmp_path, **params, history=True, parallel=False)
    manifest = read_history_manifest(tmp_path)
    assert manifest["params"]["end"] == "2024-05-12" and (tmp_path / "history" / "erp.sqlite").is_file()
    assert manifest["earlier_versions"]["erp.orders"] > 0  # shipped orders were open before
    generate(tmp_path, **{**params, "end": date(2024, 5, 10)})
    assert not [p for p in (tmp_path / "history").iterdir()]  # it would describe other data
    with pytest.raises(DemoConfigError, match="generate the demo with history=True"):
        write_sources_as_of(tmp_path, tmp_path / "out", date(2024, 5, 5))
