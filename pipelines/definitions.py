"""The Dagster code location: wiring only (`dagster dev -w workspace.yaml`)."""

import dagster as dg

from pipelines.assets import serving
from pipelines.assets.dbt import lake_bookkeeping_specs, warehouse_dbt_assets
from pipelines.assets.extract import daily_partitions, extract_assets, source_system_specs
from pipelines.dbt_project import dbt_resource
from pipelines.jobs import late_files_sensor, nightly_job, nightly_schedule
from pipelines.progress import progress_logger

_partitions = daily_partitions()
_nightly = nightly_job(_partitions)
_serving_assets = [serving.serving_duckdb, serving.serving_parquet, serving.serving_postgres,
                   serving.nightly_reports, serving.owner_alerts]

defs = dg.Definitions(
    assets=[*source_system_specs(), *extract_assets(), *lake_bookkeeping_specs(), warehouse_dbt_assets,
            *_serving_assets],
    jobs=[_nightly],
    schedules=[nightly_schedule(_nightly)],
    sensors=[late_files_sensor(_nightly, [*warehouse_dbt_assets.keys,
                                          *(a.key for a in _serving_assets)])],
    resources={"dbt": dbt_resource()},
    loggers={"console": dg.colored_console_logger, "progress": progress_logger},
)
