"""Vectorised type coercion of a source batch to the contract's types (before any GX check).

Values arrive as text (CSV, SQLite), native Python objects (JSON, XLSX, PostgreSQL) or typed
arrays (Parquet). Each column becomes one pandas dtype:

=============  =========================  ==============================
contract type  pandas dtype               raw Parquet type
=============  =========================  ==============================
string         ``str``                    ``string``
int, flag      ``Int64``                  ``int64``
float          ``float64`` (NaN = null)   ``double``
date           ``datetime64[us]``         ``date32``
timestamp      ``datetime64[us, UTC]``    ``timestamp[us, tz=UTC]``
=============  =========================  ==============================

A value that is present but cannot be coerced is a ``type`` failure; the row is quarantined and
its typed value is null.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quality.contracts.model import Column, Contract, TimestampMode

_OFFSET_RE = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"
_TYPE_NAMES = {
    "string": "text",
    "int": "an integer",
    "flag": "an integer flag (0 or 1)",
    "float": "a number",
    "date": "a date (YYYY-MM-DD)",
}
_TS_NAMES: dict[TimestampMode, str] = {
    "utc": "a timestamp (UTC)",
    "local": "a local timestamp (YYYY-MM-DD HH:MM:SS)",
    "offset": "an ISO 8601 timestamp with a UTC offset",
}
_INT_LIMIT = 2.0**63


@dataclass(frozen=True)
class TypeFailures:
    """Rows (positions) whose value in ``field`` could not be coerced."""

    field: str
    rows: np.ndarray
    values: list[object]
    reason: str


def expected_type(column: Column, mode: TimestampMode = "utc") -> str:
    if column.type == "timestamp":
        return _TS_NAMES[mode]
    return _TYPE_NAMES[column.type]


def _present(s: pd.Series) -> np.ndarray:
    """True where a value is present: not null and, for text, not blank."""
    present = s.notna().to_numpy(dtype=bool, copy=True)
    if s.dtype == object:
        blank = np.fromiter((isinstance(v, str) and not v.strip() for v in s.to_numpy(dtype=object)),
                            dtype=bool, count=len(s))
        present = present & ~blank
    elif pd.api.types.is_string_dtype(s.dtype):
        present = present & ~s.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
    return present


def _object_kinds(s: pd.Series) -> pd.Series:
    return s.map(lambda v: type(v).__name__, na_action="ignore")


def _to_numeric(s: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Numbers as float64 (or int64 when already integer); ``bad`` marks present non-numbers."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(np.nan, index=s.index), present.copy()
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = s.astype("float64") if not pd.api.types.is_integer_dtype(s.dtype) else s
    else:
        values = s
        if s.dtype == object:
            kinds = _object_kinds(s)
            # JSON true/false, nested objects and lists are not numbers, even if pandas could cast them.
            not_scalar = kinds.isin(["bool", "dict", "list"]).to_numpy()
            if not_scalar.any():
                values = s.mask(not_scalar)
            if kinds.eq("Decimal").any():
                values = values.map(lambda v: float(v) if isinstance(v, decimal.Decimal) else v)
        else:
            not_scalar = np.zeros(len(s), dtype=bool)
        num = pd.to_numeric(values.where(present), errors="coerce")
        num = num.astype("float64") if not pd.api.types.is_integer_dtype(num.dtype) else num
        bad = present & (num.isna().to_numpy() | not_scalar)
        return num, bad
    return num, present & num.isna().to_numpy()


def _coerce_int(s: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    num, bad = _to_numeric(s, present)
    if pd.api.types.is_integer_dtype(num.dtype):
        return num.astype("Int64"), bad
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = bad | (present & ~(np.isfinite(arr) & (np.mod(arr, 1) == 0) & (np.abs(arr) < _INT_LIMIT)))
    arr = np.where(bad | ~present, np.nan, arr)
    return pd.Series(arr, index=s.index).astype("Int64"), bad


def _coerce_float(s: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    num, bad = _to_numeric(s, present)
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    bad = bad | (present & ~np.isfinite(arr))
    return pd.Series(np.where(bad | ~present, np.nan, arr), index=s.index, dtype="float64"), bad


def _text_of(v: object) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int | decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return None  # dict, list, bytes: not text


def _coerce_string(s: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return s.astype("str"), np.zeros(len(s), dtype=bool)
    if s.dtype != object:
        # numbers or datetimes delivered where text is expected: their text form is the value
        out = s.map(_text_of, na_action="ignore")
        return out.astype("str"), np.zeros(len(s), dtype=bool)
    texts = s.map(_text_of, na_action="ignore")
    bad = (s.notna() & texts.isna()).to_numpy()
    return texts.astype("str"), bad


def _naive_datetimes(values: pd.Series, fmt: str | None) -> pd.Series:
    """Parse strings (with ``fmt``) or date/datetime objects into naive datetime64[us]."""
    if values.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    if fmt is not None:
        out = pd.to_datetime(values, format=fmt, errors="coerce")
    else:
        out = pd.to_datetime(values, errors="coerce")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[us]")


def _split_strings(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Masks: elements that are str, and elements that are other (non-null) objects."""
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        is_str = s.notna().to_numpy()
        return is_str, np.zeros(len(s), dtype=bool)
    is_str = np.fromiter((isinstance(v, str) for v in s.to_numpy(dtype=object)), dtype=bool, count=len(s))
    return is_str, s.notna().to_numpy() & ~is_str


def _coerce_date(s: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s
        if getattr(s.dt, "tz", None) is not None:
            out = s.dt.tz_convert("UTC").dt.tz_localize(None)
        out = out.astype("datetime64[us]").dt.normalize()
        return out, present & out.isna().to_numpy()
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    is_str, is_obj = _split_strings(s)
    is_str = is_str & present
    if is_str.any():
        out[is_str] = _naive_datetimes(s[is_str].astype("str").str.strip(), "%Y-%m-%d")
    if is_obj.any():
        objs = s[is_obj]
        ok = objs.map(lambda v: isinstance(v, dt.date | pd.Timestamp | np.datetime64))
        out[is_obj] = _naive_datetimes(objs.where(ok), None).dt.normalize()
    return out, present & out.isna().to_numpy()


def _coerce_timestamp(
    s: pd.Series, present: np.ndarray, mode: TimestampMode, timezone: str
) -> tuple[pd.Series, np.ndarray]:
    utc = "datetime64[us, UTC]"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is None:
            s = s.dt.tz_localize(timezone if mode == "local" else "UTC", ambiguous="NaT",
                                 nonexistent="shift_forward")
        out = s.dt.tz_convert("UTC").astype(utc)
        return out, present & out.isna().to_numpy()
    out = pd.Series(pd.NaT, index=s.index, dtype=utc)
    is_str, is_obj = _split_strings(s)
    is_str = is_str & present
    if is_str.any():
        text = s[is_str].astype("str").str.strip()
        if mode == "local":
            naive = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
            local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
            out[is_str] = local.dt.tz_convert("UTC").astype(utc)
        else:
            parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").astype(utc)
            if mode == "offset":
                has_offset = text.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
                parsed = parsed.where(has_offset)
            out[is_str] = parsed
    if is_obj.any():
        objs = s[is_obj]
        ok = objs.map(lambda v: isinstance(v, dt.datetime | pd.Timestamp))
        aware = objs.map(lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None)
        naive_part = objs.where(ok & ~aware)
        aware_part = objs.where(ok & aware)
        conv = pd.Series(pd.NaT, index=objs.index, dtype=utc)
        if (ok & ~aware).any():
            n = pd.to_datetime(naive_part, errors="coerce")
            n = n.dt.tz_localize(timezone if mode == "local" else "UTC", ambiguous="NaT",
                                 nonexistent="shift_forward")
            conv = conv.where(~(ok & ~aware), n.dt.tz_convert("UTC").astype(utc))
        if (ok & aware).any():
            a = pd.to_datetime(aware_part, utc=True, errors="coerce").astype(utc)
            conv = conv.where(~(ok & aware), a)
        out[is_obj] = conv
    return out, present & out.isna().to_numpy()


def coerce_column(
    column: Column, s: pd.Series, mode: TimestampMode = "utc", timezone: str = "UTC"
) -> tuple[pd.Series, np.ndarray]:
    """The typed column and a boolean mask of present values that failed coercion."""
    s = s.reset_index(drop=True)
    present = _present(s)
    if column.type == "string":
        return _coerce_string(s, present)
    if column.type in ("int", "flag"):
        return _coerce_int(s, present)
    if column.type == "float":
        return _coerce_float(s, present)
    if column.type == "date":
        return _coerce_date(s, present)
    return _coerce_timestamp(s, present, mode, timezone)


def normalise_keys(values: pd.Series) -> pd.Series:
    """Identifiers as one spelling: Unicode NFKC (full-width ``Ｔ１２３`` → ``T123``) and no leading or
    trailing whitespace (``'T123 '`` is ``T123``); an identifier that is only blanks becomes null."""
    if values.empty:
        return values
    out = values.str.normalize("NFKC").str.strip()
    return out.mask(out.eq("").fillna(False))


def key_columns(contract: Contract) -> set[str]:
    """The columns holding identifiers: the key and every reference to another table's key."""
    return set(contract.key) | {c.name for c, _ in contract.references}


def coerce_frame(
    contract: Contract, frame: pd.DataFrame, timezone: str
) -> tuple[pd.DataFrame, list[TypeFailures]]:
    """Every contract column of ``frame`` typed; the failures per column (positions into ``frame``).

    Identifier columns (keys, references) are normalised (``normalise_keys``), so the same id
    written with a trailing blank or in full-width characters is one id, not two."""
    typed: dict[str, pd.Series] = {}
    failures: list[TypeFailures] = []
    ids = key_columns(contract)
    for column in contract.columns:
        source = frame[column.name].reset_index(drop=True)
        values, bad = coerce_column(column, source, contract.timestamp_mode, timezone)
        if column.name in ids and column.type == "string":
            values = normalise_keys(values)
        typed[column.name] = values.reset_index(drop=True)
        if bad.any():
            rows = np.flatnonzero(bad)
            failures.append(
                TypeFailures(
                    field=column.name,
                    rows=rows,
                    values=source.iloc[rows].tolist(),
                    reason=f"{column.name} must be {expected_type(column, contract.timestamp_mode)}",
                )
            )
    return pd.DataFrame(typed, index=pd.RangeIndex(len(frame))), failures


def value_text(v: object) -> str | None:
    """A source value as text, for ``_value`` and ``_raw`` (None stays None)."""
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    text = _text_of(v)
    if text is not None:
        return text
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.generic):
        return str(v.item())
    try:
        return json.dumps(v, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(v)


__all__ = ["TypeFailures", "coerce_column", "coerce_frame", "expected_type", "value_text"]
