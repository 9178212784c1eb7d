"""The Spark engine's dbt step (pipelines/orchestration/assets/dbt.py): what it selects, what it copies,
and that a dbt result Dagster never received fails the step instead of silently skipping publish."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from pipelines.orchestration.assets.dbt import _reported, outside_of, python_models, tables_read_by


def _node(kind: str, name: str, schema: str, path: str, language: str = "sql") -> dict[str, Any]:
    return {"resource_type": kind, "name": name, "schema": schema, "original_file_path": path,
            "language": language, "unique_id": f"{kind}.p.{name}"}


MANIFEST = {
    "nodes": {
        "model.p.stg_orders": _node("model", "stg_orders", "staging", "models/staging/erp/stg_orders.sql"),
        "model.p.int_as_of": _node("model", "int_as_of", "intermediate", "models/intermediate/kpi/int_as_of.sql"),
        "model.p.kpi_actuals": _node("model", "kpi_actuals", "marts", "models/marts/kpi/kpi_actuals.sql"),
        "model.p.kpi_forecast": _node("model", "kpi_forecast", "marts", "models/marts/analytics/kpi_forecast.py",
                                      "python"),
        "seed.p.exclusions": _node("seed", "exclusions", "reference", "seeds/exclusions.csv"),
        "test.p.not_null_kpi_forecast_x": _node("test", "not_null_kpi_forecast_x", "marts",
                                                "models/marts/analytics/_analytics__models.yml"),
        "test.p.assert_rollups": _node("test", "assert_rollups", "marts", "tests/kpi/assert_rollups.sql"),
        "operation.p.hook": _node("operation", "hook", "main", "./dbt_project.yml"),
    },
    "unit_tests": {},
    "parent_map": {"model.p.kpi_forecast": ["model.p.kpi_actuals", "model.p.int_as_of", "seed.p.exclusions"]},
}


def test_the_analytics_are_the_python_models_and_what_they_read_is_copied():
    assert python_models(MANIFEST) == ["kpi_forecast"]
    assert tables_read_by(MANIFEST, ["kpi_forecast"]) == ["intermediate.int_as_of", "marts.kpi_actuals",
                                                          "reference.exclusions"]


def test_the_analytics_build_excludes_every_other_folder_but_keeps_the_analytics_tests():
    excludes = outside_of(MANIFEST, ["kpi_forecast"])
    assert excludes == ["path:models/intermediate/kpi", "path:models/marts/kpi", "path:models/staging/erp",
                        "path:seeds", "path:tests/kpi", "resource_type:seed", "resource_type:snapshot"]
    assert "path:." not in excludes  # the hooks' path would exclude everything


class _Invocation:
    def __init__(self, events: list[Any], results: list[dict[str, Any]]) -> None:
        self.events, self.results = events, results

    def stream(self):
        yield from self.events

    def get_artifact(self, name: str) -> dict[str, Any]:
        assert name == "run_results.json"
        return {"results": self.results}


def test_a_built_model_whose_event_never_arrived_fails_the_step():
    results = [{"unique_id": "model.p.stg_orders", "status": "success"},
               {"unique_id": "model.p.kpi_actuals", "status": "success"},
               {"unique_id": "test.p.assert_rollups", "status": "pass"}]
    events = [dg.Output(None, output_name="staging__stg_orders")]
    with pytest.raises(dg.Failure, match=r"1 model\(s\) whose result Dagster did not receive \(e.g. kpi_actuals\)"):
        list(_reported(_Invocation(events, results), MANIFEST, lambda: {"staging__stg_orders"}))
    recorded = {"staging__stg_orders", "marts__kpi_actuals"}
    assert list(_reported(_Invocation(events, results), MANIFEST, lambda: recorded)) == events
