"""Reference (foreign key) look-ups against the raw lake's already-extracted tables.

GX's ``expect_column_values_to_be_in_set`` takes minutes with a value set of 10⁵ keys, so reference
checks run as one vectorised ``isin`` per column; they are reported with the rule
``reference(<column>)`` next to the GX rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from quality.contracts.model import Reference

#: (source, table) → the Parquet files holding that table's extracted rows. The lake's layout is the
#: extractor's (pipelines.extract.lake): it hands this in, so the contracts never spell it.
TableFiles = Callable[[str, str], Sequence[Path]]


class ReferenceKeys:
    """Distinct key values of referenced tables in the lake, read once per instance."""

    def __init__(self, table_files: TableFiles | None = None) -> None:
        self.table_files = table_files
        self._cache: dict[Reference, pa.Array | None] = {}

    def lake_keys(self, ref: Reference) -> pa.Array | None:
        """Distinct values of ``ref.column`` in the lake; None when the table was never extracted."""
        if ref not in self._cache:
            files = [] if self.table_files is None else list(self.table_files(ref.source, ref.table))
            if not files:
                self._cache[ref] = None
            else:
                table = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=[ref.column])
                self._cache[ref] = pc.unique(table.column(ref.column).combine_chunks().drop_null())
        return self._cache[ref]

    def forget(self, source: str, table: str) -> None:
        """Drop cached keys of ``source.table`` (it was just written to the lake)."""
        for ref in [r for r in self._cache if (r.source, r.table) == (source, table)]:
            del self._cache[ref]
