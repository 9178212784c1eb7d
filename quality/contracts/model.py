"""The shape of a source contract: columns with types and rules, keys, references, pair rules.

A contract is plain data. ``quality.contracts.suites`` turns it into a Great Expectations suite,
``quality.contracts.coerce`` into vectorised type coercion, and ``describe_contracts()`` into the
description the quality report shows. The extraction engine (``pipelines/extract``) reads the
column list and the key from here, so a column is declared once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "int", "flag", "float", "date", "timestamp"]

#: How text timestamps of a table are to be read.
#: ``utc``: naive values are UTC (databases, Parquet); values with an offset are converted.
#: ``local``: naive ``YYYY-MM-DD HH:MM:SS`` wall-clock time in the company timezone (service desk CSV).
#: ``offset``: ISO 8601 with an explicit offset or ``Z`` (JSON exports); a value without one is a defect.
TimestampMode = Literal["utc", "local", "offset"]

#: Text longer than this is a defect unless a column says otherwise (catches runaway fields).
DEFAULT_MAX_LENGTH = 4000

#: Dates and timestamps before this are absurd for any source of this warehouse.
MIN_DATE = "1970-01-01"


@dataclass(frozen=True)
class Reference:
    """``column`` must exist in ``<source>.<table>.<column>`` of the raw lake (or the same batch)."""

    source: str
    table: str
    column: str

    @property
    def qualified(self) -> str:
        return f"{self.source}.{self.table}.{self.column}"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str = ""
    nullable: bool = True
    allowed: tuple[str | int, ...] | None = None
    min: float | None = None
    max: float | None = None
    strict_min: bool = False
    #: Not later than the row's own partition day + the run's tolerance (or ``future_days``).
    not_future: bool = False
    #: Days after its partition day a ``not_future`` value may lie, instead of the run's tolerance:
    #: for a later status date a daily export carries (a delivery after the run finished).
    future_days: int | None = None
    regex: str | None = None
    max_length: int | None = None
    references: Reference | None = None
    #: Added by the extractor (e.g. ``plan_version`` from a workbook's Info sheet), not in the file.
    derived: bool = False
    pii: bool = False

    @property
    def text_limit(self) -> int | None:
        if self.type != "string":
            return None
        return self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class PairRule:
    """``column_a >= column_b`` (``or_equal``) or ``>`` on every row where both are present."""

    column_a: str
    column_b: str
    or_equal: bool = True
    description: str = ""


@dataclass(frozen=True)
class VolumeRule:
    """Warn (never quarantine) when a partition's row count leaves [low, high] × the recent median."""

    low: float = 0.3
    high: float = 3.0
    lookback: int = 28
    min_history: int = 7
    min_median: float = 20.0


@dataclass(frozen=True)
class Contract:
    source: str
    table: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    timestamp_mode: TimestampMode = "utc"
    pairs: tuple[PairRule, ...] = ()
    volume: VolumeRule | None = field(default_factory=VolumeRule)

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def source_column_names(self) -> tuple[str, ...]:
        """The columns the source itself delivers (the file header / the selected columns)."""
        return tuple(c.name for c in self.columns if not c.derived)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def references(self) -> tuple[tuple[Column, Reference], ...]:
        return tuple((c, c.references) for c in self.columns if c.references is not None)
