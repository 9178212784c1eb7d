"""Daily landing files: GB18030 CSV, JSON lines, Parquet.

A file-level defect (wrong encoding, BOM, changed column set, unreadable file, CSV syntax error)
rejects the whole batch with a message naming the file and the line / byte offset. A row-level
defect that prevents building a record (a line that is not JSON, a CSV row with the wrong number
of fields) becomes a quarantine row; everything else is left to the contract checks.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
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
#: A file with at least this many lines that cannot be parsed, more than it has good ones, is not
#: the export it claims to be (a log, a dump, junk): rejected whole instead of quarantined line by line.
JUNK_LINES = 1000
_CHUNK = 1 << 20
_UTF8_BOM = b"\xef\xbb\xbf"
_GB18030_BOM = b"\x84\x31\x95\x33"


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


@dataclass
class _Scan:
    """What one streaming pass over a file's bytes found (memory stays bounded whatever its size)."""

    sha256: str
    size: int
    bom: str | None  # "utf-8" | "gb18030" | None
    first_non_ascii: int | None  # byte offset, after the BOM
    first_non_ascii_line: int | None
    is_utf8: bool
    bad_offset: int | None = None  # first byte that is not valid in ``encoding``
    bad_line: int | None = None
    bad_reason: str | None = None


def _scan(path: Path, encoding: str) -> _Scan:
    """sha256, byte-order mark, first non-ASCII byte, whether it is all UTF-8 and where it stops
    being valid ``encoding`` — in one pass of 1 MiB chunks."""
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    decoder = codecs.getincrementaldecoder(encoding)()
    scan = _Scan("", 0, None, None, None, True)
    offset = lines = 0
    with open(path, "rb") as fh:
        chunk = fh.read(_CHUNK)
        digest.update(chunk)
        scan.size += len(chunk)
        for mark, name in ((_UTF8_BOM, "utf-8"), (_GB18030_BOM, "gb18030")):
            if chunk.startswith(mark):
                scan.bom, chunk = name, chunk[len(mark):]
                break
        while chunk:
            following = fh.read(_CHUNK)
            digest.update(following)
            scan.size += len(following)
            final = not following
            if scan.first_non_ascii is None and not chunk.isascii():
                at = next(i for i, b in enumerate(chunk) if b > 0x7F)
                scan.first_non_ascii = offset + at
                scan.first_non_ascii_line = lines + chunk.count(b"\n", 0, at) + 1
            if scan.is_utf8:
                try:
                    utf8.decode(chunk, final)
                except UnicodeDecodeError:
                    scan.is_utf8 = False
            if scan.bad_offset is None:
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk, final)
                except UnicodeDecodeError:
                    window = pending + chunk
                    try:
                        window.decode(encoding)
                        start, reason = len(window), "incomplete multibyte sequence"
                    except UnicodeDecodeError as exc:
                        start, reason = exc.start, exc.reason
                    scan.bad_offset = offset - len(pending) + start
                    scan.bad_line = lines + window.count(b"\n", 0, start) + 1 - pending.count(b"\n")
                    scan.bad_reason = reason
            lines += chunk.count(b"\n")
            offset += len(chunk)
            chunk = following
    scan.sha256 = digest.hexdigest()
    return scan


def _text_lines(path: Path, encoding: str, skip: int) -> Iterator[str]:
    """The file's text, line by line (line ends kept, as ``csv`` wants), after ``skip`` BOM bytes."""
    with open(path, "rb") as raw:
        raw.seek(skip)
        yield from io.TextIOWrapper(raw, encoding=encoding, newline="")


def read_csv(table: SourceTable, path: Path, day: date, ref: str) -> PartitionRead:
    """A GB18030 service desk export; local wall-clock timestamps are typed later by the contract."""
    if not path.exists():
        return _missing_file(table, day, ref)
    scan = _scan(path, CSV_ENCODING)
    digest = scan.sha256
    expected = table.contract.source_column_names
    problem = _csv_file_problem(scan, ref, expected)
    if problem:
        return rejected(day, ref, problem, source_sha256=digest)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    skip = len(_GB18030_BOM) if scan.bom == "gb18030" else 0
    lines = _text_lines(path, CSV_ENCODING, skip)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return rejected(day, ref, f"{ref}: no header row (rule: header)", source_sha256=digest)
        header = [h.strip() for h in header]
        problem = _csv_header_problem(expected, header)
        if problem:
            return rejected(day, ref, f"{ref}: line 1 (header): {problem} (rule: header)",
                            source_sha256=digest, scope=_csv_scope(reader, header))
        rows = _csv_rows(reader, len(header))
        if rows.junk:
            return _junk(day, ref, digest, rows.failures, rows.seen, "rows", "have the header's number of fields")
    except csv.Error as exc:
        return rejected(day, ref, f"{ref}: CSV syntax error at line {reader.line_num}: {exc} (rule: csv)",
                        source_sha256=digest)
    finally:
        lines.close()
    frame = _frame(rows.records, header, rows.numbers)
    frame = frame[list(expected) + ["_row_number"]]
    return PartitionRead(day=day, source_ref=ref, frame=frame, parse_failures=rows.failures, source_sha256=digest)


def _csv_file_problem(scan: _Scan, ref: str, expected: list[str]) -> str | None:
    """Why the whole file is rejected before parsing (empty, not GB18030), or None."""
    if not scan.size:
        return (f"{ref}: file is empty (0 bytes): expected a header row ({', '.join(expected)}) "
                "(rule: header)")
    if scan.bom == "utf-8":
        return (f"{ref}: file starts with a UTF-8 byte-order mark (bytes 0-2): it is UTF-8, the export must be "
                "GB18030 (rule: encoding)")
    if scan.first_non_ascii is not None and scan.is_utf8:
        return (f"{ref}: file is UTF-8 (first non-ASCII byte at offset {scan.first_non_ascii}, "
                f"line {scan.first_non_ascii_line}), the export must be GB18030 (rule: encoding)")
    if scan.bad_offset is not None:
        return (f"{ref}: not valid GB18030 at byte offset {scan.bad_offset} (line {scan.bad_line}): "
                f"{scan.bad_reason} (rule: encoding)")
    return None


def _csv_header_problem(expected: list[str], header: list[str]) -> str | None:
    """What is wrong with the header (with a hint when it is one field holding another delimiter), or None."""
    problem = header_mismatch(expected, header)
    if not problem:
        return None
    if len(header) == 1:
        for sep in (";", "\t", "|"):
            if sep in header[0]:
                return f"{problem} — the header is one field: wrong delimiter {sep!r}? (expected ',')"
    return problem


@dataclass
class _CsvRows:
    records: list[list[object]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # row number of each record
    failures: list[ParseFailure] = field(default_factory=list)
    seen: int = 0  # data rows read (blank lines not counted)
    junk: bool = False  # stopped: mostly rows that do not fit the header


def _csv_rows(reader: Iterator[list[str]], width: int) -> _CsvRows:
    """The data rows; a row with the wrong number of fields becomes a parse failure."""
    out = _CsvRows()
    for row in reader:
        if not row:
            continue  # blank line
        out.seen += 1
        n = out.seen
        if len(row) != width:
            hint = " (truncated file?)" if len(row) < width else ""
            out.failures.append(ParseFailure(
                row_number=n, raw=raw_json({"_line": ",".join(row)}), rule="field_count",
                field=None, value=str(len(row)),
                reason=f"row {n} (line {reader.line_num}) has {len(row)} fields, the header has "
                       f"{width}{hint}"))
            if _mostly_junk(out.failures, out.records):
                out.junk = True
                return out
            continue
        out.records.append([v if v != "" else None for v in row])
        out.numbers.append(n)
    return out


def _csv_scope(reader: Iterator[list[str]], header: list[str]) -> pd.DataFrame | None:
    """The data rows of a CSV rejected for its header, under its own header (None when unreadable:
    a duplicated header, a CSV error, or rows that mostly do not fit the header — junk)."""
    if len(set(header)) != len(header):
        return None
    rows: list[list[str]] = []
    misfits = 0
    try:
        for row in reader:
            if not row:
                continue
            if len(row) == len(header):
                rows.append(row)
            else:
                misfits += 1
                if misfits >= JUNK_LINES and misfits > len(rows):
                    return None
    except csv.Error:
        return None
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=header, dtype="object")
    frame["_row_number"] = range(1, len(frame) + 1)
    return frame


def _mostly_junk(failures: list[ParseFailure], records: list) -> bool:
    """Enough unparseable lines, and more of them than good ones: the file is not what it claims."""
    return len(failures) >= JUNK_LINES and len(failures) > len(records)


def _junk(day: date, ref: str, digest: str, failures: list[ParseFailure], seen: int, what: str,
          rule_text: str) -> PartitionRead:
    first = failures[0]
    return rejected(day, ref, f"{ref}: not a {'JSON-lines' if what == 'lines' else 'CSV'} export: {len(failures)} "
                              f"of the first {seen} {what} do not {rule_text} (first: {first.reason}); the file "
                              "is rejected whole, not quarantined line by line (rule: format)",
                    source_sha256=digest)


def read_jsonl(table: SourceTable, path: Path, day: date, ref: str) -> PartitionRead:
    """JSON lines (UTF-8): a line that is not a JSON object becomes a quarantine row; a file whose
    lines mostly are not is rejected whole. Read line by line: memory follows the good rows only."""
    if not path.exists():
        return _missing_file(table, day, ref)
    scan = _scan(path, "utf-8")
    digest = scan.sha256
    notes = []
    if scan.bom == "utf-8":
        notes.append(f"{ref}: UTF-8 byte-order mark ignored")
    if scan.bad_offset is not None:
        return rejected(day, ref, f"{ref}: not valid UTF-8 at byte offset {scan.bad_offset} "
                                  f"(line {scan.bad_line}): {scan.bad_reason} (rule: encoding)",
                        source_sha256=digest)
    expected = table.contract.source_column_names
    records: list[dict[str, object]] = []
    numbers: list[int] = []
    failures: list[ParseFailure] = []
    first_seen: dict[str, int] = {}
    with open(path, "rb") as raw:
        raw.seek(len(_UTF8_BOM) if scan.bom == "utf-8" else 0)
        for lineno, data in enumerate(raw, start=1):
            line = data.decode("utf-8").removesuffix("\n")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                failures.append(ParseFailure(lineno, raw_json({"_line": line}), "json", None,
                                             line[:200], f"line {lineno} is not JSON: {exc.msg} at column "
                                                         f"{exc.colno}"))
            else:
                if not isinstance(obj, dict):
                    failures.append(ParseFailure(lineno, raw_json({"_line": line}), "json", None, line[:200],
                                                 f"line {lineno} is JSON but not an object "
                                                 f"({type(obj).__name__})"))
                else:
                    for k in obj:
                        first_seen.setdefault(k, lineno)
                    records.append(obj)
                    numbers.append(lineno)
                    continue
            if _mostly_junk(failures, records):
                return _junk(day, ref, digest, failures, lineno, "lines", "hold a JSON object")
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
