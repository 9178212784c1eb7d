"""Serving copies of the public marts (pure Python, no Dagster import).

- :func:`publish_duckdb` — ``serving/kpi.duckdb``: a link to the night's own file, switched atomically,
  last N nights kept; :func:`rollback` points it at a kept night again.
- :func:`export_parquet` — ``serving/parquet/<mart>/part-0.parquet``: a link to the night's folder,
  switched atomically (all marts at once).
- :func:`publish_postgres` — schema ``marts`` in PostgreSQL, replaced in one transaction, with a
  read-only role that sees only the marts.

Person-level columns are masked in every serving copy unless the caller allows names; URLs with
passwords are masked in every message (:func:`mask_url`).
"""

from pipelines.publish._common import PublishError, PublishResult, mask_url
from pipelines.publish.masking import DEFAULT_PERSON_COLUMNS
from pipelines.publish.parquet import export_parquet
from pipelines.publish.postgres import SCALAR_TYPES, pg_column, publish_postgres
from pipelines.publish.serving import (
    SERVING_FILE,
    current_night,
    current_run_id,
    publish_duckdb,
    published_copies,
    resolve_night,
    rollback,
)

__all__ = [
    "DEFAULT_PERSON_COLUMNS",
    "SCALAR_TYPES",
    "SERVING_FILE",
    "current_night",
    "current_run_id",
    "PublishError",
    "PublishResult",
    "export_parquet",
    "mask_url",
    "pg_column",
    "publish_duckdb",
    "publish_postgres",
    "published_copies",
    "resolve_night",
    "rollback",
]
