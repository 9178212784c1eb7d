"""The demo's owners' check-ins: written where the pipeline reads them, valid, deterministic."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from pipelines.checkins import snapshot_checkins
from pipelines.demo.checkins import COMMENTS, FILE_NAME, PAIRS
from pipelines.demo.company import UNIT_BY_ID

CATALOG = Path(__file__).resolve().parents[2] / "dbt_project" / "catalog"


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "landing" / "checkins" / FILE_NAME, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _scopes() -> dict[str, list[str]]:
    out = {}
    for path in CATALOG.glob("*.yml"):
        for kpi in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("kpis") or []:
            out[kpi["id"]] = kpi.get("scope") or []
    return out


def _in_subtree(unit: str, root: str) -> bool:
    while unit:
        if unit == root:
            return True
        unit = UNIT_BY_ID[unit].parent or ""
    return False


def test_every_pair_is_a_catalog_kpi_inside_its_scope():
    scopes = _scopes()
    for kpi, unit in PAIRS:
        assert kpi in scopes and kpi in COMMENTS, kpi
        assert any(_in_subtree(unit, root) for root in scopes[kpi]), (kpi, unit)


def test_the_demo_writes_check_ins_the_pipeline_loads(demo_2025, tmp_path: Path):
    root, manifest = demo_2025  # 2025-06-01 … 2025-07-20: June closed, July running
    rows = _rows(root)
    rel = f"landing/checkins/{FILE_NAME}"
    assert manifest["files"][rel]["rows"] == len(rows) == manifest["row_counts"]["checkins.comments"] >= 20
    assert {(r["grain"], r["period_start"]) for r in rows} == {("month", "2025-06-01"), ("month", "2025-07-01")}
    with sqlite3.connect(root / "sources" / "hr.sqlite") as con:
        managers = dict(con.execute("select org_unit_id, manager_employee_id from org_units"))
    end = datetime(2025, 7, 20, 16, 0, tzinfo=UTC)  # the window's last local day ends here
    for r in rows:
        assert (r["kpi_id"], r["org_unit_id"]) in PAIRS
        assert r["author"] == managers[r["org_unit_id"]]
        created = datetime.fromisoformat(r["created_at"].replace("Z", "+00:00"))
        assert created < end
        if r["period_start"] == "2025-06-01":  # a closed month: written after it ended
            assert created.date() >= date(2025, 6, 30)
        assert r["comment"] in COMMENTS[r["kpi_id"]]
        assert r["status_override"] in ("", "at_risk", "on_track", "off_track")
    load = snapshot_checkins(root / "landing", tmp_path / "lake", timezone="Asia/Shanghai")
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (len(rows), len(rows), 0)


def test_the_owners_own_check_in_file_is_left_alone(tmp_path: Path):
    from pipelines.demo import generate

    own = tmp_path / "d" / "landing" / "checkins" / "checkins.csv"
    own.parent.mkdir(parents=True)
    own.write_text("kpi_id,org_unit_id,grain,period_start,author,comment,created_at\n", encoding="utf-8")
    generate(tmp_path / "d", seed=3, scale=0.01, start=date(2025, 6, 1), end=date(2025, 6, 20))
    assert own.read_text(encoding="utf-8").startswith("kpi_id,")
    assert _rows(tmp_path / "d") == [] or all(r["period_start"] == "2025-06-01" for r in _rows(tmp_path / "d"))
