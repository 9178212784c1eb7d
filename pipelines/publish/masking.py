"""Person-level data in serving copies: which columns are masked and the stable pseudonym that replaces them.

Rules (per masked column, NULL stays NULL):

- in a table with an ``employee_id`` column (``dim_employee``): the pseudonym is derived from the id,
  so it is stable across nights and joinable: ``full_name`` -> ``Employee E00123``,
  ``full_name_zh`` -> ``员工 E00123``, ``email`` (any column named ``*email*``) ->
  ``employee-e00123@masked.invalid``;
- any other text column: ``masked-`` + the first 12 hex digits of sha256(salt || value) — stable for
  the same value and salt, not reversible without the salt (pass a secret salt to defeat dictionaries);
- a non-text column: NULL.

Ids (``employee_id``, ``owner_employee_id``, ``manager_employee_id``…) are never masked: they are
how the marts join.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipelines.publish._common import quote_ident

#: Always masked unless names are explicitly allowed (docs/warehouse.md tags them PII).
DEFAULT_PERSON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dim_employee", "full_name"),
    ("dim_employee", "full_name_zh"),
    ("dim_employee", "email"),
)

_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "JSON")


def columns_to_mask(
    pii_columns: Iterable[tuple[str, str]], schema: str, *, include_defaults: bool = True
) -> dict[str, set[str]]:
    """``{table: {column, ...}}`` for one schema.

    Entries may name the table bare (``dim_employee``) or schema-qualified (``marts.dim_employee``);
    entries qualified with another schema (e.g. dbt's ``staging`` models) are ignored, since only
    ``schema`` is published.
    """
    wanted: dict[str, set[str]] = {}
    entries = list(DEFAULT_PERSON_COLUMNS) if include_defaults else []
    for entry in pii_columns:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise ValueError(f"pii_columns entry {entry!r} is not a (table, column) pair")
        entries.append((str(entry[0]), str(entry[1])))
    for table, column in entries:
        if "." in table:
            table_schema, _, table = table.rpartition(".")
            if table_schema.split(".")[-1] != schema:
                continue
        wanted.setdefault(table, set()).add(column)
    return wanted


def pseudonym_expression(column: str, column_type: str, table_columns: Mapping[str, str]) -> str:
    """SQL expression (DuckDB) that replaces ``column``; reads the salt from ``getvariable('kpi_salt')``."""
    col = quote_ident(column)
    is_text = column_type.upper().startswith(_TEXT_TYPES)
    if not is_text:
        return f"CAST(NULL AS {column_type})"
    if "employee_id" in table_columns and column != "employee_id":
        emp = f"CAST({quote_ident('employee_id')} AS VARCHAR)"
        lowered = column.lower()
        if "email" in lowered:
            value = f"'employee-' || lower({emp}) || '@masked.invalid'"
        elif lowered.endswith("_zh"):
            value = f"'员工 ' || {emp}"
        else:
            value = f"'Employee ' || {emp}"
    else:
        value = (
            "'masked-' || substr(sha256(coalesce(getvariable('kpi_salt'), '') || "
            f"CAST({col} AS VARCHAR)), 1, 12)"
        )
    return f"CASE WHEN {col} IS NULL THEN NULL ELSE {value} END"
