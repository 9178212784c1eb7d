"""The code location, built from settings: every asset, the nightly job, its schedule and sensor,
and the resources they are handed.

``build_definitions(settings)`` is the one place that turns settings into Dagster objects; the code
location module (``pipelines.definitions``) calls it with the environment's settings, tests call it
with their own (or pass their own ``resources``) — nothing is read at import, nothing is reloaded.
"""

from __future__ import annotations

import dagster as dg

from pipelines.orchestration.assets.dbt import build_dbt_assets, lake_bookkeeping_specs, load_manifest
from pipelines.orchestration.assets.extract import daily_partitions, extract_assets, source_system_specs
from pipelines.orchestration.assets.serving import publish_assets
from pipelines.orchestration.dbt_project import dbt_project, dbt_resource
from pipelines.orchestration.jobs import late_files_sensor, nightly_job, nightly_schedule
from pipelines.orchestration.progress import progress_logger
from pipelines.orchestration.resources import resources_from
from pipelines.settings import Settings


def build_definitions(settings: Settings,
                      resources: dict[str, dg.ConfigurableResource] | None = None) -> dg.Definitions:
    """The whole code location for ``settings``; ``resources`` replace the ones of the same name built from them."""
    project = dbt_project(settings.dbt_project_dir, settings.catalog_dir, settings.dbt_target_path,
                          settings.dbt_target)
    manifest = load_manifest(project)
    partitions = daily_partitions(settings.first_partition(), settings.timezone)
    dbt_build = build_dbt_assets(project, manifest)
    published = publish_assets(dbt_build)
    nightly = nightly_job()
    return dg.Definitions(
        assets=[*source_system_specs(), *extract_assets(partitions), *lake_bookkeeping_specs(manifest),
                dbt_build, *published],
        jobs=[nightly],
        schedules=[nightly_schedule(nightly, settings.schedule_cron, settings.timezone)],
        sensors=[late_files_sensor(nightly, [*dbt_build.keys, *(key for a in published for key in a.keys)])],
        resources={"dbt": dbt_resource(project), **resources_from(settings), **(resources or {})},
        loggers={"console": dg.colored_console_logger, "progress": progress_logger},
    )
