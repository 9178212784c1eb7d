"""Readers per source kind; each returns ``PartitionRead`` objects (see ``base``)."""

from pipelines.extract.readers.base import ParseFailure, PartitionRead
from pipelines.extract.readers.database import (
    IrregularRows,
    database_label,
    read_database,
    read_irregular,
    redact,
    utc_bounds,
)
from pipelines.extract.readers.files import read_csv, read_jsonl, read_landing_file, read_parquet_file
from pipelines.extract.readers.workbook import read_workbook, read_workbooks

__all__ = [
    "IrregularRows",
    "ParseFailure",
    "PartitionRead",
    "database_label",
    "read_csv",
    "read_database",
    "read_irregular",
    "read_jsonl",
    "read_landing_file",
    "read_parquet_file",
    "read_workbook",
    "read_workbooks",
    "redact",
    "utc_bounds",
]
