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
    warehouse = _fact_warehouse(tmp_path / "w.duckdb")  # the measure compiles there: only history is at stake
    with duckdb.connect(str(warehouse)) as con:
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


# ------------------------------------------------------------------------------------------------
# every rule of the catalog lint (issue 4), each with a catalog that breaks only that rule; every
# finding names the KPI id, the field, the rule and the reason
# ------------------------------------------------------------------------------------------------
def _without(field: str, **over: object) -> dict:
    kpi = _kpi(**over)
    del kpi[field]
    return kpi


def _derived(kid: str, formula: str) -> dict:
    return _kpi(kid, measure={"type": "derived", "formula": formula})


def _measure(**change: object) -> dict:
    kpi = _kpi()
    kpi["measure"] = {**kpi["measure"], **change}
    return kpi


SINGLE_RULE_CATALOGS = {
    # rule id: (KPIs of the catalog, expected (kpi id, field, rule, severity), reason contains)
    "specific: no description": ([_without("description")], ("net_revenue", "description", "specific", "error"),
                                 "no description"),
    "specific: empty description": ([_kpi(description="  ")], ("net_revenue", "description", "specific", "error"),
                                    "no description"),
    "specific: only 'improve'": ([_kpi(name="Revenue", description="Improve revenue")],
                                 ("net_revenue", "description", "specific", "error"), "vague verb"),
    "specific: only '提升'": ([_kpi(name="收入", description="提升收入")],
                               ("net_revenue", "description", "specific", "error"), "vague verb"),
    "specific: only '优化'": ([_kpi(name="收入", description="优化")],
                               ("net_revenue", "description", "specific", "error"), "vague verb"),
    "measurable: unknown column": ([_measure(expression="net_amount_typo")],
                                   ("net_revenue", "measure.expression", "measurable", "error"),
                                   "unknown column 'net_amount_typo'"),
    "measurable: unknown model": ([_measure(model="fct_nowhere")],
                                  ("net_revenue", "measure.model", "measurable", "error"), "unknown model"),
    "relevant: no objective": ([_without("objective")], ("net_revenue", "objective", "relevant", "error"),
                               "no objective"),
    "relevant: unknown objective": ([_kpi(objective="nowhere")], ("net_revenue", "objective", "relevant", "error"),
                                    "unknown objective 'nowhere'"),
    "time_bound: no grain": ([_kpi(grains=[])], ("net_revenue", "grains", "time_bound", "error"), "no grain"),
    "time_bound: target without period": ([_kpi(grains=["day", "week"])],
                                          ("net_revenue", "grains", "time_bound", "error"),
                                          "month, quarter or year grain"),
    "owner: no owner": ([_without("owner")], ("net_revenue", "owner", "owner", "error"), "no owner"),
    "owner: owner without unit or person": ([_kpi(owner={})], ("net_revenue", "owner", "owner", "error"),
                                            "an owner needs"),
    "weights: not 100": ([_kpi(weights={"DIV-SALES": 60})], ("net_revenue", "weights", "weights", "error"),
                         "sum to 60, not 100"),
    "focus: more than 7 weighted": ([_kpi(f"kpi_{i}", weights={"DIV-SALES": 12.5}) for i in range(8)],
                                    ("kpi_0", "weights", "focus", "warning"), "8 KPIs weighted for DIV-SALES"),
    "cycle: derived KPIs": ([_kpi(), _derived("a_kpi", "b_kpi + net_revenue"), _derived("b_kpi", "2 * a_kpi")],
                            ("a_kpi", "measure.formula", "cycle", "error"), "a_kpi -> b_kpi -> a_kpi"),
}


@pytest.mark.parametrize("case", list(SINGLE_RULE_CATALOGS), ids=list(SINGLE_RULE_CATALOGS))
def test_each_rule_alone(tmp_path: Path, project: Path, case: str) -> None:
    kpis, expected, reason = SINGLE_RULE_CATALOGS[case]
    findings = _lint(tmp_path, project, *kpis)
    assert [(f.item_id, f.field, f.rule, f.severity) for f in findings] == [expected], [str(f) for f in findings]
    finding = findings[0]
    assert reason in finding.reason
    # the text names file, KPI id, field, reason and rule; the dict carries them for the quality report
    text = str(finding)
    assert all(part in text for part in ("c.yml", expected[0], expected[1], reason, f"[{expected[2]}]"))
    row = finding.as_dict()
    assert (row["kpi_id"], row["field"], row["rule"], row["message"]) == (expected[0], expected[1], expected[2],
                                                                          finding.reason)


def test_the_rules_are_the_issue_s_rules() -> None:
    from quality.catalog.lint import RULES

    covered = {case.split(":")[0] for case in SINGLE_RULE_CATALOGS} | {
        "achievable", "duplicate", "valid", "possible", "reference"}
    assert covered == set(RULES)


def test_duplicate_kpi_id_alone(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "a.yml", _doc(_kpi()))
    _write(tmp_path / "catalog", "b.yml", {"kpis": [_kpi()]})
    findings = lint_catalog(tmp_path / "catalog", project)
    assert [(f.file, f.item_id, f.field, f.rule, f.severity) for f in findings] == [
        ("b.yml", "net_revenue", "id", "duplicate", "error")]
    assert "duplicate KPI id (also in a.yml)" in findings[0].reason


def test_duplicate_objective_id_alone(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "a.yml", _doc(_kpi()))
    _write(tmp_path / "catalog", "b.yml", {"objectives": [
        {"id": "grow", "name": "Grow", "description": "Grow revenue 12 % a year.", "owner": "DIV-SALES"}]})
    findings = lint_catalog(tmp_path / "catalog", project)
    assert [(f.file, f.item_id, f.field, f.rule) for f in findings] == [("b.yml", "grow", "id", "duplicate")]


# ------------------------------------------------------------------------------------------------
# measurable against the warehouse: DESCRIBE the model, bind the measure's SQL
# ------------------------------------------------------------------------------------------------
def _fact_warehouse(path: Path, *, types: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    from tests.kpi.fact_columns import FACT_COLUMNS

    typed = {"event_date": "date", "quantity": "bigint", "gross_amount": "double", "net_amount": "double",
             "cost_amount": "double", **(types or {})}
    columns = [c for c in FACT_COLUMNS["fct_revenue_events"] if c not in drop]
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_revenue_events ("
                    + ", ".join(f"{c} {typed.get(c, 'varchar')}" for c in columns) + ")")
    return path


def test_measure_that_compiles_against_the_warehouse_has_no_finding(tmp_path: Path, project: Path) -> None:
    warehouse = _fact_warehouse(tmp_path / "w.duckdb")
    assert _lint(tmp_path, project, _kpi(), warehouse=warehouse) == []


def test_measure_that_does_not_compile_against_the_warehouse(tmp_path: Path, project: Path) -> None:
    # documented as a number in the models' YAML, but text in the warehouse: sum() cannot bind
    warehouse = _fact_warehouse(tmp_path / "w.duckdb", types={"net_amount": "varchar"})
    assert _lint(tmp_path, project, _kpi()) == []  # without the warehouse the catalog is fine
    findings = _lint(tmp_path, project, _kpi(), warehouse=warehouse)
    assert [(f.item_id, f.field, f.rule, f.severity) for f in findings] == [
        ("net_revenue", "measure", "measurable", "error")]
    assert "does not compile against model fct_revenue_events" in findings[0].reason
    assert "sum" in findings[0].reason.lower()


def test_measure_column_missing_in_the_warehouse(tmp_path: Path, project: Path) -> None:
    warehouse = _fact_warehouse(tmp_path / "w.duckdb", drop=("net_amount",))
    findings = _lint(tmp_path, project, _kpi(), warehouse=warehouse)
    assert [(f.item_id, f.field, f.rule) for f in findings] == [("net_revenue", "measure.expression", "measurable")]
    assert "unknown column 'net_amount'" in findings[0].reason and "w.duckdb" in findings[0].reason


def test_measure_model_missing_in_the_warehouse(tmp_path: Path, project: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
    findings = _lint(tmp_path, project, _kpi(), warehouse=warehouse)
    assert [(f.item_id, f.field, f.rule) for f in findings] == [("net_revenue", "measure.model", "measurable")]


def test_the_demo_catalog_compiles_against_a_built_warehouse(tmp_path: Path) -> None:
    """Every demo measure binds against tables with the documented columns and their real types."""
    from tests.kpi.fact_columns import FACT_COLUMNS

    project = tmp_path / "dbt"
    write_fact_models_yaml(project)
    warehouse = tmp_path / "w.duckdb"
    numeric = {"quantity", "gross_amount", "net_amount", "cost_amount", "order_net_amount", "first_response_seconds",
               "resolution_hours", "csat", "score", "planned_qty", "produced_qty", "defective_qty", "good_qty",
               "test_cases_executed", "test_cases_failed", "change_count", "quantity_on_hand", "inventory_value",
               "hours", "headcount"}
    flags = {"is_cancelled", "is_repeat_customer", "is_new_contract", "is_resolved", "is_complaint", "is_promoter",
             "is_detractor", "is_delivered", "is_on_time"}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        for model, columns in FACT_COLUMNS.items():
            types = [("double" if c in numeric else "boolean" if c in flags
                      else "date" if c.endswith("_date") or c in ("date_day",) else "varchar") for c in columns]
            con.execute(f"create table marts.{model} (" + ", ".join(
                f"{c} {t}" for c, t in zip(columns, types, strict=True)) + ")")
    findings = lint_catalog(DEMO_CATALOG, project, warehouse_path=warehouse)
    assert [f for f in findings if f.rule == "measurable"] == []


# ------------------------------------------------------------------------------------------------
# an invalid catalog never replaces the last valid one — through the pipeline's path
# ------------------------------------------------------------------------------------------------
def test_prepare_keeps_the_last_valid_compiled_catalog(tmp_path: Path, project: Path, monkeypatch, capsys) -> None:
    """`kpi prepare` / prepare_dbt_project → write_compiled: an invalid catalog raises before anything
    is written and before dbt parses; the compiled catalog dbt builds from stays the last valid one."""
    import shutil
    from types import SimpleNamespace

    from pipelines.cli import EXIT_CATALOG, main
    from pipelines.orchestration.dbt_project import prepare_dbt_project
    from pipelines.settings import get_settings
    from quality.catalog import CatalogError
    from quality.catalog.compiler import GENERATED_DIR, JSON_FILE, MACRO_FILE

    catalog = project / "catalog"  # where the settings look: <dbt project>/catalog
    shutil.copytree(DEMO_CATALOG, catalog)
    parses: list[list[str]] = []

    class FakeDbt:
        def cli(self, args: list[str], **_: object) -> SimpleNamespace:
            parses.append(list(args))
            return SimpleNamespace(wait=lambda: None)

    prepare_dbt_project(project, catalog, progress=lambda _: None, resource=FakeDbt())
    generated = project / GENERATED_DIR
    valid = {name: (generated / name).read_bytes() for name in (MACRO_FILE, JSON_FILE)}
    assert parses == [["parse", "--quiet", "--target", "dev"]]  # the default engine's target

    # one rule broken: net_revenue serves an objective that does not exist
    path = catalog / "revenue.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    objective: grow_revenue\n", "    objective: grow_revenu\n", 1), encoding="utf-8")
    assert lint_catalog(catalog, project)[0].rule == "relevant"

    with pytest.raises(CatalogError) as info:
        prepare_dbt_project(project, catalog, progress=lambda _: None, resource=FakeDbt())
    assert [(i.item_id, i.field) for i in info.value.issues] == [("net_revenue", "objective")]
    assert {name: (generated / name).read_bytes() for name in valid} == valid
    assert sorted(p.name for p in generated.iterdir()) == sorted(valid)  # no temp file left
    assert parses == [["parse", "--quiet", "--target", "dev"]]  # dbt never parsed the invalid catalog

    # the CLI says so and exits with the catalog code (its settings name this project)
    monkeypatch.setenv("KPI_DBT_PROJECT_DIR", str(project))
    get_settings.cache_clear()
    try:
        assert main(["prepare"]) == EXIT_CATALOG
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "the last valid catalog stays in use" in out and "net_revenue" in out and "objective" in out
    assert {name: (generated / name).read_bytes() for name in valid} == valid


def test_an_invalid_measure_does_not_hide_the_other_rules(tmp_path: Path, project: Path) -> None:
    kpi = _measure(expression="net_amount_typo")
    kpi["description"] = "提升收入"
    findings = _lint(tmp_path, project, kpi)
    assert sorted((f.rule, f.field) for f in findings) == [("measurable", "measure.expression"),
                                                           ("specific", "description")]


# ------------------------------------------------------------------------------------------------
# possible: targets outside the values a KPI can take; reference: unknown org units and people
# ------------------------------------------------------------------------------------------------
def test_fixed_target_outside_a_share_s_range_is_an_error(tmp_path: Path, project: Path) -> None:
    findings = _lint(tmp_path, project, _kpi(unit="share", target={"rule": "fixed", "value": 1.2}))
    assert [(f.field, f.rule, f.severity) for f in findings] == [("target.value", "possible", "error")]
    assert "target 1.2 is impossible" in findings[0].reason and "[0, 1]" in findings[0].reason


def test_declared_range_and_counts_bound_fixed_targets(tmp_path: Path, project: Path) -> None:
    count = _kpi("orders", measure={"type": "count", "model": "fct_revenue_events", "time_column": "event_date"},
                 target={"rule": "fixed", "by_grain": {"month": -3}}, unit="orders")
    score = _kpi("score", range={"min": 1, "max": 5}, target={"rule": "fixed", "value": 6}, weights={})
    findings = _lint(tmp_path, project, count, score)
    assert sorted((f.item_id, f.field, f.rule) for f in findings) == [
        ("orders", "target.by_grain.month", "possible"), ("score", "target.value", "possible")]


def _actuals_warehouse(path: Path, rows: list[tuple]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.kpi_actuals (kpi_id varchar, org_unit_id varchar, grain varchar, "
                    "period_start date, actual_value double, is_complete boolean)")
        if rows:
            con.executemany("insert into marts.kpi_actuals values (?, ?, ?, ?, ?, ?)", rows)
        con.execute("create table marts.dim_org_unit (org_unit_id varchar)")
        con.executemany("insert into marts.dim_org_unit values (?)", [("ACME",), ("DIV-SALES",), ("DIV-SERVICE",)])
        con.execute("create table marts.dim_employee (employee_id varchar)")
        con.execute("insert into marts.dim_employee values ('E00002')")
    return path


def test_growth_on_a_share_that_leaves_its_range_is_an_error(tmp_path: Path, project: Path) -> None:
    """+10 % on a 98 % repurchase share is a 107.8 % target: impossible."""
    kpi = _kpi("repurchase_rate", unit="share", target={"rule": "growth_vs_last_year", "value": 0.10},
               description="Share of repeat orders; +10 % on last year.")
    warehouse = _actuals_warehouse(tmp_path / "w.duckdb", [
        ("repurchase_rate", "DIV-SALES", "month", "2025-01-01", 0.98, True),
        ("repurchase_rate", "DIV-SALES", "month", "2025-02-01", 0.50, True),
    ])
    findings = [f for f in _lint(tmp_path, project, kpi, warehouse=warehouse) if f.rule == "possible"]
    assert [(f.item_id, f.field, f.severity) for f in findings] == [("repurchase_rate", "target.value", "error")]
    assert "1 unit-period(s)" in findings[0].reason and "DIV-SALES month 2025-01-01" in findings[0].reason
    assert "→ target 1.078" in findings[0].reason


def test_unknown_owner_and_scope_are_named_with_a_did_you_mean(tmp_path: Path, project: Path) -> None:
    kpi = _kpi(owner={"org_unit": "DIV-SERVCE", "person": "E00002"}, scope=["DIV-SALSE"],
               weights={"DIV-SALSE": 100})
    _write(tmp_path / "catalog", "c.yml", _doc(kpi))
    findings = lint_catalog(tmp_path / "catalog", project, org_units={"ACME", "DIV-SALES", "DIV-SERVICE"},
                            employees={"E00002"})
    by_field = {f.field: f for f in findings if f.rule == "reference"}
    assert set(by_field) == {"owner.org_unit", "scope[0]", "weights.DIV-SALSE"}
    assert by_field["owner.org_unit"].reason == "unknown org unit 'DIV-SERVCE' (did you mean DIV-SERVICE?)"
    assert "did you mean DIV-SALES" in by_field["scope[0]"].reason
    assert all(f.severity == "error" for f in by_field.values())


def test_references_are_checked_against_the_warehouse_dimensions(tmp_path: Path, project: Path) -> None:
    warehouse = _actuals_warehouse(tmp_path / "w.duckdb", [])
    kpi = _kpi(owner={"org_unit": "DIV-SALES", "person": "E99999"})
    findings = [f for f in _lint(tmp_path, project, kpi, warehouse=warehouse) if f.rule == "reference"]
    assert [(f.field, f.reason) for f in findings] == [("owner.person", "unknown person 'E99999'")]
