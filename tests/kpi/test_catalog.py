"""Unit tests of the KPI catalog loader, validator and compiler (no dbt, no warehouse)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml

from quality.catalog import CatalogError, compile_and_write, compile_catalog, load_catalog
from quality.catalog.compiler import GENERATED_DIR, JSON_FILE, MACRO_FILE
from tests.kpi.fact_columns import write_fact_models_yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_CATALOG = REPO / "dbt_project" / "catalog"

DOCS_KPIS = {  # docs/warehouse.md "The demo catalog's KPIs": id -> measure type
    "net_revenue": "sum", "cogs": "sum", "new_contracts": "count", "active_customers": "count_distinct",
    "repurchase_rate": "ratio", "median_order_value": "percentile", "avg_discount_rate": "ratio",
    "first_response_p90": "percentile", "complaint_rate": "ratio", "csat_avg": "ratio",
    "avg_resolution_hours": "ratio", "promoters_pct": "ratio", "detractors_pct": "ratio", "nps": "derived",
    "quality_pass_rate": "ratio", "on_time_delivery": "ratio", "inventory_value": "last",
    "inventory_turnover": "derived", "bugs_reported": "count", "test_cases_executed": "sum",
    "bug_rate": "derived", "training_hours": "sum", "headcount": "last", "training_hours_per_employee": "derived",
}


# ------------------------------------------------------------------------------------------------
# helpers: a small valid catalog that each test breaks in one place
# ------------------------------------------------------------------------------------------------
def _kpi(kid: str = "net_revenue", **over: object) -> dict:
    base = {
        "id": kid,
        "name": "Net revenue",
        "name_zh": "净收入",
        "description": "Net revenue in CNY; +12 % on last year.",
        "objective": "grow",
        "owner": {"org_unit": "DIV-SALES", "person": "E00002"},
        "unit": "CNY",
        "direction": "higher_is_better",
        "measure": {"type": "sum", "model": "fct_revenue_events", "expression": "net_amount",
                    "time_column": "event_date", "org_column": "org_unit_id"},
        "grains": ["month", "quarter", "year"],
        "scope": ["DIV-SALES"],
        "target": {"rule": "growth_vs_last_year", "value": 0.12},
        "versions": [{"version": 1, "valid_from": "2024-01-01"}],
    }
    base.update(over)
    return base


def _doc(*kpis: dict, objectives: list | None = None) -> dict:
    return {
        "objectives": objectives if objectives is not None else [
            {"id": "grow", "name": "Grow", "description": "Grow revenue 12 % a year.", "owner": "DIV-SALES"}
        ],
        "kpis": list(kpis),
    }


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A dbt project dir documenting the facts of docs/warehouse.md."""
    write_fact_models_yaml(tmp_path / "dbt")
    return tmp_path / "dbt"


def _write(catalog_dir: Path, name: str, doc: dict) -> Path:
    catalog_dir.mkdir(parents=True, exist_ok=True)
    path = catalog_dir / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _issues(catalog_dir: Path, project: Path) -> list:
    with pytest.raises(CatalogError) as info:
        compile_catalog(catalog_dir, project)
    return info.value.issues


def _assert_rejected(catalog_dir: Path, project: Path, kpi_id: str | None, field: str, reason: str) -> None:
    issues = _issues(catalog_dir, project)
    matching = [i for i in issues if i.item_id == kpi_id and i.field.startswith(field) and reason in i.reason]
    assert matching, f"expected ({kpi_id}, {field}, ~{reason!r}) among:\n" + "\n".join(map(str, issues))
    assert all(i.file for i in issues)


# ------------------------------------------------------------------------------------------------
# the demo catalog
# ------------------------------------------------------------------------------------------------
def test_demo_catalog_covers_docs_kpis_and_every_measure_type(project: Path) -> None:
    compiled = compile_catalog(DEMO_CATALOG, project)
    current = {k.id: k.current.spec.measure.type for k in compiled.catalog.kpis}
    for kid, mtype in DOCS_KPIS.items():
        assert current.get(kid) == mtype, kid
    assert {v["measure_type"] for v in compiled.payload["versions"]} == {
        "sum", "count", "count_distinct", "ratio", "percentile", "last", "derived"}


def test_demo_catalog_example_targets(project: Path) -> None:
    cat = compile_catalog(DEMO_CATALOG, project).catalog
    spec = {k.id: k.current.spec for k in cat.kpis}
    # a share near 100 % cannot grow 10 % a year: the demo sets a floor instead
    assert (spec["repurchase_rate"].target.rule, spec["repurchase_rate"].target.value) == ("fixed", 0.95)
    assert spec["new_contracts"].target.by_grain["quarter"] == 20
    assert (spec["bug_rate"].target.value, spec["bug_rate"].direction) == (0.005, "lower_is_better")
    fr = spec["first_response_p90"]
    assert (fr.measure.percentile, fr.target.value, fr.unit, fr.direction) == (0.9, 60, "seconds", "lower_is_better")
    assert spec["nps"].target.value == 80
    assert (spec["complaint_rate"].target.rule, spec["complaint_rate"].target.value) == ("growth_vs_last_year", -0.10)


def test_complaint_rate_has_a_formula_change_from_2025_07_01(project: Path) -> None:
    cat = compile_catalog(DEMO_CATALOG, project).catalog
    v1, v2 = cat.kpi("complaint_rate").versions
    assert str(v1.valid_to) == str(v2.valid_from) == "2025-07-01"
    assert v1.spec.measure.denominator != v2.spec.measure.denominator
    assert v2.reason


def test_demo_catalog_compiles_against_the_real_dbt_models(project: Path) -> None:
    """The other tests compile against a stand-in of the fact models (tests/kpi/fact_columns.py);
    the real dbt models must give the same KPIs and the same passes."""
    real = compile_catalog(DEMO_CATALOG, REPO / "dbt_project").payload
    stand_in = compile_catalog(DEMO_CATALOG, project).payload
    kpis = {v["kpi_id"] for v in real["versions"]}
    assert kpis >= set(DOCS_KPIS)
    assert kpis == {v["kpi_id"] for v in stand_in["versions"]}
    assert [(p["model"], sorted(a["kpi_id"] for a in p["additive"])) for p in real["passes"]] == \
        [(p["model"], sorted(a["kpi_id"] for a in p["additive"])) for p in stand_in["passes"]]


def test_one_additive_pass_per_fact_model(project: Path) -> None:
    payload = compile_catalog(DEMO_CATALOG, project).payload
    models = [p["model"] for p in payload["passes"]]
    assert len(models) == len(set(models))  # one (model, time column) group each
    revenue = next(p for p in payload["passes"] if p["model"] == "fct_revenue_events")
    assert {a["kpi_id"] for a in revenue["additive"]} >= {"net_revenue", "cogs", "avg_discount_rate"}


def test_derived_kpis_know_their_facts_and_level(project: Path) -> None:
    versions = {v["kpi_id"]: v for v in compile_catalog(DEMO_CATALOG, project).payload["versions"]}
    assert versions["inventory_turnover"]["source_models"] == ["fct_inventory_daily", "fct_revenue_events"]
    assert versions["nps"]["derived_level"] == 1 and versions["net_revenue"]["derived_level"] == 0
    assert versions["bug_rate"]["derived_numerator_sql"] == '"b"."bugs_reported"'
    assert versions["bug_rate"]["derived_denominator_sql"] == '"b"."test_cases_executed"'


# ------------------------------------------------------------------------------------------------
# rejections: KPI id, field and reason
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("measure_change", "field", "reason"),
    [
        ({"expression": "net_amount_typo"}, "measure.expression", "unknown column 'net_amount_typo'"),
        ({"expression": "pg_sleep(10)"}, "measure.expression", "function pg_sleep() is not allowed"),
        ({"expression": "read_parquet('/etc/passwd')"}, "measure.expression", "is not allowed"),
        ({"expression": "sum(net_amount)"}, "measure.expression", "function sum() is not allowed"),
        ({"expression": "(select max(net_amount) from fct_orders)"}, "measure.expression", "subquery"),
        ({"expression": "net_amount; drop table marts.kpi_actuals"}, "measure.expression", "';'"),
        ({"expression": "net_amount;drop table x"}, "measure.expression", "';'"),
        ({"expression": "net_amount -- hidden"}, "measure.expression", "comment"),
        ({"expression": "net_amount /* hidden */"}, "measure.expression", "comment"),
        ({"expression": "fct_orders.order_net_amount"}, "measure.expression", "qualified column"),
        ({"expression": "*"}, "measure.expression", "* is not allowed"),
        ({"expression": "cast(net_amount as blob)"}, "measure.expression", "cast to BLOB"),
        ({"filter": "region in (select region from fct_orders)"}, "measure.filter", "subquery"),
        ({"filter": "order_type = 'contract'"}, "measure.filter", "unknown column 'order_type'"),
        ({"model": "fct_secret"}, "measure.model", "unknown model 'fct_secret'"),
        ({"time_column": "order_date"}, "measure.time_column", "unknown column 'order_date'"),
    ],
)
def test_measure_rejections(tmp_path: Path, project: Path, measure_change: dict, field: str, reason: str) -> None:
    kpi = _kpi()
    kpi["measure"] = {**kpi["measure"], **measure_change}
    _write(tmp_path / "catalog", "revenue.yml", _doc(kpi))
    _assert_rejected(tmp_path / "catalog", project, "net_revenue", field, reason)


def test_ratio_parts_are_checked(tmp_path: Path, project: Path) -> None:
    kpi = _kpi("repurchase_rate", measure={
        "type": "ratio", "model": "fct_orders", "time_column": "order_date",
        "numerator": {"type": "count", "filter": "is_repeat_customer and unknown_flag"},
        "denominator": {"type": "count", "filter": "not is_cancelled"}, "scale": 100})
    _write(tmp_path / "catalog", "c.yml", _doc(kpi))
    _assert_rejected(tmp_path / "catalog", project, "repurchase_rate", "measure.numerator.filter", "unknown_flag")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"description": ""}, "description", "at least 1 character"),
        ({"direction": "up"}, "direction", "higher_is_better"),
        ({"grains": []}, "grains", "at least 1"),
        ({"grains": ["fortnight"]}, "grains", "day"),
        ({"objective": "nowhere"}, "objective", "unknown objective 'nowhere'"),
        ({"owner": {}}, "owner", "an owner needs"),
        ({"measure": {"type": "ratio", "model": "fct_orders", "time_column": "order_date",
                      "numerator": {"type": "count"}}}, "measure", "needs a numerator and a denominator"),
        ({"measure": {"type": "percentile", "model": "fct_orders", "time_column": "order_date",
                      "expression": "order_net_amount", "percentile": 1.5}}, "measure.percentile", "less than 1"),
        ({"direction": "target_range", "target": {"rule": "fixed", "value": 3}}, "(entry)", "target.low and target.high"),
        ({"target": {"rule": "growth_vs_last_year"}}, "target", "needs value"),
        ({"weights": {"DIV-SALES": 60}}, "weights", "sum to 60"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"versions": [{"version": 1, "valid_from": "2024-01-01"},
                       {"version": 2, "valid_from": "2023-06-01", "reason": "x", "changes": {"unit": "k CNY"}}]},
         "versions[1].valid_from", "later than"),
        ({"versions": [{"version": 1, "valid_from": "2024-01-01"},
                       {"version": 2, "valid_from": "2025-01-01", "changes": {"unit": "k CNY"}}]},
         "versions[1].reason", "must say why"),
        ({"versions": [{"version": 1, "valid_from": "2024-01-01"},
                       {"version": 2, "valid_from": "2025-01-01", "reason": "x",
                        "changes": {"measure": {"expression": "secret_col"}}}]},
         "measure.expression (version 2)", "unknown column 'secret_col'"),
    ],
)
def test_kpi_rejections(tmp_path: Path, project: Path, change: dict, field: str, reason: str) -> None:
    _write(tmp_path / "catalog", "revenue.yml", _doc(_kpi(**change)))
    _assert_rejected(tmp_path / "catalog", project, "net_revenue", field, reason)


def test_duplicate_kpi_ids_across_files(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "a.yml", _doc(_kpi()))
    _write(tmp_path / "catalog", "b.yml", {"kpis": [_kpi()]})
    issues = _issues(tmp_path / "catalog", project)
    assert any(i.item_id == "net_revenue" and i.file == "b.yml" and "duplicate KPI id (also in a.yml)" in i.reason
               for i in issues)


def test_duplicate_objective_ids(tmp_path: Path, project: Path) -> None:
    obj = {"id": "grow", "name": "Grow", "description": "Grow 12 %.", "owner": "ACME"}
    _write(tmp_path / "catalog", "a.yml", _doc(_kpi(), objectives=[obj]))
    _write(tmp_path / "catalog", "b.yml", {"objectives": [obj]})
    issues = _issues(tmp_path / "catalog", project)
    assert any(i.item_id == "grow" and "duplicate objective id" in i.reason for i in issues)


def _derived(kid: str, formula: str) -> dict:
    return _kpi(kid, measure={"type": "derived", "formula": formula})


def test_derived_cycle_is_rejected(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "d.yml", _doc(_kpi(), _derived("a_kpi", "b_kpi + net_revenue"),
                                                _derived("b_kpi", "2 * a_kpi")))
    issues = _issues(tmp_path / "catalog", project)
    cycle = [i for i in issues if "cycle" in i.reason]
    assert cycle and cycle[0].field == "measure.formula"
    assert "a_kpi -> b_kpi -> a_kpi" in cycle[0].reason or "b_kpi -> a_kpi -> b_kpi" in cycle[0].reason


def test_derived_self_reference_is_a_cycle(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "d.yml", _doc(_kpi(), _derived("a_kpi", "a_kpi + 1")))
    _assert_rejected(tmp_path / "catalog", project, "a_kpi", "measure.formula", "itself")


@pytest.mark.parametrize(
    ("formula", "reason"),
    [
        ("net_revenue / missing_kpi", "unknown KPI id 'missing_kpi'"),
        ("net_revenue / nullif(sqrt(net_revenue), 0)", "function sqrt() is not allowed in a formula"),
        ("net_revenue > 5", "GT is not allowed in a formula"),
        ("net_revenue + 'x'", "strings are not allowed"),
        ("net_revenue; select 1", "';'"),
    ],
)
def test_formula_rejections(tmp_path: Path, project: Path, formula: str, reason: str) -> None:
    _write(tmp_path / "catalog", "d.yml", _doc(_kpi(), _derived("ratio_kpi", formula)))
    _assert_rejected(tmp_path / "catalog", project, "ratio_kpi", "measure.formula", reason)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path, project: Path) -> None:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "broken.yml").write_text("kpis:\n  - id: x\n   name: [unclosed\n", encoding="utf-8")
    issues = _issues(tmp_path / "catalog", project)
    assert issues[0].file == "broken.yml" and "line" in issues[0].reason


def test_every_problem_is_reported_at_once(tmp_path: Path, project: Path) -> None:
    bad1 = _kpi("kpi_one", measure={**_kpi()["measure"], "expression": "nope"})
    bad2 = _kpi("kpi_two", objective="nowhere")
    _write(tmp_path / "catalog", "x.yml", _doc(bad1, bad2))
    ids = {i.item_id for i in _issues(tmp_path / "catalog", project)}
    assert {"kpi_one", "kpi_two"} <= ids


def test_load_catalog_without_models_checks_structure_only(tmp_path: Path) -> None:
    kpi = _kpi()
    kpi["measure"] = {**kpi["measure"], "expression": "whatever_column"}
    _write(tmp_path / "catalog", "r.yml", _doc(kpi))
    cat = load_catalog(tmp_path / "catalog")
    assert cat.kpis[0].id == "net_revenue"


# ------------------------------------------------------------------------------------------------
# the compiled output
# ------------------------------------------------------------------------------------------------
def test_sql_reaching_dbt_is_rerendered_from_the_tree(tmp_path: Path, project: Path) -> None:
    kpi = _kpi(measure={"type": "sum", "model": "fct_revenue_events", "time_column": "event_date",
                        "expression": "CASE WHEN   channel = 'it''s'   THEN net_amount / quantity ELSE 0 END",
                        "filter": "event_type='sale'"})
    _write(tmp_path / "catalog", "r.yml", _doc(kpi))
    payload = compile_catalog(tmp_path / "catalog", project).payload
    part = payload["passes"][0]["additive"][0]
    assert part["expr"] == ("CASE WHEN f.channel = 'it''s' THEN (f.net_amount) / NULLIF((f.quantity), 0) ELSE 0 END")
    assert part["filter"] == "f.event_type = 'sale'"
    version = payload["versions"][0]
    assert version["measure_expression"] == "CASE WHEN channel = 'it''s' THEN net_amount / quantity ELSE 0 END"


def test_definition_hash_changes_with_any_field(tmp_path: Path, project: Path) -> None:
    _write(tmp_path / "catalog", "r.yml", _doc(_kpi()))
    h1 = compile_catalog(tmp_path / "catalog", project).payload["versions"][0]["definition_hash"]
    _write(tmp_path / "catalog", "r.yml", _doc(_kpi(thresholds={"amber": 0.8})))
    h2 = compile_catalog(tmp_path / "catalog", project).payload["versions"][0]["definition_hash"]
    assert h1 != h2


def test_compiled_macro_returns_the_catalog(tmp_path: Path, project: Path) -> None:
    compiled = compile_and_write(DEMO_CATALOG, project)
    text = (project / GENERATED_DIR / MACRO_FILE).read_text(encoding="utf-8")
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    module = env.from_string(text.replace("return(", "_ret(")).make_module(
        {"fromjson": json.loads, "_ret": lambda value: json.dumps(value)})
    assert json.loads(str(module.kpi_catalog())) == json.loads(compiled.to_json())
    assert json.loads((project / GENERATED_DIR / JSON_FILE).read_text(encoding="utf-8")) == compiled.payload


def test_invalid_catalog_never_replaces_the_last_valid_compiled_file(tmp_path: Path, project: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    compile_and_write(catalog, project)
    macro = project / GENERATED_DIR / MACRO_FILE
    before = macro.read_bytes()
    # break one expression
    path = catalog / "revenue.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("expression: net_amount,", "expression: net_amount; drop table x,"),
                    encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        compile_and_write(catalog, project)
    assert any(i.item_id == "net_revenue" and i.field == "measure.expression" for i in info.value.issues)
    assert macro.read_bytes() == before
    assert [p.name for p in macro.parent.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_compiling_twice_writes_identical_files(tmp_path: Path, project: Path) -> None:
    compile_and_write(DEMO_CATALOG, project)
    first = (project / GENERATED_DIR / MACRO_FILE).read_bytes()
    compile_and_write(DEMO_CATALOG, project)
    assert (project / GENERATED_DIR / MACRO_FILE).read_bytes() == first


def test_first_compile_invalidates_a_stale_partial_parse(tmp_path: Path, project: Path) -> None:
    """A manifest parsed before the macro existed cannot know the KPI models depend on it."""
    state = project / "target" / "partial_parse.msgpack"
    other = tmp_path / "elsewhere" / "partial_parse.msgpack"
    for path in (state, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stale")
    compile_and_write(DEMO_CATALOG, project, [other.parent])
    assert not state.exists() and not other.exists()
    state.write_bytes(b"fresh")  # later compiles leave it alone: dbt tracks the macro from then on
    compile_and_write(DEMO_CATALOG, project)
    assert state.exists()
