"""Row-level checks of a contract as a Great Expectations 1.x suite, validated on a pandas batch.

One suite per table (the future-date rule compares each row with its own partition day, through a
per-row limit column). Validation asks
for ``result_format=COMPLETE`` so that every unexpected row comes back with its index; those rows
become quarantine rows. The GX context is ephemeral, built once per process and reused: GX is slow
to import and initialise, so callers validate one concatenated batch per extraction call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quality.contracts.model import MIN_DATE, Column, Contract

#: Order in which failures are reported when a row breaks several rules (first one wins `_rule`).
_PRIORITY = {
    "expect_column_values_to_not_be_null": 1,
    "expect_column_values_to_be_in_set": 2,
    "expect_column_values_to_be_between": 3,
    "expect_column_values_to_match_regex": 4,
    "expect_column_value_lengths_to_be_between": 5,
    "expect_column_pair_values_a_to_be_greater_than_b": 6,
}

_CLASS_NAMES = {
    "expect_column_values_to_not_be_null": "ExpectColumnValuesToNotBeNull",
    "expect_column_values_to_be_in_set": "ExpectColumnValuesToBeInSet",
    "expect_column_values_to_be_between": "ExpectColumnValuesToBeBetween",
    "expect_column_values_to_match_regex": "ExpectColumnValuesToMatchRegex",
    "expect_column_value_lengths_to_be_between": "ExpectColumnValueLengthsToBeBetween",
    "expect_column_pair_values_a_to_be_greater_than_b": "ExpectColumnPairValuesAToBeGreaterThanB",
}


class ContractCheckError(RuntimeError):
    """A check could not run (a bug or an unsupported value), as opposed to a check that failed."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a contract: GX type, its arguments and the sentence that explains it."""

    expectation: str
    field: str
    kwargs: dict[str, Any]
    description: str
    columns: tuple[str, ...] = ()
    #: The rule's name when it is not ``<expectation>(<field>)``.
    name: str | None = None

    @property
    def rule(self) -> str:
        return self.name or f"{self.expectation}({self.field})"

    @property
    def priority(self) -> int:
        return 3 if self.name and self.name.startswith("not_future(") else _PRIORITY.get(self.expectation, 9)


@dataclass(frozen=True)
class FutureBound:
    """How far after its own partition day a date or timestamp of a row may lie.

    Every row is judged against the local day of ITS partition (the file's day, the day of the
    row's ``updated_at``), never against the day the extraction runs: a back-fill and single-day
    runs judge every row alike, so they build the same lake. A column allows ``tolerance_days``
    after the partition day, or its own ``future_days`` (a later status date such as a delivery).
    """

    tolerance_days: int
    timezone: str

    def days_for(self, column: Column) -> int:
        return self.tolerance_days if column.future_days is None else column.future_days

    def limits(self, column: Column, partition_days: pd.Series) -> pd.Series:
        """Per row, the first instant (UTC) or the day after the last date the column may hold, as
        epoch microseconds; a value must be strictly before it. Null where the day is unknown."""
        days = pd.to_datetime(partition_days).astype("datetime64[us]")
        last = days + pd.Timedelta(days=self.days_for(column) + 1)
        if column.type == "timestamp":
            last = last.dt.tz_localize(self.timezone, ambiguous="NaT", nonexistent="shift_forward") \
                .dt.tz_convert("UTC").dt.tz_localize(None)
        values = last.to_numpy(dtype="datetime64[us]")
        return pd.Series(pd.arrays.IntegerArray(values.view("int64").copy(), np.isnat(values)),
                         index=partition_days.index)

    def describe(self, column: Column) -> str:
        n = self.days_for(column)
        local = " (local time)" if column.type == "timestamp" else ""
        return (f"{column.name} must not be later than {n} day(s) after its partition day{local}: "
                "not in the future")


def limit_column(name: str) -> str:
    """The name of the per-row future limit of column ``name`` in the frame handed to GX."""
    return f"__future_limit__{name}"


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _between_spec(c: Column) -> ExpectationSpec | None:
    if c.type in ("int", "float") and (c.min is not None or c.max is not None):
        kwargs: dict[str, Any] = {"min_value": c.min, "max_value": c.max}
        if c.strict_min:
            kwargs["strict_min"] = True
        lo = "" if c.min is None else f"{'>' if c.strict_min else '≥'} {_fmt(c.min)}"
        hi = "" if c.max is None else f"≤ {_fmt(c.max)}"
        return ExpectationSpec("expect_column_values_to_be_between", c.name, kwargs,
                               f"{c.name} must be {' and '.join(p for p in (lo, hi) if p)}", (c.name,))
    if c.type in ("date", "timestamp"):
        # bounds are naive UTC; GX receives them as epoch microseconds (see _gx_value)
        return ExpectationSpec("expect_column_values_to_be_between", c.name,
                               {"min_value": pd.Timestamp(MIN_DATE), "max_value": None},
                               f"{c.name} must not be before {MIN_DATE}", (c.name,))
    return None


def _future_spec(c: Column, bound: FutureBound | None) -> ExpectationSpec | None:
    """``value < limit`` per row, the limit being the end of the allowed days after the row's own
    partition day (a column of the frame GX validates, see ``FutureBound.limits``)."""
    if not (c.not_future and c.type in ("date", "timestamp")):
        return None
    text = (bound.describe(c) if bound is not None
            else f"{c.name} must not be later than the tolerance after its partition day: not in the future")
    return ExpectationSpec(
        "expect_column_pair_values_a_to_be_greater_than_b", c.name,
        {"column_A": limit_column(c.name), "column_B": c.name, "or_equal": False,
         "ignore_row_if": "either_value_is_missing"},
        text, (c.name,), name=f"not_future({c.name})")


def build_specs(contract: Contract, bound: FutureBound | None = None) -> list[ExpectationSpec]:
    """The contract's row-level expectations (``bound=None`` describes the future rule symbolically)."""
    specs: list[ExpectationSpec] = []
    for c in contract.columns:
        if not c.nullable or c.name in contract.key:
            specs.append(ExpectationSpec("expect_column_values_to_not_be_null", c.name, {},
                                         f"{c.name} is required", (c.name,)))
        if c.allowed is not None:
            shown = ", ".join(str(v) for v in c.allowed)
            specs.append(ExpectationSpec("expect_column_values_to_be_in_set", c.name,
                                         {"value_set": list(c.allowed)},
                                         f"{c.name} must be one of {shown}", (c.name,)))
        between = _between_spec(c)
        if between is not None:
            specs.append(between)
        future = _future_spec(c, bound)
        if future is not None:
            specs.append(future)
        if c.regex is not None:
            specs.append(ExpectationSpec("expect_column_values_to_match_regex", c.name, {"regex": c.regex},
                                         f"{c.name} must match {c.regex}", (c.name,)))
        if c.text_limit is not None:
            specs.append(ExpectationSpec("expect_column_value_lengths_to_be_between", c.name,
                                         {"min_value": None, "max_value": c.text_limit},
                                         f"{c.name} must be at most {c.text_limit} characters long",
                                         (c.name,)))
    for p in contract.pairs:
        op = "≥" if p.or_equal else ">"
        specs.append(ExpectationSpec(
            "expect_column_pair_values_a_to_be_greater_than_b", f"{p.column_a},{p.column_b}",
            {"column_A": p.column_a, "column_B": p.column_b, "or_equal": p.or_equal,
             "ignore_row_if": "either_value_is_missing"},
            f"{p.column_a} must be {op} {p.column_b} ({p.description})", (p.column_a, p.column_b)))
    return specs


@dataclass
class _GX:
    lock: threading.Lock = field(default_factory=threading.Lock)
    batch_definition: Any = None
    module: Any = None


_STATE = _GX()


def _batch_definition() -> Any:
    """The cached ephemeral GX context's whole-dataframe batch definition (built on first use)."""
    if _STATE.batch_definition is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        )
        # GX fingerprints every pandas batch smaller than HASH_THRESHOLD bytes by hashing all of
        # its cells, twice per validation (about 40 % of a validation's time); the fingerprint only
        # names the batch, which nothing here reads. Treat every batch as one too large to hash.
        from great_expectations.execution_engine import pandas_execution_engine

        pandas_execution_engine.HASH_THRESHOLD = 0
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas("source_contracts").add_dataframe_asset("batch")
        _STATE.batch_definition = asset.add_batch_definition_whole_dataframe("whole_batch")
        _STATE.module = gx
    return _STATE.batch_definition


def build_suite(contract: Contract, specs: list[ExpectationSpec]) -> Any:
    """A GX ``ExpectationSuite`` for ``specs``; each expectation's ``meta`` carries its spec index."""
    _batch_definition()
    gx = _STATE.module
    suite = gx.ExpectationSuite(name=f"source_contract.{contract.name}")
    for i, spec in enumerate(specs):
        cls = getattr(gx.expectations, _CLASS_NAMES[spec.expectation])
        kwargs = {k: _gx_value(v) for k, v in spec.kwargs.items()}
        if spec.expectation != "expect_column_pair_values_a_to_be_greater_than_b":
            kwargs["column"] = spec.field
        suite.add_expectation(cls(**kwargs, meta={"spec": i, "rule": spec.rule}))
    return suite


def _gx_value(value: Any) -> Any:
    """Date/time bounds as epoch microseconds: GX compares datetimes element by element in Python,
    integers vectorised (run_specs hands it the date/time columns as integers too)."""
    if isinstance(value, pd.Timestamp):
        ts = value.tz_convert("UTC").tz_localize(None) if value.tz is not None else value
        return int((ts - pd.Timestamp(0)) // pd.Timedelta(microseconds=1))
    return value


def _as_epoch_micros(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[us]")
    return pd.Series(pd.arrays.IntegerArray(values.view("int64").copy(), np.isnat(values)),
                     index=series.index)


def _numpy_numbers(series: pd.Series) -> pd.Series:
    """A nullable integer column as numpy int64 (float64 with NaN when it has missing values).

    GX compares values vectorised only for numpy int / float columns; a pandas ``Int64`` column goes
    through a Python function per value. GX skips missing values before comparing either way, and
    rounding to float64 keeps every comparison with the contracts' bounds (|bound| < 2**53)."""
    if not (isinstance(series.dtype, pd.api.extensions.ExtensionDtype)
            and pd.api.types.is_integer_dtype(series.dtype)):
        return series
    return series.astype("float64") if series.hasnans else series.astype("int64")


@dataclass(frozen=True)
class SpecFailure:
    spec: ExpectationSpec
    rows: list[int]


def run_specs(contract: Contract, frame: pd.DataFrame, specs: list[ExpectationSpec]) -> list[SpecFailure]:
    """Validate ``frame`` (RangeIndex, typed contract columns) and return the unexpected rows per spec."""
    if frame.empty or not specs:
        return []
    # Dates and timestamps go to GX as epoch microseconds (UTC): its datetime comparisons run
    # element by element in Python (and call Series.values, deprecated for tz-aware columns).
    frame = frame.copy(deep=False)
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            frame[name] = _as_epoch_micros(frame[name])
        frame[name] = _numpy_numbers(frame[name])
    with _STATE.lock:
        batch_definition = _batch_definition()
        suite = build_suite(contract, specs)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    failures: list[SpecFailure] = []
    for res in result.results:
        spec = specs[int(res.expectation_config.meta["spec"])]
        info = res.exception_info or {}
        if info.get("raised_exception"):
            raise ContractCheckError(
                f"{contract.name}: check {spec.rule} could not run: {info.get('exception_message')}"
            )
        if res.success:
            continue
        rows = res.result.get("unexpected_index_list") or []
        failures.append(SpecFailure(spec, [int(r) for r in rows]))
    return failures
