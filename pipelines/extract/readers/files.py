"""Daily landing files: GB18030 CSV, JSON lines, Parquet.

A file-level defect (wrong encoding, BOM, changed column set, unreadable file, CSV syntax error)
rejects the whole batch with a message naming the file and the line / byte offset. A row-level
defect that prevents building a record (a line that is not JSON, a CSV row with the wrong number
of fields) becomes a quarantine row; everything else is left to the contract checks.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.extract.readers.base import (
    ParseFailure,
    PartitionRead,
    empty_frame,
    header_mismatch,
    raw_json,
    rejected,
    sha256_bytes,
)
from pipelines.extract.registry import SourceTable

CSV_ENCODING = "gb18030"
#: Larger fields are a defect the contract reports (``expect_column_value_lengths_to_be_between``);
#: the parser itself only gives up beyond this.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_GB18030_BOM = b"\x84\x31\x95\x33"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _frame(records: list[list[object]] | list[dict[str, object]], columns: list[str],
           row_numbers: list[int]) -> pd.DataFrame:
    if records:
        frame = pd.DataFrame.from_records(records, columns=columns)
    else:
        frame = empty_frame_columns(columns)
    frame["_row_number"] = pd.Series(row_numbers, dtype="int64")
    return frame


def empty_frame_columns(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _missing_file(table: SourceTable, day: date, ref: str) -> PartitionRead:
    frame = empty_frame(table.contract)
    return PartitionRead(day=day, source_ref=ref, frame=frame, missing=True,
                         notes=[f"no landing file {ref}"])


def read_csv(table: SourceTable, path: Path, day: date, ref: str) -> PartitionRead:
    """A GB18030 service desk export; local wall-clock timestamps are typed later by the contract."""
    if not path.exists():
        return _missing_file(table, day, ref)
    data = path.read_bytes()
    digest = sha256_bytes(data)
    expected = table.contract.source_column_names
    if not data:
        return rejected(day, ref, f"{ref}: file is empty (0 bytes): expected a header row "
                                  f"({', '.join(expected)}) (rule: header)", source_sha256=digest)
    if data.startswith(_UTF8_BOM):
        return rejected(day, ref, f"{ref}: file starts with a UTF-8 byte-order mark (bytes 0-2): it is "
                                  "UTF-8, the export must be GB18030 (rule: encoding)", source_sha256=digest)
    if data.startswith(_GB18030_BOM):
        data = data[len(_GB18030_BOM):]
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            first = next(i for i, b in enumerate(data) if b > 0x7F)
            return rejected(day, ref, f"{ref}: file is UTF-8 (first non-ASCII byte at offset {first}, "
                                      f"line {_line_of(data, first)}), the export must be GB18030 "
                                      "(rule: encoding)", source_sha256=digest)
    try:
        text = data.decode(CSV_ENCODING)
    except UnicodeDecodeError as exc:
        return rejected(day, ref, f"{ref}: not valid GB18030 at byte offset {exc.start} "
                                  f"(line {_line_of(data, exc.start)}): {exc.reason} (rule: encoding)",
                        source_sha256=digest)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return rejected(day, ref, f"{ref}: no header row (rule: header)", source_sha256=digest)
        header = [h.strip() for h in header]
        problem = header_mismatch(expected, header)
        if problem:
            hint = ""
            if len(header) == 1:
                for sep in (";", "\t", "|"):
                    if sep in header[0]:
                        hint = f" — the header is one field: wrong delimiter {sep!r}? (expected ',')"
                        break
            return rejected(day, ref, f"{ref}: line 1 (header): {problem}{hint} (rule: header)",
                            source_sha256=digest, scope=_csv_scope(reader, header))
        records: list[list[object]] = []
        numbers: list[int] = []
        failures: list[ParseFailure] = []
        n = 0
        width = len(header)
        for row in reader:
            if not row:
                continue  # blank line
            n += 1
            if len(row) != width:
                hint = " (truncated file?)" if len(row) < width else ""
                failures.append(ParseFailure(
                    row_number=n, raw=raw_json({"_line": ",".join(row)}), rule="field_count",
                    field=None, value=str(len(row)),
                    reason=f"row {n} (line {reader.line_num}) has {len(row)} fields, the header has "
                           f"{width}{hint}"))
                continue
            records.append([v if v != "" else None for v in row])
            numbers.append(n)
    except csv.Error as exc:
        return rejected(day, ref, f"{ref}: CSV syntax error at line {reader.line_num}: {exc} (rule: csv)",
                        source_sha256=digest)
    frame = _frame(records, header, numbers)
    frame = frame[list(expected) + ["_row_number"]]
    return PartitionRead(day=day, source_ref=ref, frame=frame, parse_failures=failures, source_sha256=digest)


def _csv_scope(reader: Iterator[list[str]], header: list[str]) -> pd.DataFrame | None:
    """The data rows of a CSV rejected for its header, under its own header (None when unreadable)."""
    try:
        rows = [row for row in reader if row and len(row) == len(header)]
    except csv.Error:
        return None
    if not rows or len(set(header)) != len(header):
        return None
    frame = pd.DataFrame(rows, columns=header, dtype="object")
    frame["_row_number"] = range(1, len(frame) + 1)
    return frame


def read_jsonl(table: SourceTable, path: Path, day: date, ref: str) -> PartitionRead:
    """JSON lines (UTF-8): a line that is not a JSON object becomes a quarantine row."""
    if not path.exists():
        return _missing_file(table, day, ref)
    data = path.read_bytes()
    digest = sha256_bytes(data)
    notes = []
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
        notes.append(f"{ref}: UTF-8 byte-order mark ignored")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return rejected(day, ref, f"{ref}: not valid UTF-8 at byte offset {exc.start} "
                                  f"(line {_line_of(data, exc.start)}): {exc.reason} (rule: encoding)",
                        source_sha256=digest)
    expected = table.contract.source_column_names
    records: list[dict[str, object]] = []
    numbers: list[int] = []
    failures: list[ParseFailure] = []
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(ParseFailure(lineno, raw_json({"_line": line}), "json", None,
                                         line[:200], f"line {lineno} is not JSON: {exc.msg} at column "
                                                     f"{exc.colno}"))
            continue
        if not isinstance(obj, dict):
            failures.append(ParseFailure(lineno, raw_json({"_line": line}), "json", None, line[:200],
                                         f"line {lineno} is JSON but not an object "
                                         f"({type(obj).__name__})"))
            continue
        for k in obj:
            first_seen.setdefault(k, lineno)
        records.append(obj)
        numbers.append(lineno)
    if records:
        extra = [k for k in first_seen if k not in expected]
        missing = [c for c in expected if c not in first_seen]
        if extra or missing:
            parts = []
            if missing:
                parts.append(f"no record has {', '.join(missing)}")
            if extra:
                parts.append("unexpected " + ", ".join(f"{k!r} (first on line {first_seen[k]})" for k in extra))
            scope = pd.DataFrame.from_records(records).astype("object")
            scope["_row_number"] = numbers
            return rejected(day, ref, f"{ref}: changed column set ({'; '.join(parts)}); the contract "
                                      f"expects {', '.join(expected)} (rule: header)", source_sha256=digest,
                            scope=scope)
    frame = _frame(records, list(expected), numbers)
    return PartitionRead(day=day, source_ref=ref, frame=frame, parse_failures=failures, notes=notes,
                         source_sha256=digest)


def read_parquet_file(table: SourceTable, path: Path, day: date, ref: str) -> PartitionRead:
    """A Parquet file with exactly the contract's columns (types are checked by the contract)."""
    if not path.exists():
        return _missing_file(table, day, ref)
    data = path.read_bytes()
    digest = sha256_bytes(data)
    try:
        arrow = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        return rejected(day, ref, f"{ref}: not a readable Parquet file: {exc} (rule: format)",
                        source_sha256=digest)
    expected = table.contract.source_column_names
    problem = header_mismatch(expected, arrow.column_names)
    if problem:
        scope = arrow.to_pandas().astype("object") if len(set(arrow.column_names)) == len(arrow.column_names) \
            else None
        if scope is not None:
            scope["_row_number"] = range(1, len(scope) + 1)
        return rejected(day, ref, f"{ref}: {problem} (rule: header)", source_sha256=digest, scope=scope)
    frame = arrow.select(list(expected)).to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}.get
    )
    frame["_row_number"] = pd.Series(range(1, len(frame) + 1), dtype="int64")
    return PartitionRead(day=day, source_ref=ref, frame=frame, source_sha256=digest)


READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet_file}


def read_landing_file(table: SourceTable, landing_dir: Path, day: date) -> PartitionRead:
    """The daily landing file of ``table`` for ``day`` (a missing file is an empty partition)."""
    path = table.landing_path(landing_dir, day)
    ref = path.relative_to(landing_dir).as_posix()
    try:
        return READERS[table.kind](table, path, day, ref)
    except OSError as exc:
        return rejected(day, ref, f"{ref}: cannot read the file: {exc} (rule: io)")
