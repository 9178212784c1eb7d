"""Validate one source batch against its contract: types, GX suite, references, duplicate keys.

The batch is a data frame holding the contract's columns as delivered by the source (text, Python
objects or typed arrays) plus the extractor's ``_partition``, ``_row_number`` and ``_source``
columns. The result says, for every row that must be quarantined, the first rule it broke (in the
order type → GX suite → references → duplicate key) with the field, the offending value and a
human sentence; later rules the same row broke are listed in that sentence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quality.contracts.coerce import coerce_frame, value_text
from quality.contracts.model import Contract
from quality.contracts.references import ReferenceKeys
from quality.contracts.suites import FutureBound, build_specs, limit_column, run_specs

FAILURE_COLUMNS = ["row", "rule", "field", "value", "reason"]
_TYPE_PRIORITY = 0
_REFERENCE_PRIORITY = 20
_DUPLICATE_PRIORITY = 30


@dataclass
class ValidationOutcome:
    """``typed``: the contract columns with their contract types (same row order as the batch).

    ``failures``: one row per quarantined batch row: ``row`` (position in the batch), ``rule``,
    ``field``, ``value`` (source text), ``reason``. ``warnings``: checks that could not run.
    """

    typed: pd.DataFrame
    failures: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def failed_rows(self) -> np.ndarray:
        return self.failures["row"].to_numpy(dtype=np.int64)


def _string_array(series: pd.Series) -> pa.Array:
    """A key column as an Arrow string array (nulls kept), whatever its pandas dtype."""
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                          for v in series.tolist()], type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == pa.string() else array.cast(pa.string())


def _present(keys: pa.Array, values: pa.Array) -> pa.Array:
    """The ``keys`` that occur among ``values``. With far more keys than distinct values (the lake's
    orders against one batch of order lines), hashing the batch's values and probing the keys is
    several times cheaper than hashing every key of the lake again for each batch."""
    distinct = pc.unique(values.drop_null())
    if len(keys) <= 2 * len(distinct):
        return keys
    return keys.filter(pc.is_in(keys, value_set=distinct))


def _show(v: object) -> str:
    text = value_text(v)
    if text is None:
        return "null"
    if len(text) > 80:
        return repr(text[:77] + "...") + f" ({len(text)} characters)"
    return repr(text)


class _Failures:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, rows: np.ndarray, priority: int, rule: str, fieldname: str,
            values: list[str | None], reasons: list[str]) -> None:
        if len(rows) == 0:
            return
        self.parts.append(pd.DataFrame({
            "row": np.asarray(rows, dtype=np.int64), "priority": priority, "rule": rule,
            "field": fieldname, "value": pd.Series(values, dtype="object"),
            "reason": pd.Series(reasons, dtype="object"),
        }))

    def first_per_row(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "object")
                                 for c in FAILURE_COLUMNS})
        allf = pd.concat(self.parts, ignore_index=True)
        allf["order"] = np.arange(len(allf))
        allf = allf.sort_values(["row", "priority", "order"], kind="stable")
        first = allf.drop_duplicates("row", keep="first").copy()
        extra = allf[allf.duplicated("row", keep="first")]
        if not extra.empty:
            also = extra.groupby("row")["rule"].agg(lambda r: ", ".join(dict.fromkeys(r)))
            has = first["row"].isin(also.index)
            first.loc[has, "reason"] = [
                f"{reason} (also broke: {also[row]})"
                for reason, row in zip(first.loc[has, "reason"], first.loc[has, "row"], strict=True)
            ]
        return first[FAILURE_COLUMNS].reset_index(drop=True)


def _partition_days(frame: pd.DataFrame, run_date: dt.date | None) -> pd.Series:
    """Each row's own partition day: the ``_partition_day`` column the extractor adds, else
    ``run_date`` for every row (a batch checked outside the extractor)."""
    if "_partition_day" in frame.columns:
        days = pd.to_datetime(frame["_partition_day"])
        if run_date is not None:
            days = days.fillna(pd.Timestamp(run_date))
        return days.reset_index(drop=True)
    if run_date is None:
        raise ValueError("validate_batch needs the rows' partition days (_partition_day) or a run_date")
    return pd.Series(pd.Timestamp(run_date), index=pd.RangeIndex(len(frame)), dtype="datetime64[us]")


def validate_batch(
    contract: Contract,
    frame: pd.DataFrame,
    *,
    timezone: str,
    run_date: dt.date | None = None,
    future_tolerance_days: int = 1,
    references: ReferenceKeys | None = None,
) -> ValidationOutcome:
    """Check every row of ``frame`` against ``contract`` (see the module docstring).

    Dates that must not lie in the future are compared with each row's own partition day (column
    ``_partition_day``; ``run_date`` stands in for rows without one), never with the day the check
    runs, so the same row is judged alike whichever run extracts it."""
    frame = frame.reset_index(drop=True)
    missing = [c for c in contract.column_names if c not in frame.columns]
    if missing:
        raise KeyError(f"{contract.name}: batch lacks contract columns {missing}")
    typed, type_failures = coerce_frame(contract, frame, timezone)
    failures = _Failures()
    for tf in type_failures:
        shown = [_show(v) for v in tf.values]
        failures.add(tf.rows, _TYPE_PRIORITY, "type", tf.field, [value_text(v) for v in tf.values],
                     [f"{tf.reason}; got {s}" for s in shown])
    _suite_failures(contract, frame, typed, failures, FutureBound(future_tolerance_days, timezone), run_date)
    warnings = _reference_failures(contract, typed, failures, references or ReferenceKeys())
    _duplicate_failures(contract, frame, typed, failures)
    return ValidationOutcome(typed=typed, failures=failures.first_per_row(), warnings=warnings)


def _suite_failures(contract: Contract, frame: pd.DataFrame, typed: pd.DataFrame, failures: _Failures,
                    bound: FutureBound, run_date: dt.date | None) -> None:
    """The contract's GX suite on the typed batch (future dates against each row's partition day)."""
    source = frame[list(contract.column_names)]
    specs = build_specs(contract, bound)
    checked = typed
    future_columns = [c for c in contract.columns if c.not_future and c.type in ("date", "timestamp")]
    if future_columns:
        days = _partition_days(frame, run_date)
        checked = typed.assign(**{limit_column(c.name): bound.limits(c, days) for c in future_columns})
    for sf in run_specs(contract, checked, specs):
        rows = np.asarray(sf.rows, dtype=np.int64)
        if len(sf.spec.columns) == 2:
            a, b = sf.spec.columns
            va = source[a].iloc[rows].tolist()
            vb = source[b].iloc[rows].tolist()
            values = [f"{a}={value_text(x)}, {b}={value_text(y)}" for x, y in zip(va, vb, strict=True)]
            reasons = [f"{sf.spec.description}; got {v}" for v in values]
        else:
            raw = source[sf.spec.field].iloc[rows].tolist()
            values = [value_text(v) for v in raw]
            reasons = [f"{sf.spec.description}; got {_show(v)}" for v in raw]
        failures.add(rows, sf.spec.priority, sf.spec.rule, sf.spec.field, values, reasons)


def _reference_failures(contract: Contract, typed: pd.DataFrame, failures: _Failures,
                        keys: ReferenceKeys) -> list[str]:
    """Orphan references (against the lake's keys and the batch itself); warnings for checks that
    could not run because the referenced table was never extracted."""
    warnings: list[str] = []
    for col_spec, ref in contract.references:
        column = col_spec.name
        col = typed[column]
        lake = keys.lake_keys(ref)
        same_table = (ref.source, ref.table) == (contract.source, contract.table)
        if lake is None and not same_table:
            warnings.append(f"reference check {column} → {ref.qualified} skipped: "
                            f"{ref.source}.{ref.table} has not been extracted into the lake yet")
            continue
        # hash look-ups in Arrow (pandas' isin on a str column boxes every key in Python first)
        values = _string_array(col)
        known = [_present(lake.cast(pa.string()), values)] if lake is not None else []
        if same_table:
            known.append(pc.unique(_string_array(typed[ref.column]).drop_null()))
        value_set = pa.concat_arrays(known) if known else pa.array([], type=pa.string())
        found = pc.is_in(values, value_set=value_set, skip_nulls=True).fill_null(False)
        bad = col.notna().to_numpy(dtype=bool) & ~found.to_numpy(zero_copy_only=False)
        if bad.any():
            rows = np.flatnonzero(bad)
            vals = col.iloc[rows].tolist()
            failures.add(rows, _REFERENCE_PRIORITY, f"reference({column})", column, vals,
                         [f"{column} {v!r} not found in {ref.qualified} (orphan reference)" for v in vals])
    return warnings


def _duplicate_failures(contract: Contract, frame: pd.DataFrame, typed: pd.DataFrame, failures: _Failures) -> None:
    """A key seen twice in one partition (among rows no other rule rejected): the first is kept."""
    failed_so_far = np.zeros(len(frame), dtype=bool)
    for part in failures.parts:
        failed_so_far[part["row"].to_numpy()] = True
    key = list(contract.key)
    candidates = ~failed_so_far & typed[key].notna().all(axis=1).to_numpy(dtype=bool)
    if not candidates.any():
        return
    group = typed.loc[candidates, key].copy()
    group["_partition"] = frame.loc[candidates, "_partition"].to_numpy() if "_partition" in frame else 0
    group["_first_row"] = frame.loc[candidates, "_row_number"].to_numpy() if "_row_number" in frame \
        else np.flatnonzero(candidates) + 1
    dup = group.duplicated(key + ["_partition"], keep="first").to_numpy(dtype=bool)
    if not dup.any():
        return
    first_rows = group.groupby(key + ["_partition"], sort=False, dropna=False)["_first_row"] \
        .transform("first").to_numpy()[dup]
    rows = np.flatnonzero(candidates)[dup]
    key_text = [
        "|".join(value_text(v) or "" for v in vals)
        for vals in typed.loc[rows, key].itertuples(index=False, name=None)
    ]
    src = frame["_source"].iloc[rows].tolist() if "_source" in frame else [contract.name] * len(rows)
    failures.add(rows, _DUPLICATE_PRIORITY, "duplicate_key", ",".join(key), key_text,
                 [f"duplicate key {','.join(key)}={k!r} in {s}: first seen at row {int(f)}, "
                  "which is kept" for k, s, f in zip(key_text, src, first_rows, strict=True)])
