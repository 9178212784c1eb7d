"""Database tables (SQLite, PostgreSQL, any SQLAlchemy URL), watermarked by ``updated_at``.

Partition D holds the rows whose ``updated_at`` falls in the local day [D 00:00, D+1 00:00),
converted to UTC bounds. One query covers a whole run of consecutive dates (bound parameters,
validated identifiers); the result is streamed in chunks and split by local date in pandas.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pipelines.extract.readers.base import PartitionRead, empty_frame, rejected
from pipelines.extract.registry import SourceTable
from quality.contracts import Contract

FETCH_ROWS = 100_000
_SQLITE_TS = "%Y-%m-%d %H:%M:%S"


def database_label(url: str, fallback: str) -> str:
    """The database's name for ``_source`` (``erp.sqlite``, ``warehouse``): never the URL."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return fallback
    if not parsed.database:
        return fallback
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database).name
    return parsed.database


def redact(text: str, url: str) -> str:
    """``text`` without the URL or its password (SQLAlchemy/driver messages may quote either)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return text.replace(url, "<database>")
    text = text.replace(url, "<database>")
    text = text.replace(parsed.render_as_string(hide_password=False), "<database>")
    if parsed.password:
        text = text.replace(str(parsed.password), "***")
    return text


def utc_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The local day [D 00:00, D+1 00:00) as naive UTC datetimes."""
    tz = ZoneInfo(timezone)
    lo = datetime.combine(day, time(), tzinfo=tz).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    hi = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return lo, hi.replace(tzinfo=None)


def _local_days(updated: pd.Series, dates: Sequence[date], timezone: str, dialect: str) -> np.ndarray:
    """Index into ``dates`` (consecutive days) of each row's partition; -1 outside the window."""
    lows = [utc_bounds(d, timezone)[0] for d in dates]
    highs = [utc_bounds(d, timezone)[1] for d in dates]
    if pd.api.types.is_datetime64_any_dtype(updated.dtype):
        ts = updated if getattr(updated.dt, "tz", None) is None else \
            updated.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        ts = pd.to_datetime(updated, format="ISO8601", utc=True, errors="coerce").dt.tz_localize(None)
    ts_values = ts.astype("datetime64[us]").to_numpy()
    bounds = np.array(lows + [highs[-1]], dtype="datetime64[us]")
    idx = np.searchsorted(bounds, ts_values, side="right") - 1
    idx = np.where(np.isnat(ts_values) | (idx >= len(dates)), -1, idx)
    if dialect == "sqlite" and (bad := np.isnat(ts_values)).any():
        # unparseable text that SQLite still placed inside the window: place it the same way
        text_bounds = np.array([b.strftime(_SQLITE_TS) for b in lows + [highs[-1]]])
        texts = updated[bad].astype("str").to_numpy()
        idx[bad] = np.searchsorted(text_bounds, texts, side="right") - 1
        idx = np.where(idx >= len(dates), -1, idx)
    return idx


def _all_text(series: pd.Series) -> bool:
    """Every value is a ``str`` or ``None`` (checked in C; only the missing values in Python)."""
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        return False
    values = series.to_numpy(dtype=object)
    return all(v is None for v in values[pd.isna(values)])


def _chunk_frame(rows: Sequence[Sequence[object]], columns: list[str], contract: Contract) -> pd.DataFrame:
    """Rows → columns. Text columns become ``str``; others keep pandas' inference (int64 / float64
    when clean, object when a value of another type hides in them, for the contract to report)."""
    data: dict[str, pd.Series] = {}
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        series = pd.Series(values)
        if contract.column(name).type == "string" and series.dtype == object and _all_text(series):
            series = series.astype("str")
        data[name] = series
    return pd.DataFrame(data)


def _fetch_sqlite(conn: sa.Connection, stmt: sa.Select, params: dict[str, object], columns: list[str],
                  contract: Contract) -> list[pd.DataFrame]:
    """The statement's rows through the sqlite3 cursor itself: the same tuples (the columns are
    untyped, so SQLAlchemy processes no values), without building a Row object per row."""
    compiled = stmt.compile(dialect=conn.dialect)
    args = [params[name] for name in (compiled.positiontup or [])]
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        chunks = []
        while rows := cursor.fetchmany(FETCH_ROWS):
            chunks.append(_chunk_frame(rows, columns, contract))
    finally:
        cursor.close()
    return chunks


def read_database(
    table: SourceTable, dates: Sequence[date], url: str, timezone: str
) -> list[PartitionRead]:
    """Read consecutive ``dates`` of ``table`` with one query; one ``PartitionRead`` per date."""
    contract = table.contract
    dates = list(dates)
    label = database_label(url, table.database or table.source)
    ref = f"{table.table}@{label}"
    columns = list(contract.source_column_names)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.exec_driver_sql("SET TIME ZONE 'UTC'")
            try:
                present = [c["name"] for c in sa.inspect(conn).get_columns(table.table)]
            except sa.exc.NoSuchTableError:
                msg = f"{ref}: table {table.table!r} does not exist in database {label!r}"
                return [rejected(d, ref, msg) for d in dates]
            missing = [c for c in columns if c not in present]
            if missing:
                msg = f"{ref}: missing columns {', '.join(missing)} (rule: changed column set)"
                return [rejected(d, ref, msg) for d in dates]
            lo, _ = utc_bounds(dates[0], timezone)
            _, hi = utc_bounds(dates[-1], timezone)
            lo_param: object = lo.strftime(_SQLITE_TS) if dialect == "sqlite" else lo
            hi_param: object = hi.strftime(_SQLITE_TS) if dialect == "sqlite" else hi
            src = sa.table(table.table, *(sa.column(c) for c in columns))
            stmt = (
                sa.select(*(src.c[c] for c in columns))
                .where(src.c.updated_at >= sa.bindparam("lo"), src.c.updated_at < sa.bindparam("hi"))
                .order_by(src.c.updated_at, *(src.c[k] for k in contract.key))
            )
            params = {"lo": lo_param, "hi": hi_param}
            if dialect == "sqlite":
                chunks = _fetch_sqlite(conn, stmt, params, columns, contract)
            else:
                result = conn.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(stmt, params)
                chunks = [_chunk_frame(rows, columns, contract) for rows in result.partitions()]
            nulls = conn.execute(
                sa.select(sa.func.count()).select_from(src).where(src.c.updated_at.is_(None))
            ).scalar_one()
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
        detail = redact(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        msg = f"{ref}: query failed ({type(exc).__name__}: {detail})"
        return [rejected(d, ref, msg) for d in dates]
    finally:
        engine.dispose()

    frame = pd.concat(chunks, ignore_index=True) if chunks else empty_frame(contract)[columns]
    notes = []
    if nulls:
        notes.append(f"{nulls} row(s) of {ref} have no updated_at and cannot be assigned a partition")
    day_index = _local_days(frame["updated_at"], dates, timezone, dialect) if len(frame) else \
        np.zeros(0, dtype=np.int64)
    out: list[PartitionRead] = []
    groups = pd.Series(np.arange(len(frame))).groupby(day_index).indices if len(frame) else {}
    for i, day in enumerate(dates):
        positions = groups.get(i)
        if positions is None:
            part = empty_frame(contract)[columns].copy()
        elif positions[-1] - positions[0] + 1 == len(positions):
            # rows come ordered by updated_at, so a day's rows are one contiguous run
            part = frame.iloc[positions[0]:positions[-1] + 1].reset_index(drop=True)
        else:
            part = frame.iloc[positions].reset_index(drop=True)
        part["_row_number"] = np.arange(1, len(part) + 1, dtype=np.int64)
        out.append(PartitionRead(day=day, source_ref=ref, frame=part, notes=list(notes)))
    return out
