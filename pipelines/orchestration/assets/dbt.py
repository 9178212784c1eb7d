"""The dbt project as Dagster assets: one asset per model/seed/snapshot, dbt tests as asset checks.

Asset keys are ``[schema, model]`` (``["marts", "kpi_actuals"]``); dbt sources keep dagster-dbt's
default ``[source_name, table]`` (``["raw_erp", "orders"]``), which are exactly the keys of the
extract assets, so the graph runs from source tables to reports in one piece. Groups follow the
layer (the folder's schema). dbt tests with severity ``error`` are blocking checks (dagster-dbt's
default): when one fails, nothing downstream of it is materialized in that run.

The manifest is prepared once (``kpi prepare``: compile the KPI catalog, ``dbt parse``; under
``dagster dev`` the project's preparer does it) and read when the definitions are built; nothing here
parses dbt or reads a file at import.
"""


import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipelines.locks import WAREHOUSE_POOL, warehouse_lock
from pipelines.orchestration import dbt_selective
from pipelines.orchestration.resources import WarehouseResource
from pipelines.orchestration.run_dates import as_of_of, run_date_of

_LAYER_OWNERS = {
    "staging": ["team:data-engineering"],
    "intermediate": ["team:data-engineering"],
    "marts": ["team:analytics-engineering"],
    "reference": ["team:data-engineering"],
    "snapshots": ["team:analytics-engineering"],
}


class LayerTranslator(DagsterDbtTranslator):
    """Only what we must: key = [schema, name] for models, group = layer, owners per layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        if dbt_resource_props["resource_type"] == "snapshot":
            return "snapshots"
        return dbt_resource_props["schema"]

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        return _LAYER_OWNERS.get(self.get_group_name(dbt_resource_props) or "")


def load_manifest(project: DbtProject) -> dict[str, Any]:
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {project.manifest_path}: run `kpi prepare` (or `make demo`) once "
            "to compile the KPI catalog and parse the dbt project."
        )
    return json.loads(project.manifest_path.read_text(encoding="utf-8"))


def build_dbt_assets(project: DbtProject, manifest: dict[str, Any]) -> dg.AssetsDefinition:
    """One asset per dbt model/seed/snapshot of ``manifest``, built by one ``dbt build`` step."""

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=LayerTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def warehouse_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                             warehouse: WarehouseResource) -> Iterator[Any]:
        """Build the warehouse (staging → intermediate → marts, KPI engine, analytics) and test it."""
        warehouse_path = Path(warehouse.warehouse_path)
        warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        os.environ.update(warehouse.dbt_env())  # dbt runs as a subprocess that inherits this environment
        as_of = as_of_of(context)
        run_date = run_date_of(context)
        dbt_vars = {
            "as_of_date": as_of.isoformat() if as_of else None,
            "run_date": run_date.isoformat() if run_date else None,
            "dagster_run_id": context.run_id,
        }
        # a whole build: every asset of the project's dbt step (in a subset run context.assets_def is the
        # subset itself, so compare with the full definition; a subset build must never record the state)
        whole = set(context.selected_asset_keys) >= set(warehouse_dbt_assets.keys)
        if warehouse.engine == "spark":
            with warehouse_lock(warehouse_path, on_wait=context.log.info):
                yield from _spark_build(context, dbt, warehouse, manifest, dbt_vars)
            return
        with warehouse_lock(warehouse_path, on_wait=context.log.info):
            # a night whose raw lake did not change rebuilds only what the run date changes (dbt_selective)
            fingerprint = dbt_selective.inputs_fingerprint(
                Path(warehouse.lake_dir), project.manifest_path, warehouse.dbt_env(), dbt_vars) if whole else None
            since = dbt_selective.unchanged_since(warehouse_path, fingerprint) \
                if fingerprint and warehouse.skip_unchanged else None
            dbt_selective.clear_state(warehouse_path)
            args = ["build", "--vars", json.dumps(dbt_vars)]
            if since:
                yield from _unchanged_results(manifest, since)
                args += dbt_selective.exclude_args(manifest)
                context.log.info(f"the raw lake, the dbt project and its settings are as the successful build of "
                                 f"run {since} left them: only the models depending on the run date or the load "
                                 "log are rebuilt (KPI_DBT_SKIP_UNCHANGED=false builds everything)")
            with _indirect_selection("cautious" if since else None):
                invocation = dbt.cli(args, context=context, raise_on_error=False)
            try:
                # (no fetch_row_counts: its thread pool yields out of topological order, which Dagster
                # rejects; row counts per mart are recorded by the publish step)
                yield from invocation.stream()
            finally:
                _stop(invocation.process)
            if fingerprint and invocation.is_successful():
                dbt_selective.write_state(warehouse_path, fingerprint, since or context.run_id)
        if not invocation.is_successful():
            raise dg.Failure(
                description="dbt build failed — nothing downstream (publish, reports, alerts) runs and the "
                "previous serving copy stays. " + failing_nodes(invocation.get_artifact("run_results.json")),
            )

    return warehouse_dbt_assets


def python_models(manifest: dict[str, Any]) -> list[str]:
    """The Python models (analytics): dbt-spark cannot run them in its session."""
    return sorted(node["name"] for node in manifest["nodes"].values()
                  if node["resource_type"] == "model" and node.get("language") == "python")


def tables_read_by(manifest: dict[str, Any], names: list[str]) -> list[str]:
    """``schema.table`` of every model, seed or snapshot the models ``names`` read."""
    nodes = manifest["nodes"]
    wanted = {key for key, node in nodes.items() if node["resource_type"] == "model" and node["name"] in names}
    parents = {p for key in wanted for p in manifest["parent_map"].get(key, []) if p in nodes}
    return sorted(f"{nodes[p]['schema']}.{nodes[p].get('alias') or nodes[p]['name']}" for p in parents - wanted)


def outside_of(manifest: dict[str, Any], names: list[str]) -> list[str]:
    """``path:`` selectors of every folder with a node (model, seed, snapshot, test, unit test) other than
    the folders of the models ``names``: excluding them leaves those models and the tests beside them.

    (A ``--select`` of our own cannot narrow a build that Dagster runs whole: dagster-dbt adds its own
    ``--select`` after it, and dbt takes the last one; an ``--exclude`` is kept.)"""
    import posixpath

    nodes = [n for n in [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]
             if n["resource_type"] in ("model", "seed", "snapshot", "test", "unit_test")]
    keep = {posixpath.dirname(n["original_file_path"]) for n in nodes
            if n["resource_type"] == "model" and n["name"] in names}
    # (snapshots and seeds too: a snapshot disabled on the manifest's target is enabled on another)
    return sorted({f"path:{posixpath.dirname(n['original_file_path'])}" for n in nodes
                   if posixpath.dirname(n["original_file_path"]) not in keep}
                  | {"resource_type:snapshot", "resource_type:seed"})


def _spark_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                 manifest: dict[str, Any], dbt_vars: dict[str, Any]) -> Iterator[Any]:
    """The Spark engine (docs/spark.md): the SQL models and their tests on Spark; then the public schemas
    into the DuckDB warehouse (pipelines/engines/spark.py), where the Python models (anomalies, forecasts)
    and their tests run as on the DuckDB engine, on the same rows. Everything downstream reads DuckDB."""
    from pipelines.engines.spark import mirror_into_duckdb

    analytics = python_models(manifest)
    vars_arg = ["--vars", json.dumps(dbt_vars)]
    # (one value per flag: dagster-dbt reads a single value after --select / --exclude and splits it)
    yield from _invoke(context, dbt, manifest,
                       ["build", *vars_arg, *(["--exclude", " ".join(analytics)] if analytics else [])],
                       failed="dbt build on Spark failed — nothing downstream (publish, reports, alerts) runs and "
                              "the previous serving copy stays. ")
    mirrored = mirror_into_duckdb(warehouse.spark_tables_dir(), Path(warehouse.warehouse_path),
                                  tables=tables_read_by(manifest, analytics))
    context.log.info(mirrored.summary())
    if not analytics:
        return
    with _indirect_selection("cautious"):  # the tests of the Python models only, not those of their parents
        yield from _invoke(context, dbt, manifest,
                           ["build", "--target", "dev", *vars_arg, "--exclude", " ".join(outside_of(manifest, analytics))],
                           failed="the analytics models (DuckDB, on the rows the Spark build made) failed — nothing "
                                  "downstream runs. ")


def _invoke(context: dg.AssetExecutionContext, dbt: DbtCliResource, manifest: dict[str, Any], args: list[str],
            *, failed: str) -> Iterator[Any]:
    """One dbt invocation of the step: its events, never outliving the step; a failure says what failed."""
    invocation = dbt.cli(args, context=context, raise_on_error=False)
    try:
        yield from _reported(invocation, manifest, _step_outputs(context))
    finally:
        _stop(invocation.process)
    if not invocation.is_successful():
        raise dg.Failure(description=failed + failing_nodes(invocation.get_artifact("run_results.json")))


def _reported(invocation: Any, manifest: dict[str, Any], outputs_so_far: Callable[[], set[str]]) -> Iterator[Any]:
    """The invocation's events; then every model or seed dbt built must have reached Dagster as an output
    of this step (``outputs_so_far``: the output names the run recorded) — a dbt log line Dagster cannot
    read would otherwise skip every asset downstream without a word."""
    yield from invocation.stream()
    seen = outputs_so_far()
    translator = LayerTranslator()
    built = [r["unique_id"] for r in invocation.get_artifact("run_results.json").get("results", [])
             if r.get("status") == "success" and r["unique_id"].split(".")[0] in ("model", "seed")]
    lost = [u for u in built if u in manifest["nodes"]
            and translator.get_asset_key(manifest["nodes"][u]).to_python_identifier() not in seen]
    if lost:
        raise dg.Failure(description=f"dbt built {len(lost)} model(s) whose result Dagster did not receive (e.g. "
                         f"{', '.join(u.split('.')[-1] for u in lost[:5])}): their dbt log lines could not be read")


def _step_outputs(context: dg.AssetExecutionContext) -> Callable[[], set[str]]:
    """The names of the outputs this step has recorded so far in the run's event log."""
    def read() -> set[str]:
        records = context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
        return {r.dagster_event.event_specific_data.step_output_handle.output_name for r in records
                if r.dagster_event is not None and r.dagster_event.step_key == context.op_execution_context.node_handle.name}
    return read


def _unchanged_results(manifest: dict[str, Any], since: str) -> Iterator[dg.MaterializeResult]:
    """The models a selective build leaves alone, in dependency order (before the rebuilt ones, which
    are all downstream of none of them): their tables are those of the full build of run ``since``."""
    translator = LayerTranslator()
    unchanged = set(dbt_selective.unchanged_nodes(manifest))
    parents = manifest["parent_map"]
    done: set[str] = set()

    def visit(key: str) -> Iterator[dg.MaterializeResult]:
        if key in done or key not in unchanged:
            return
        done.add(key)
        for parent in parents.get(key, []):
            yield from visit(parent)
        yield dg.MaterializeResult(
            asset_key=translator.get_asset_key(manifest["nodes"][key]),
            metadata={"rebuilt": False, "unchanged_since_run": since},
        )

    for key in sorted(unchanged):
        yield from visit(key)


@contextlib.contextmanager
def _indirect_selection(mode: str | None) -> Iterator[None]:
    """DBT_INDIRECT_SELECTION for the dbt subprocess started inside the block (it copies the environment)."""
    if mode is None:
        yield
        return
    before = os.environ.get("DBT_INDIRECT_SELECTION")
    os.environ["DBT_INDIRECT_SELECTION"] = mode
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DBT_INDIRECT_SELECTION", None)
        else:
            os.environ["DBT_INDIRECT_SELECTION"] = before


def _stop(process: subprocess.Popen) -> None:
    """Never let dbt outlive its step (and its lock): if the step fails or is interrupted mid-stream,
    stop the subprocess before the writer lock is released."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def lake_bookkeeping_specs(manifest: dict[str, Any]) -> list[dg.AssetSpec]:
    """The dbt sources that are not raw tables: extraction's own bookkeeping in the lake (load log,
    quarantine), which every extract asset writes beside its partitions. Declared so that they sit in
    the raw layer with their dbt description and an owner, instead of as anonymous stubs."""
    translator = LayerTranslator()
    return [
        dg.AssetSpec(
            key=translator.get_asset_key(source),
            description=source.get("description") or source.get("source_description"),
            group_name="raw",
            owners=["team:data-engineering"],
            kinds={"parquet"},
        )
        for source in manifest["sources"].values()
        if not source["source_name"].startswith("raw_")
    ]


def failing_nodes(run_results: Mapping[str, Any], limit: int = 10) -> str:
    """'Failing: test_x (fail: Got 3 results…); model_y (error: …)' from dbt's run_results.json."""
    failed = [r for r in run_results.get("results", []) if r.get("status") in ("fail", "error")]
    parts = [
        f"{r['unique_id'].split('.')[-1]} ({r['status']}: {(r.get('message') or '').strip()[:160]})"
        for r in failed[:limit]
    ]
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return f"Failing: {'; '.join(parts)}{more}" if parts else "dbt reported an error (see its log)."
