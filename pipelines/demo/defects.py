"""Ground-truth data defects: every deliberately broken row (or file) the generator writes.

Defects are *extra* rows (or one redundant file), so the clean data and every KPI value stay intact
once the pipeline quarantines or rejects them. ``row_key`` identifies the row:

- the natural key when the row has one (``ticket_id``, ``order_line_id``, ``order_id``, ``run_id``,
  ``response_id``, ``return_id``, ``training_id``, ``bug_id``);
- ``row=<n>`` (1-based data row of the file, header excluded; JSONL: line number) when the key is
  empty or the line cannot be parsed;
- ``order_id=<id>,line_no=<n>`` for the order line whose ``order_line_id`` is NULL.

``file`` is relative to the data directory (``landing/servicedesk/tickets_20240315.csv``,
``sources/erp.sqlite``; ``erp`` / ``hr`` when the database is an external URL).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

DEFECT_COLUMNS = ["defect_id", "source", "table", "partition_date", "file", "row_key", "field", "defect",
                  "expected"]


@dataclass(frozen=True)
class Defect:
    source: str
    table: str
    partition_date: str
    file: str
    row_key: str
    field: str
    defect: str
    expected: str = "quarantine"


class DefectLog:
    def __init__(self) -> None:
        self.items: list[Defect] = []

    def add(self, *args, **kwargs) -> None:
        self.items.append(Defect(*args, **kwargs))

    def extend(self, other: DefectLog) -> None:
        self.items.extend(other.items)

    def to_csv(self) -> bytes:
        rows = sorted(self.items, key=lambda d: (d.source, d.table, d.partition_date, d.row_key, d.field))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(DEFECT_COLUMNS)
        for i, d in enumerate(rows, start=1):
            w.writerow([f"D{i:03d}", d.source, d.table, d.partition_date, d.file, d.row_key, d.field,
                        d.defect, d.expected])
        return buf.getvalue().encode("utf-8")
