"""The asset graph as plain data, for the snapshot test (tests/ops/asset_graph_snapshot.json).

The snapshot holds every asset key with its group, every asset check with whether it blocks, and the
names of the jobs, schedules and sensors with their jobs — so that an accidental change (a model
renamed, a test dropped or turned into a warning, an asset moved to another layer) shows in review.

After an intended change, regenerate it and commit the diff with the change:

    .venv/bin/python -m tests.ops.asset_graph

(it loads ``pipelines.definitions`` with the dbt manifest in ``dbt_project/target`` — run
``.venv/bin/kpi prepare`` first if the dbt project or the KPI catalog changed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT_PATH = Path(__file__).with_name("asset_graph_snapshot.json")


def asset_graph_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {spec.key.to_user_string(): spec.group_name for spec in defs.resolve_all_asset_specs()}
    checks = {
        f"{key.asset_key.to_user_string()}:{key.name}": "blocking" if graph.get_check_spec(key).blocking else "warn"
        for key in graph.asset_check_keys
    }
    return {
        "assets": dict(sorted(assets.items())),
        "asset_checks": dict(sorted(checks.items())),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted(f"{s.name} -> {s.job_name}" for s in defs.schedules or []),
        "sensors": sorted(f"{s.name} -> {s.job_name}" for s in defs.sensors or []),
    }


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    from pipelines.definitions import defs

    SNAPSHOT_PATH.write_text(render(asset_graph_snapshot(defs)), encoding="utf-8")
    print(f"wrote {SNAPSHOT_PATH}")


if __name__ == "__main__":
    main()
