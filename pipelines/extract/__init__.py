"""Extraction engine: source systems → raw lake / quarantine / load log (pure Python, no Dagster).

The Dagster assets and the CLI call :func:`extract_partitions` (daily tables) and
:func:`extract_unpartitioned` (finance workbooks) with an :class:`ExtractConfig` built from settings.
"""

from pipelines.extract.lake import (
    LOAD_LOG_SCHEMA,
    QUARANTINE_SCHEMA,
    load_log_path,
    quarantine_partition_path,
    raw_partition_path,
    raw_schema,
    read_load_log,
    read_partition,
)
from pipelines.extract.registry import SOURCE_TABLES, SourceTable, get_source_table, landing_dates
from pipelines.extract.run import (
    ExtractConfig,
    LoadResult,
    extract_all,
    extract_partitions,
    extract_table,
    extract_unpartitioned,
)

__all__ = [
    "LOAD_LOG_SCHEMA",
    "QUARANTINE_SCHEMA",
    "SOURCE_TABLES",
    "ExtractConfig",
    "LoadResult",
    "SourceTable",
    "extract_all",
    "extract_partitions",
    "extract_table",
    "extract_unpartitioned",
    "get_source_table",
    "landing_dates",
    "load_log_path",
    "quarantine_partition_path",
    "raw_partition_path",
    "raw_schema",
    "read_load_log",
    "read_partition",
]
