"""Catalog lint: each test breaks one rule of a valid catalog."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from quality.catalog import lint_catalog
from tests.kpi.fact_columns import write_fact_models_yaml
from tests.kpi.test_catalog import DEMO_CATALOG, _doc, _kpi, _write


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    write_fact_models_yaml(tmp_path / "dbt")
    return tmp_path / "dbt"


def _lint(tmp_path: Path, project: Path, *kpis: dict, warehouse: Path | None = None) -> list:
    _write(tmp_path / "catalog", "c.yml", _doc(*kpis))
    return lint_catalog(tmp_path / "catalog", project, warehouse_path=warehouse)


def test_the_demo_catalog_is_clean(project: Path) -> None:
    assert lint_catalog(DEMO_CATALOG, project) == []


def test_a_valid_kpi_has_no_findings(tmp_path: Path, project: Path) -> None:
    assert _lint(tmp_path, project, _kpi()) == []


def test_invalid_catalog_findings_are_errors_not_exceptions(tmp_path: Path, project: Path) -> None:
    kpi = _kpi()
    kpi["measure"] = {**kpi["measure"], "expression": "no_such_column"}
    findings = _lint(tmp_path, project, kpi)
    assert [(f.item_id, f.field, f.severity) for f in findings] == [("net_revenue", "measure.expression", "error")]
    assert findings[0].as_dict()["kpi_id"] == "net_revenue"


def test_vague_description_without_a_number_is_an_error(tmp_path: Path, project: Path) -> None:
    findings = _lint(tmp_path, project, _kpi(name="Revenue", description="提升收入"))
    assert [(f.rule, f.severity) for f in findings] == [("specific", "error")]


def test_description_without_a_number_is_a_warning(tmp_path: Path, project: Path) -> None:
    findings = _lint(tmp_path, project, _kpi(description="Sales net of discounts and refunds, in CNY."))
    assert [(f.rule, f.severity, f.field) for f in findings] == [("specific", "warning", "description")]


def test_target_without_a_period_grain(tmp_path: Path, project: Path) -> None:
    findings = _lint(tmp_path, project, _kpi(grains=["day", "week"]))
    assert [(f.rule, f.severity) for f in findings] == [("time_bound", "error")]


def test_fixed_target_for_a_grain_not_reported(tmp_path: Path, project: Path) -> None:
    findings = _lint(tmp_path, project, _kpi(grains=["quarter"], target={"rule": "fixed", "by_grain": {"month": 5}}))
    assert [(f.rule, f.field) for f in findings] == [("time_bound", "target.by_grain.month")]


def test_more_than_seven_weighted_kpis_is_a_warning(tmp_path: Path, project: Path) -> None:
    kpis = [_kpi(f"kpi_{i}", weights={"DIV-SALES": 12.5}) for i in range(8)]
    findings = _lint(tmp_path, project, *kpis)
    assert [(f.rule, f.severity) for f in findings] == [("focus", "warning")]


def test_growth_target_beyond_history_is_a_warning(tmp_path: Path, project: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.kpi_actuals (kpi_id varchar, org_unit_id varchar, grain varchar, "
                    "period_start date, actual_value double, is_complete boolean)")
        for q in range(8):  # +5 % a year, every quarter
            start = f"{2023 + q // 4}-{3 * (q % 4) + 1:02d}-01"
            con.execute("insert into marts.kpi_actuals values ('net_revenue', 'ACME', 'quarter', ?, ?, true)",
                        [start, 100.0 * (1.05 if q >= 4 else 1.0)])
    assert _lint(tmp_path, project, _kpi(target={"rule": "growth_vs_last_year", "value": 0.03}),
                 warehouse=warehouse) == []
    findings = _lint(tmp_path, project, _kpi(target={"rule": "growth_vs_last_year", "value": 0.5}),
                     warehouse=warehouse)
    assert [(f.rule, f.severity, f.field) for f in findings] == [("achievable", "warning", "target.value")]
