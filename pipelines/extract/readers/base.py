"""What every reader returns: one ``PartitionRead`` per partition (a batch of source rows, or a
rejection with its reason), plus the rows it could not even parse (they go to quarantine as is).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from quality.contracts import Contract


@dataclass(frozen=True)
class ParseFailure:
    """A source row that never became a record (a line that is not JSON, a CSV row with too few fields)."""

    row_number: int
    raw: str
    rule: str
    field: str | None
    value: str | None
    reason: str


@dataclass
class PartitionRead:
    """One partition's worth of source rows, as delivered (not yet typed or checked).

    ``frame`` holds the contract's columns (source values) plus ``_row_number``; ``None`` when the
    whole batch is rejected (``rejection`` says why). ``missing`` marks a daily landing file that
    does not exist.
    """

    day: date | None
    source_ref: str
    frame: pd.DataFrame | None = None
    parse_failures: list[ParseFailure] = field(default_factory=list)
    rejection: str | None = None
    notes: list[str] = field(default_factory=list)
    source_sha256: str | None = None
    missing: bool = False
    tag: str | None = None
    #: A rejected batch's rows as far as they could be read (text values under the file's own column
    #: names): they are not loaded, but say which business days and org units the rejection affects.
    scope: pd.DataFrame | None = None

    @property
    def rows_read(self) -> int:
        n = 0 if self.frame is None else len(self.frame)
        return n + len(self.parse_failures)


def empty_frame(contract: Contract) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in contract.column_names})
    frame["_row_number"] = pd.Series(dtype="int64")
    return frame


def rejected(day: date | None, source_ref: str, message: str, **kwargs: object) -> PartitionRead:
    return PartitionRead(day=day, source_ref=source_ref, rejection=message, **kwargs)  # type: ignore[arg-type]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_json(values: dict[str, object]) -> str:
    return json.dumps(values, ensure_ascii=False, default=str)


def header_mismatch(expected: tuple[str, ...], found: list[str]) -> str | None:
    """A sentence when the column *set* differs from the contract (order does not matter)."""
    dup = sorted({c for c in found if found.count(c) > 1})
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if not (dup or missing or extra):
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(repr(c) for c in extra)}")
    if dup:
        parts.append(f"duplicated {', '.join(dup)}")
    return "changed column set (" + "; ".join(parts) + f"); the contract expects {', '.join(expected)}"
