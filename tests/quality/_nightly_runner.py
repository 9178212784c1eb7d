"""Run the nightly job's warehouse and publish path through Dagster, against a private data folder.

``python -m tests.quality._nightly_runner <data_dir> <dbt_project_copy> <result.json>``

A fresh interpreter (so the pipeline modules bind to the copy): ``KPI_DATA_DIR`` moves every path of
the settings; the dbt project is a private copy with its own manifest, so dbt writes its target
folders into the copy — never into the repository's ``dbt_project/target``. Then it materializes the
nightly job's assets downstream of the raw lake — the dbt build with its asset checks, the serving
copy, Parquet, PostgreSQL (not configured), reports and alerts — exactly as the code location
defines them (``build_definitions``), and writes what happened to ``result.json``: success, failed steps, failed
blocking checks (as ``pipelines.orchestration.runner.run_nightly`` reads them), the summary the CLI prints, and
which assets were materialized.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(data_dir: str, project_dir: str, out: str) -> int:
    os.environ["KPI_DATA_DIR"] = data_dir
    os.environ["DAGSTER_HOME"] = str(Path(data_dir) / "dagster_home")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

    os.environ["KPI_DBT_PROJECT_DIR"] = project_dir

    import dagster as dg

    from pipelines.orchestration.definitions import build_definitions
    from pipelines.orchestration.jobs import NIGHTLY_JOB
    from pipelines.orchestration.runner import RunOutcome
    from pipelines.settings import get_settings

    defs = build_definitions(get_settings())
    # every asset of the nightly job except the daily source-table extractions (the mini lake stands in
    # for their output): lake-only snapshots such as the owners' check-ins run as in the job
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(NIGHTLY_JOB)
    selection = [key for key in job.asset_layer.executable_asset_keys
                 if graph.get(key).partitions_def is None
                 and (graph.get(key).group_name != "raw" or key.path[0] == "raw_checkins")]
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=selection,
                                    raise_on_error=False)

    outcome = RunOutcome(run_id=result.run_id, success=result.success, seconds=0.0)
    materialized: set[str] = set()
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            outcome.failed_steps.append((event.step_key or "?", message))
        elif event.is_step_skipped:
            outcome.skipped_steps.append(event.step_key or "?")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.blocking:
                outcome.failed_blocking_checks.append(
                    f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
        elif event.is_step_materialization:
            materialized.add(event.asset_key.to_user_string())
    Path(out).write_text(json.dumps({
        "success": result.success,
        "run_id": result.run_id,
        "exit_code": outcome.exit_code,
        "summary": outcome.summary(),
        "failed_steps": outcome.failed_steps,
        "failed_blocking_checks": outcome.failed_blocking_checks,
        "skipped_steps": outcome.skipped_steps,
        "materialized": sorted(materialized),
    }, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
