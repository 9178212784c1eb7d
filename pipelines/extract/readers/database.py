"""Database tables (SQLite, PostgreSQL, any SQLAlchemy URL), watermarked by ``updated_at``.

Partition D holds the rows whose ``updated_at`` falls in the local day [D 00:00, D+1 00:00),
converted to UTC bounds. One query covers a whole run of consecutive dates (bound parameters,
validated identifiers); the result is streamed in chunks and split by local date in pandas.

Rows a day window cannot find are looked for on their own (``read_irregular``), so that none is
lost: in SQLite, whose timestamps are text, a watermark not written ``YYYY-MM-DD HH:MM:SS``
(``2024-07-24T12:00:00``, ``…+08:00``, ``2024/07/24 …``, a number) compares wrongly with the window's
bounds; in any database, a watermark after today (a clock error: 2031) falls in no
window the run reads. Irregular rows that can be read are placed on the local day of their
watermark like any other row; the others (unreadable, or in the future) are quarantined apart,
in the table's ``unplaced`` store, until the source corrects them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


_DATE_SEPARATORS = r"^\s*(\d{4})[/.](\d{1,2})[/.](\d{1,2})"


def parse_watermarks(values: pd.Series) -> pd.Series:
    """Timestamps in any ISO 8601 or common text form as naive UTC ``datetime64[us]`` (NaT when the
    value cannot be read): naive text is UTC, an offset or ``Z`` is honoured, and ``2024/07/24``
    or ``2024.07.24`` dates are read like ``2024-07-24``."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values if getattr(values.dt, "tz", None) is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[us]")
    text = values.map(lambda v: v if isinstance(v, str) else None, na_action="ignore").astype("str")
    parsed = pd.to_datetime(text.str.strip(), format="ISO8601", utc=True, errors="coerce")
    retry = parsed.isna() & text.notna()
    if retry.any():
        fixed = text[retry].str.strip().str.replace(
            _DATE_SEPARATORS, lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", regex=True)
        parsed[retry] = pd.to_datetime(fixed, format="ISO8601", utc=True, errors="coerce")
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def local_days(updated_utc: pd.Series, timezone: str) -> pd.Series:
    """The local business day of naive UTC timestamps (``datetime64[us]`` at midnight, NaT kept)."""
    return updated_utc.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def _local_days(updated: pd.Series, dates: Sequence[date], timezone: str) -> np.ndarray:
    """Index into ``dates`` (consecutive days) of each row's partition; -1 outside them."""
    days = local_days(parse_watermarks(updated), timezone).to_numpy(dtype="datetime64[D]")
    first = np.datetime64(dates[0], "D")
    idx = (days - first).astype("int64")
    return np.where(np.isnat(days) | (idx < 0) | (idx >= len(dates)), -1, idx)


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
    values = {**compiled.params, **params}
    args = [values[name] for name in (compiled.positiontup or [])]
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        chunks = []
        while rows := cursor.fetchmany(FETCH_ROWS):
            chunks.append(_chunk_frame(rows, columns, contract))
    finally:
        cursor.close()
    return chunks



_P19 = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"


def _canonical(column: sa.ColumnElement, dialect: str) -> sa.ColumnElement[bool] | None:
    """SQLite only (timestamps are text there): the watermark is written ``YYYY-MM-DD HH:MM:SS`` with
    optional fractional seconds, so comparing its text with a window's bounds is comparing times."""
    if dialect != "sqlite":
        return None
    glob = column.op("GLOB")
    fraction = sa.func.substr(column, 21)
    return sa.or_(
        sa.and_(sa.func.length(column) == 19, glob(_P19)),
        sa.and_(glob(_P19 + ".[0-9]*"), sa.not_(fraction.op("GLOB")("*[^0-9]*"))),
    )


def _bound(value: datetime, dialect: str) -> object:
    return value.strftime(_SQLITE_TS) if dialect == "sqlite" else value


@dataclass
class IrregularRows:
    """Rows of a table that no day window of a run finds by itself (see the module docstring).

    ``placed``: per day of the run, the irregular rows whose watermark reads as that local day.
    ``unplaced``: rows (source values) that belong to no partition yet, with ``_problem`` (why).
    ``elsewhere``: irregular rows of days this run does not extract (their own runs place them).
    ``fetched``: rows the source's irregular query returned (= the three together)."""

    placed: dict[date, pd.DataFrame] = field(default_factory=dict)
    unplaced: pd.DataFrame | None = None
    elsewhere: int = 0
    fetched: int = 0
    rejection: str | None = None


def _open(url: str) -> sa.Engine:
    return sa.create_engine(url)


def _prepare(conn: sa.Connection, table: SourceTable, ref: str, label: str) -> str | None:
    """Session set-up and the column check: a rejection message, or None."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
    try:
        present = [c["name"] for c in sa.inspect(conn).get_columns(table.table)]
    except sa.exc.NoSuchTableError:
        return f"{ref}: table {table.table!r} does not exist in database {label!r}"
    missing = [c for c in table.contract.source_column_names if c not in present]
    if missing:
        return f"{ref}: missing columns {', '.join(missing)} (rule: changed column set)"
    return None


def _fetch(conn: sa.Connection, stmt: sa.Select, params: dict[str, object], columns: list[str],
           contract: Contract) -> pd.DataFrame:
    if conn.dialect.name == "sqlite":
        chunks = _fetch_sqlite(conn, stmt, params, columns, contract)
    else:
        result = conn.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(stmt, params)
        chunks = [_chunk_frame(rows, columns, contract) for rows in result.partitions()]
    return pd.concat(chunks, ignore_index=True) if chunks else empty_frame(contract)[columns]


def _count(conn: sa.Connection, src: sa.TableClause, where: sa.ColumnElement[bool],
           params: dict[str, object]) -> int:
    """The source's own count of the rows a query selects (not the reader's bookkeeping)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(src).where(where), params).scalar_one())


@dataclass
class _Query:
    """One counted query of a table: its rows, or why it could not be run."""

    ref: str
    frame: pd.DataFrame | None = None
    problem: str | None = None


def _counted_query(table: SourceTable, url: str, where_of: Callable[[sa.ColumnElement, str], tuple[
        sa.ColumnElement[bool], dict[str, object], tuple[sa.ColumnElement, ...]]], what: str) -> _Query:
    """Rows of ``table`` selected by ``where_of(updated_at column, dialect)`` → (condition, bound
    parameters, order), checked against the source's own count of the same condition."""
    contract = table.contract
    label = database_label(url, table.database or table.source)
    ref = f"{table.table}@{label}"
    columns = list(contract.source_column_names)
    engine = _open(url)
    try:
        with engine.connect() as conn:
            problem = _prepare(conn, table, ref, label)
            if problem:
                return _Query(ref, problem=problem)
            src = sa.table(table.table, *(sa.column(c) for c in columns))
            where, params, order = where_of(src.c.updated_at, conn.dialect.name)
            order_by = [*order, *(src.c[k] for k in contract.key)]
            stmt = sa.select(*(src.c[c] for c in columns)).where(where).order_by(*order_by)
            frame = _fetch(conn, stmt, params, columns, contract)
            expected = _count(conn, src, where, params)
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
        detail = redact(str(getattr(exc, "orig", None) or exc).splitlines()[0], url)
        return _Query(ref, problem=f"{ref}: query failed ({type(exc).__name__}: {detail})")
    finally:
        engine.dispose()
    if len(frame) != expected:
        return _Query(ref, problem=f"{ref}: the source counts {expected} row(s) {what} but {len(frame)} were "
                                   "read (rule: conservation)")
    return _Query(ref, frame=frame)


def read_irregular(
    table: SourceTable, dates: Sequence[date], url: str, timezone: str, horizon: date
) -> IrregularRows:
    """The rows of ``table`` that the day windows of ``dates`` cannot find by themselves: a missing
    watermark, (SQLite) a watermark not in canonical text form, or one later than ``horizon`` (the
    wall-clock day plus the tolerance: a change cannot happen in the future). Readable ones of a day
    in ``dates`` are placed there."""
    _, limit = utc_bounds(horizon, timezone)

    def where_of(updated: sa.ColumnElement, dialect: str) -> tuple:
        conditions = [updated.is_(None), updated >= sa.bindparam("limit")]
        canonical = _canonical(updated, dialect)
        if canonical is not None:
            conditions.append(sa.not_(canonical))
        return sa.or_(*conditions), {"limit": _bound(limit, dialect)}, ()

    query = _counted_query(table, url, where_of, "with an irregular updated_at")
    if query.problem:
        return IrregularRows(rejection=query.problem)
    frame = query.frame
    assert frame is not None
    out = IrregularRows(fetched=len(frame))
    if frame.empty:
        return out
    stamps = parse_watermarks(frame["updated_at"])
    days = local_days(stamps, timezone)
    unreadable = stamps.isna().to_numpy()
    future = (days > pd.Timestamp(horizon)).fillna(False).to_numpy(dtype=bool)
    wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in dates])
    inside = days.isin(wanted).to_numpy(dtype=bool) & ~unreadable & ~future
    for day, part in frame[inside].groupby(days[inside].dt.date, sort=True):
        out.placed[day] = part.reset_index(drop=True)
    bad = unreadable | future
    if bad.any():
        text = frame.loc[bad, "updated_at"].map(lambda v: "null" if v is None or v is pd.NA else repr(str(v)))
        why = np.where(frame.loc[bad, "updated_at"].isna(), "has no updated_at",
                       np.where(unreadable[bad], "updated_at cannot be read as a timestamp",
                                f"updated_at is after {horizon} (local time; today + tolerance): in the future"))
        unplaced = frame[bad].reset_index(drop=True)
        unplaced["_problem"] = [f"{w}; got {t}" for w, t in zip(why, text, strict=True)]
        out.unplaced = unplaced
    out.elsewhere = int(len(frame) - inside.sum() - bad.sum())
    return out


def read_database(
    table: SourceTable, dates: Sequence[date], url: str, timezone: str,
    irregular: IrregularRows | None = None,
) -> list[PartitionRead]:
    """Read consecutive ``dates`` of ``table`` with one query; one ``PartitionRead`` per date.

    The irregular rows ``read_irregular`` placed on these days are added to their days. Every row
    the window query returns lands in a partition: the source's own count of the query is compared
    with the rows read, and a difference rejects the chunk instead of losing rows."""
    contract = table.contract
    dates = list(dates)
    columns = list(contract.source_column_names)
    lo, _ = utc_bounds(dates[0], timezone)
    _, hi = utc_bounds(dates[-1], timezone)

    def where_of(updated: sa.ColumnElement, dialect: str) -> tuple:
        where = sa.and_(updated >= sa.bindparam("lo"), updated < sa.bindparam("hi"))
        canonical = _canonical(updated, dialect)
        if canonical is not None:
            where = sa.and_(where, canonical)
        return where, {"lo": _bound(lo, dialect), "hi": _bound(hi, dialect)}, (updated,)

    query = _counted_query(table, url, where_of, f"updated {dates[0]} … {dates[-1]}")
    ref = query.ref
    if query.problem:
        return [rejected(d, ref, query.problem) for d in dates]
    frame = query.frame
    assert frame is not None
    day_index = _local_days(frame["updated_at"], dates, timezone) if len(frame) else np.zeros(0, dtype=np.int64)
    if (day_index < 0).any():
        lost = frame.loc[day_index < 0, "updated_at"].head(3).tolist()
        msg = (f"{ref}: {int((day_index < 0).sum())} row(s) returned for {dates[0]} … {dates[-1]} cannot be "
               f"placed on one of these days (updated_at e.g. {lost}) (rule: conservation)")
        return [rejected(d, ref, msg) for d in dates]
    out: list[PartitionRead] = []
    groups = pd.Series(np.arange(len(frame))).groupby(day_index).indices if len(frame) else {}
    extra = irregular.placed if irregular is not None else {}
    for i, day in enumerate(dates):
        positions = groups.get(i)
        if positions is None:
            part = empty_frame(contract)[columns].copy()
        elif positions[-1] - positions[0] + 1 == len(positions):
            # rows come ordered by updated_at, so a day's rows are one contiguous run
            part = frame.iloc[positions[0]:positions[-1] + 1].reset_index(drop=True)
        else:
            part = frame.iloc[positions].reset_index(drop=True)
        if day in extra:
            part = pd.concat([part, extra[day][columns]], ignore_index=True)
        part["_row_number"] = np.arange(1, len(part) + 1, dtype=np.int64)
        out.append(PartitionRead(day=day, source_ref=ref, frame=part))
    return out
