"""The raw lake on disk: partition paths, typed Arrow schemas, atomic writes, content hashes,
quarantine files and the load log (layout in docs/sources.md).

Every file a reader can see is complete: it is written to a hidden temporary name in the same
folder and renamed into place with ``os.replace``. A partition whose data columns hash to the
value stored in the existing file's metadata is left untouched (byte-identical).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from quality.contracts import Contract

META_COLUMNS = ("_loaded_at", "_source", "_batch_id", "_row_number")
#: Columns left out of the content hash: they change on every run even when the data does not.
UNHASHED_COLUMNS = ("_loaded_at", "_batch_id")
SHA_METADATA_KEY = b"kpi.content_sha256"
PART_NAME = "part-0.parquet"

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "flag": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

QUARANTINE_SCHEMA = pa.schema([
    ("_raw", pa.string()),
    ("_rule", pa.string()),
    ("_field", pa.string()),
    ("_value", pa.string()),
    ("_reason", pa.string()),
    ("_row_number", pa.int64()),
    ("_source", pa.string()),
    ("_batch_id", pa.string()),
    ("_loaded_at", pa.timestamp("us", tz="UTC")),
])

LOAD_LOG_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("table", pa.string()),
    ("partition_date", pa.date32()),
    ("status", pa.string()),
    ("rows_read", pa.int64()),
    ("rows_loaded", pa.int64()),
    ("rows_quarantined", pa.int64()),
    ("message", pa.string()),
    ("source_ref", pa.string()),
    ("batch_id", pa.string()),
    ("loaded_at", pa.timestamp("us", tz="UTC")),
    ("content_sha256", pa.string()),
    ("source_sha256", pa.string()),
])


def table_dir(lake_dir: Path, source: str, table: str, *, quarantine: bool = False) -> Path:
    """``lake/raw/<source>/<table>`` (or ``lake/quarantine/…``): the folder of a table's partitions."""
    return Path(lake_dir) / ("quarantine" if quarantine else "raw") / source / table


def partition_glob(lake_dir: Path, source: str, table: str, *, quarantine: bool = False) -> str:
    """A glob matching every partition file of a table (for DuckDB's ``read_parquet`` or ``Path.glob``)."""
    return str(table_dir(lake_dir, source, table, quarantine=quarantine) / "date=*" / PART_NAME)


def raw_table_files(lake_dir: Path, source: str, table: str) -> list[Path]:
    """Every raw partition file of a table, by date (what the reference checks read)."""
    return sorted(table_dir(lake_dir, source, table).glob(f"date=*/{PART_NAME}"))


def partition_day(path: Path) -> date:
    """The day of a partition file ``…/date=YYYY-MM-DD/part-0.parquet``."""
    return date.fromisoformat(Path(path).parent.name.removeprefix("date="))


def is_partition_file(path: Path) -> bool:
    """True for ``…/date=YYYY-MM-DD/…`` (not the ``date=unplaced`` quarantine store)."""
    try:
        partition_day(path)
    except ValueError:
        return False
    return True


#: The quarantine folder of rows that belong to no partition yet (a database row whose watermark
#: cannot be read or lies in the future): ``quarantine/<source>/<table>/date=unplaced/``.
UNPLACED = "unplaced"


#: Beside a partition's quarantine file: the rows of its latest load when that load was rejected as a
#: whole (read as far as possible), kept for the trust flag's scope; removed once the partition loads.
REJECTED_BATCH_NAME = "rejected-batch.parquet"


def rejected_batch_path(lake_dir: Path, source: str, table: str, day: date) -> Path:
    return table_dir(lake_dir, source, table, quarantine=True) / f"date={day.isoformat()}" / REJECTED_BATCH_NAME


def unplaced_path(lake_dir: Path, source: str, table: str) -> Path:
    return table_dir(lake_dir, source, table, quarantine=True) / f"date={UNPLACED}" / PART_NAME


def raw_partition_path(lake_dir: Path, source: str, table: str, day: date) -> Path:
    return table_dir(lake_dir, source, table) / f"date={day.isoformat()}" / PART_NAME


def quarantine_partition_path(lake_dir: Path, source: str, table: str, day: date) -> Path:
    return table_dir(lake_dir, source, table, quarantine=True) / f"date={day.isoformat()}" / PART_NAME


def load_log_path(lake_dir: Path, source: str, table: str, day: date | None, tag: str | None = None) -> Path:
    """``_meta/load_log/<source>/<table>/date=YYYY-MM-DD/log.parquet``.

    A workbook rejected before its partition date is known logs to ``date=unknown/log-<tag>.parquet``.
    """
    base = Path(lake_dir) / "_meta" / "load_log" / source / table
    if day is None:
        return base / "date=unknown" / f"log-{tag or 'unknown'}.parquet"
    return base / f"date={day.isoformat()}" / "log.parquet"


def load_log_batch_path(lake_dir: Path, source: str, table: str, batch_id: str, part: int) -> Path:
    """``_meta/load_log/<source>/<table>/batches/<batch>-<part>.parquet``: the log rows of several
    partitions extracted together (a chunk of a back-fill), one file for all of them."""
    stamp = batch_id.split(":", 1)[-1].replace(":", "-")
    return Path(lake_dir) / "_meta" / "load_log" / source / table / "batches" / f"{stamp}-{part:04d}.parquet"


def raw_schema(contract: Contract) -> pa.Schema:
    """The typed Arrow schema of a raw partition: contract columns, then the extractor's columns."""
    fields = [pa.field(c.name, _ARROW_TYPES[c.type]) for c in contract.columns]
    fields += [
        pa.field("_loaded_at", pa.timestamp("us", tz="UTC")),
        pa.field("_source", pa.string()),
        pa.field("_batch_id", pa.string()),
        pa.field("_row_number", pa.int64()),
    ]
    return pa.schema(fields)


def _arrow_column(series: pd.Series, type_: pa.DataType) -> pa.Array:
    if pa.types.is_date32(type_):
        values = pd.Series(series).astype("datetime64[us]")
        return pa.array(values, type=pa.timestamp("us"), from_pandas=True).cast(pa.date32())
    if pa.types.is_timestamp(type_):
        values = pd.Series(series)
        if getattr(values.dt, "tz", None) is None:
            values = values.dt.tz_localize("UTC")
        return pa.array(values.dt.tz_convert("UTC").astype("datetime64[us, UTC]"), type=type_, from_pandas=True)
    if pa.types.is_string(type_):
        values = pd.Series(series)
        if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
            return pa.array(values, from_pandas=True).cast(type_)
        values = values.astype("object")
        return pa.array(values.where(values.notna(), None), type=type_, from_pandas=True)
    return pa.array(series, type=type_, from_pandas=True)


def frame_to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` (columns named as in ``schema``) as an Arrow table of exactly ``schema``."""
    arrays = [_arrow_column(frame[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row over the data columns (not ``_loaded_at`` / ``_batch_id``).

    Row hashes do not depend on the other rows, so a batch is hashed once and each partition's
    content hash is built from its slice (see :func:`content_sha256`).
    """
    keep = [c for c in frame.columns if c not in UNHASHED_COLUMNS]
    if frame.empty:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_pandas_object(frame[keep], index=False).to_numpy(dtype=np.uint64)


def content_sha256(schema: pa.Schema, hashes: np.ndarray) -> str:
    """SHA-256 over the schema of the data columns and the partition's row hashes (in row order)."""
    digest = hashlib.sha256()
    data_schema = pa.schema([f for f in schema if f.name not in UNHASHED_COLUMNS])
    digest.update(str(data_schema).encode())
    digest.update(str(len(hashes)).encode())
    digest.update(np.ascontiguousarray(hashes, dtype=np.uint64).tobytes())
    return digest.hexdigest()


def stored_sha256(path: Path) -> str | None:
    """The content hash in an existing Parquet file's metadata (None if absent or unreadable)."""
    if not path.exists():
        return None
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    value = meta.get(SHA_METADATA_KEY)
    return value.decode() if value else None


def write_parquet_atomic(table: pa.Table, path: Path, sha256: str | None = None) -> bool:
    """Write ``table`` to ``path`` via a temporary file and ``os.replace``.

    With ``sha256``: store it in the file metadata, and leave the file untouched (return False)
    when the existing file already holds that hash. Returns True when the file was (re)written.
    """
    if sha256 is not None and stored_sha256(path) == sha256:
        return False
    if sha256 is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[SHA_METADATA_KEY] = sha256.encode()
        table = table.replace_schema_metadata(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return True


def remove_file(path: Path) -> None:
    if path.exists():
        path.unlink()


def read_load_log(lake_dir: Path, source: str | None = None, table: str | None = None) -> pd.DataFrame:
    """The load log (optionally of one source / table): one row per (source, table, partition), the
    latest attempt (a partition extracted again is logged again, possibly in another file).

    Rows of workbooks rejected before their partition date was known (``partition_date`` null) are
    kept one per source file."""
    base = Path(lake_dir) / "_meta" / "load_log"
    if source is not None:
        base = base / source
        if table is not None:
            base = base / table
    files = sorted(str(p) for p in base.glob("**/*.parquet")) if base.exists() else []
    if not files:
        return LOAD_LOG_SCHEMA.empty_table().to_pandas()
    frame = ds.dataset(files, format="parquet", schema=LOAD_LOG_SCHEMA).to_table().to_pandas()
    if frame.empty:
        return frame
    frame = frame.sort_values(["loaded_at", "batch_id"], kind="stable", na_position="first")
    undated = frame["partition_date"].isna()
    dated = frame[~undated].drop_duplicates(["source", "table", "partition_date"], keep="last")
    unknown = frame[undated].drop_duplicates(["source", "table", "source_ref"], keep="last")
    out = pd.concat([dated, unknown]) if len(unknown) else dated
    return out.sort_values(["source", "table", "partition_date"], kind="stable", na_position="last") \
        .reset_index(drop=True)


def read_partition(lake_dir: Path, source: str, table: str, day: date, *, quarantine: bool = False) -> pd.DataFrame:
    """One raw (or quarantine) partition as a data frame (empty frame when it does not exist)."""
    path = (quarantine_partition_path if quarantine else raw_partition_path)(lake_dir, source, table, day)
    if not path.exists():
        return pd.DataFrame()
    return pq.read_table(path).to_pandas()
