"""Which models a night with an unchanged raw lake rebuilds, and when a night counts as unchanged."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipelines.benchmark.child import sensor_run_requests
from pipelines.orchestration import dbt_selective as sel


def _node(kind: str, name: str, code: str = "", nodes: tuple[str, ...] = (), macros: tuple[str, ...] = ()) -> dict:
    return {"resource_type": kind, "name": name, "raw_code": code,
            "depends_on": {"nodes": list(nodes), "macros": list(macros)}}


def _manifest() -> dict:
    nodes = {
        "model.p.stg_orders": _node("model", "stg_orders", nodes=("source.p.raw_erp.orders",)),
        "model.p.stg_load_log": _node("model", "stg_load_log", nodes=("source.p.lake_meta.load_log",)),
        "model.p.fct_orders": _node("model", "fct_orders", nodes=("model.p.stg_orders",)),
        "model.p.int_bounds": _node("model", "int_bounds", "{% set d = var('as_of_date', none) %}"),
        "model.p.int_periods": _node("model", "int_periods", macros=("macro.p.kpi_as_of",)),
        "model.p.kpi_actuals": _node("model", "kpi_actuals", nodes=("model.p.fct_orders", "model.p.int_periods")),
        "model.p.quarantined": _node("model", "quarantined", "env_var('KPI_LAKE_DIR') ~ '/quarantine'"),
        "model.p.stg_checkins": _node("model", "stg_checkins", nodes=("source.p.raw_checkins.comments",)),
        "seed.p.holidays": _node("seed", "holidays"),
        "test.p.not_null_fct_orders": _node("test", "not_null_fct_orders", nodes=("model.p.fct_orders",)),
        "test.p.rel_kpi_fct": _node("test", "rel_kpi_fct", nodes=("model.p.kpi_actuals", "model.p.fct_orders")),
    }
    children: dict[str, list[str]] = {k: [] for k in nodes}
    parents: dict[str, list[str]] = {}
    for key, node in nodes.items():
        parents[key] = node["depends_on"]["nodes"]
        for parent in node["depends_on"]["nodes"]:
            children.setdefault(parent, []).append(key)
    return {
        "nodes": nodes, "child_map": children, "parent_map": parents,
        "sources": {"source.p.raw_erp.orders": {"source_name": "raw_erp"},
                    "source.p.lake_meta.load_log": {"source_name": "lake_meta"},
                    "source.p.raw_checkins.comments": {"source_name": "raw_checkins"}},
        "macros": {
            "macro.p.as_of_sql": {"macro_sql": "{{ var(\"as_of_date\") }}", "depends_on": {"macros": []}},
            "macro.p.kpi_as_of": {"macro_sql": "{{ as_of_sql() }}", "depends_on": {"macros": ["macro.p.as_of_sql"]}},
            "macro.p.other": {"macro_sql": "{{ var('fiscal_year_start_month') }}", "depends_on": {"macros": []}},
        },
    }


def test_date_dependent_roots_direct_through_macros_non_raw_sources_and_lake_paths():
    assert sel.date_dependent_roots(_manifest()) == {
        "model.p.int_bounds", "model.p.int_periods", "model.p.stg_load_log", "model.p.quarantined",
        "model.p.stg_checkins"}  # the check-ins snapshot is rewritten by every run


def test_rebuilt_is_the_roots_and_everything_downstream_unchanged_the_rest():
    m = _manifest()
    assert sel.rebuilt_nodes(m) == {"model.p.int_bounds", "model.p.int_periods", "model.p.stg_load_log",
                                    "model.p.quarantined", "model.p.stg_checkins", "model.p.kpi_actuals"}
    assert sel.unchanged_nodes(m) == ["model.p.fct_orders", "model.p.stg_orders", "seed.p.holidays"]
    assert sel.exclude_args(m) == ["--exclude", "fct_orders stg_orders holidays"]  # no fqn: by name
    for key in m["nodes"]:
        m["nodes"][key]["fqn"] = ["p", key.split(".")[0], m["nodes"][key]["name"]]
    assert sel.exclude_args(m) == ["--exclude", "fqn:p.model.fct_orders fqn:p.model.stg_orders fqn:p.seed.holidays"]


def _lake(tmp_path: Path) -> Path:
    part = tmp_path / "lake" / "raw" / "erp" / "orders" / "date=2024-07-01" / "part-0.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x")
    log = tmp_path / "lake" / "_meta" / "load_log" / "erp" / "orders" / "log.parquet"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"1")
    (tmp_path / "manifest.json").write_text("{}")
    return tmp_path / "lake"


def _fp(tmp_path: Path, **dbt_vars: object) -> str:
    return sel.inputs_fingerprint(tmp_path / "lake", tmp_path / "manifest.json", {"KPI_TIMEZONE": "UTC"},
                                  {"as_of_date": "2024-07-01", "run_date": "2024-07-01", **dbt_vars})


def test_fingerprint_ignores_run_dates_and_the_load_log_but_not_the_raw_lake(tmp_path):
    lake = _lake(tmp_path)
    before = _fp(tmp_path)
    assert _fp(tmp_path, as_of_date="2024-07-09", run_date="2024-07-09", dagster_run_id="r2") == before
    (lake / "_meta" / "load_log" / "erp" / "orders" / "log2.parquet").write_bytes(b"2")
    checkins = lake / "raw" / "checkins" / "comments" / "date=2024-07-01" / "part-0.parquet"
    checkins.parent.mkdir(parents=True)
    checkins.write_bytes(b"c")  # rewritten by every run: its models are always rebuilt instead
    assert _fp(tmp_path) == before
    assert _fp(tmp_path, incremental_lookback_days=0) != before
    part = lake / "raw" / "erp" / "orders" / "date=2024-07-01" / "part-0.parquet"
    os.utime(part, ns=(time.time_ns(), time.time_ns() + 10**9))  # rewritten
    assert _fp(tmp_path) != before
    new = lake / "quarantine" / "erp" / "orders" / "date=2024-07-02" / "part-0.parquet"
    new.parent.mkdir(parents=True)
    after_rewrite = _fp(tmp_path)
    new.write_bytes(b"q")
    assert _fp(tmp_path) != after_rewrite


def test_state_needs_the_same_fingerprint_and_an_untouched_warehouse(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    assert sel.unchanged_since(warehouse, "f") is None  # no warehouse, no state
    warehouse.write_bytes(b"w")
    sel.write_state(warehouse, "f", "run-1")
    assert sel.unchanged_since(warehouse, "f") == "run-1"
    assert sel.unchanged_since(warehouse, "g") is None
    warehouse.write_bytes(b"w2")  # written by someone else since
    assert sel.unchanged_since(warehouse, "f") is None
    sel.write_state(warehouse, "f", "run-1")
    sel.clear_state(warehouse)
    assert sel.unchanged_since(warehouse, "f") is None


def test_the_benchmark_reads_the_late_files_sensors_single_run_request():
    import dagster as dg

    one = dg.RunRequest(run_key="late-1", partition_key="2024-07-23")
    assert sensor_run_requests(one) == [one]
    assert sensor_run_requests([one, one]) == [one, one]
    assert sensor_run_requests(dg.SkipReason("nothing new")) == []
    assert sensor_run_requests(dg.SensorResult(run_requests=[one])) == [one]
