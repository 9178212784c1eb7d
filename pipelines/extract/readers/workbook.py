"""Finance plan workbooks (XLSX): sheets ``Info``, ``Targets``, ``Weights``.

Each workbook is one partition of each finance table, dated by its ``valid_from`` (Info sheet).
A missing or renamed sheet, a changed header or an unusable Info sheet rejects that workbook for
the table being extracted, naming the workbook and the sheet expected.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path
from xml.etree.ElementTree import ParseError

import pandas as pd
from openpyxl.utils import get_column_letter

from pipelines.extract.readers.base import (
    ParseFailure,
    PartitionRead,
    header_mismatch,
    raw_json,
    rejected,
    sha256_bytes,
)
from pipelines.extract.registry import SourceTable

INFO_SHEET = "Info"
INFO_KEYS = ("plan_version", "fiscal_year", "valid_from", "approved_by")
#: What a corrupt or cut-short workbook raises, when it is opened or when a sheet's XML is read
#: (openpyxl reads sheets lazily): the workbook is rejected, named, instead of failing the step.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, ParseError, EOFError, OSError, KeyError, ValueError, TypeError)


def _cell_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _rows(sheet: object) -> list[tuple[object, ...]]:
    rows = []
    for row in sheet.iter_rows(values_only=True):  # type: ignore[attr-defined]
        rows.append(tuple(row))
    return rows


def _trim(values: tuple[object, ...]) -> list[object]:
    out = list(values)
    while out and (out[-1] is None or (isinstance(out[-1], str) and not out[-1].strip())):
        out.pop()
    return out


def _info(ref: str, workbook: object) -> tuple[dict[str, object], str | None]:
    if INFO_SHEET not in workbook.sheetnames:  # type: ignore[attr-defined]
        return {}, (f"{ref}: sheet {INFO_SHEET!r} not found (sheets: "
                    f"{', '.join(workbook.sheetnames)}) (rule: sheet)")  # type: ignore[attr-defined]
    rows = _rows(workbook[INFO_SHEET])  # type: ignore[index]
    info: dict[str, object] = {}
    for row in rows[1:]:
        cells = _trim(row)
        if cells and isinstance(cells[0], str):
            info[cells[0].strip()] = cells[1] if len(cells) > 1 else None
    missing = [k for k in ("plan_version", "fiscal_year", "valid_from") if info.get(k) in (None, "")]
    if missing:
        return info, f"{ref}: sheet {INFO_SHEET!r} lacks {', '.join(missing)} (rule: info)"
    if _cell_date(info["valid_from"]) is None:
        return info, (f"{ref}: sheet {INFO_SHEET!r}: valid_from {info['valid_from']!r} is not a date "
                      "(rule: info)")
    return info, None


def read_workbook(table: SourceTable, path: Path, landing_dir: Path) -> PartitionRead:
    """The rows of ``table`` in one workbook (a one-row frame for ``finance.plan_info``)."""
    import openpyxl

    ref = path.relative_to(landing_dir).as_posix()
    tag = path.stem
    data = path.read_bytes()
    digest = sha256_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # openpyxl: unsupported extensions
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except _UNREADABLE as exc:
        return rejected(None, ref, f"{ref}: not a readable XLSX workbook: {exc} (rule: format)",
                        source_sha256=digest, tag=tag)
    day: date | None = None
    reading = INFO_SHEET
    try:
        info, problem = _info(ref, wb)
        if problem:
            return rejected(None, ref, problem, source_sha256=digest, tag=tag)
        day = _cell_date(info["valid_from"])
        plan_version = info["plan_version"]
        contract = table.contract
        if table.table == "plan_info":
            record = {k: info.get(k) for k in INFO_KEYS}
            record["file"] = ref
            frame = pd.DataFrame([record], columns=list(contract.column_names), dtype="object")
            frame["_row_number"] = pd.Series([1], dtype="int64")
            return PartitionRead(day=day, source_ref=ref, frame=frame, source_sha256=digest, tag=tag)
        sheet_name = table.sheet or ""
        if sheet_name not in wb.sheetnames:
            return rejected(day, ref, f"{ref}: sheet {sheet_name!r} not found (sheets: "
                                      f"{', '.join(wb.sheetnames)}) (rule: sheet)",
                            source_sha256=digest, tag=tag)
        reading = sheet_name
        rows = _rows(wb[sheet_name])
    except _UNREADABLE as exc:
        return rejected(day, ref, f"{ref}: sheet {reading!r} is corrupt or cut short ({type(exc).__name__}: "
                                  f"{exc}) (rule: format)", source_sha256=digest, tag=tag)
    finally:
        wb.close()
    expected = contract.source_column_names
    header = [str(h).strip() if h is not None else "" for h in _trim(rows[0])] if rows else []
    problem = header_mismatch(expected, header)
    if problem:
        return rejected(day, ref, f"{ref}: sheet {sheet_name!r} row 1 (header): {problem} (rule: header)",
                        source_sha256=digest, tag=tag)
    formulas = _uncomputed_formulas(path, sheet_name, len(header))
    records, numbers, failures = _data_rows(rows, header, formulas, sheet_name, plan_version)
    frame = pd.DataFrame.from_records(records, columns=header) if records else \
        pd.DataFrame({c: pd.Series(dtype="object") for c in header})
    frame = frame.astype("object")
    frame["plan_version"] = plan_version
    frame = frame[list(contract.column_names)]
    frame["_row_number"] = pd.Series(numbers, dtype="int64")
    return PartitionRead(day=day, source_ref=ref, frame=frame, parse_failures=failures, source_sha256=digest,
                         tag=tag)


def _data_rows(rows: list[tuple[object, ...]], header: list[str], formulas: dict[tuple[int, int], str], sheet_name: str,
               plan_version: object) -> tuple[list[list[object]], list[int], list[ParseFailure]]:
    """The records under the header (empty spreadsheet rows skipped), their row numbers, and a parse
    failure for each row with a formula that has no computed value."""
    records: list[list[object]] = []
    numbers: list[int] = []
    failures: list[ParseFailure] = []
    width = len(header)
    for n, row in enumerate(rows[1:], start=1):
        cells = list(row[:width]) + [None] * max(0, width - len(row))
        blank = [c is None or (isinstance(c, str) and not c.strip()) for c in cells]
        if all(blank) and not any((n + 1, i) in formulas for i in range(width)):
            continue  # empty spreadsheet row
        empty_formulas = [(i, formulas[(n + 1, i)]) for i in range(width) if (n + 1, i) in formulas]
        if empty_formulas:
            failures.append(_formula_failure(n, cells, header, empty_formulas, sheet_name, plan_version))
            continue
        records.append(cells)
        numbers.append(n)
    return records, numbers, failures


def _formula_failure(n: int, cells: list[object], header: list[str], empty_formulas: list[tuple[int, str]],
                     sheet_name: str, plan_version: object) -> ParseFailure:
    i, formula = empty_formulas[0]
    address = f"{get_column_letter(i + 1)}{n + 1}"
    also = "".join(f", {get_column_letter(j + 1)}{n + 1}" for j, _ in empty_formulas[1:])
    return ParseFailure(
        n, raw_json({**dict(zip(header, cells, strict=True)), "plan_version": plan_version}), "formula",
        header[i], formula,
        f"sheet {sheet_name!r} cell {address}{also} ({header[i]}) holds the formula {formula} without a "
        "computed value (the file was written by a program that does not calculate formulas): open and "
        "save it in Excel or LibreOffice, or enter the value (rule: formula)")


def _uncomputed_formulas(path: Path, sheet_name: str, width: int) -> dict[tuple[int, int], str]:
    """(sheet row, column index) → formula text of every formula cell that carries no cached value.

    Reading values only (``data_only``), such a cell is indistinguishable from an empty one: a target
    written as ``=B2*1.1`` by a tool that does not calculate would silently load as "no target"."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        formulas_wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        values_wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        found: dict[tuple[int, int], str] = {}
        pairs = zip(formulas_wb[sheet_name].iter_rows(values_only=True),
                    values_wb[sheet_name].iter_rows(values_only=True), strict=False)
        for r, (formula_row, value_row) in enumerate(pairs, start=1):
            for i, cell in enumerate(formula_row[:width]):
                value = value_row[i] if i < len(value_row) else None
                if isinstance(cell, str) and cell.startswith("=") and value is None:
                    found[(r, i)] = cell
        return found
    finally:
        formulas_wb.close()
        values_wb.close()


def read_workbooks(table: SourceTable, landing_dir: Path) -> list[PartitionRead]:
    """Every plan workbook in the landing folder, in file-name order.

    Two workbooks claiming the same ``valid_from`` cannot share a partition: the later file
    (by name) is rejected.
    """
    out: list[PartitionRead] = []
    claimed: dict[date, str] = {}
    for path in sorted(Path(landing_dir).glob(table.landing_glob or "")):
        read = read_workbook(table, path, Path(landing_dir))
        if read.day is not None and read.rejection is None:
            if read.day in claimed:
                read = rejected(None, read.source_ref,
                                f"{read.source_ref}: valid_from {read.day} is already taken by "
                                f"{claimed[read.day]} (rule: partition)",
                                source_sha256=read.source_sha256, tag=read.tag)
            else:
                claimed[read.day] = read.source_ref
        out.append(read)
    return out
