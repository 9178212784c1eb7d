"""Reading the marts (schema `marts`, docs/warehouse.md) into pandas frames.

Only SELECTs with `?` parameters; table and column names come from the lists below (validated).
A mart or column that a warehouse does not have yet reads as empty / null, so the reports degrade
instead of failing (e.g. `kpi_checkins`, `kpi_forecast` are optional; the target source, target status,
data status and unverified-reason columns of issue 12 are read when the warehouse has them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

SCHEMA = "marts"

COLUMNS: dict[str, tuple[str, ...]] = {
    "dim_org_unit": ("org_unit_id", "name", "name_zh", "unit_type", "level", "parent_org_unit_id", "path",
                     "manager_employee_id", "valid_from", "valid_to", "is_current"),
    "dim_employee": ("employee_id", "full_name", "full_name_zh", "job_title", "current_org_unit_id"),
    "kpi_objectives": ("objective_id", "name", "name_zh", "description", "owner_org_unit_id"),
    "kpi_definitions": ("kpi_id", "version", "valid_from", "valid_to", "is_current", "name", "name_zh",
                        "description", "objective_id", "owner_org_unit_id", "owner_employee_id", "unit",
                        "direction", "measure_type", "measure_model", "measure_expression", "measure_filter",
                        "time_column", "org_column", "numerator", "denominator", "percentile", "formula",
                        "is_additive", "grains", "scope", "amber_threshold", "score_cap", "target_rule",
                        "target_rule_value", "catalog_file", "definition_hash", "version_reason", "measure_scale"),
    "kpi_weights": ("org_unit_id", "kpi_id", "weight", "source", "plan_version", "valid_from", "valid_to"),
    "kpi_targets": ("kpi_id", "org_unit_id", "grain", "period_start", "period_end", "target_value", "target_low",
                    "target_high", "source", "plan_version", "target_status", "target_note", "plan_file"),
    "kpi_actuals": ("kpi_id", "org_unit_id", "grain", "period_start", "period_end", "actual_value", "numerator",
                    "denominator", "kpi_version", "is_complete", "days_elapsed", "days_in_period", "is_verified",
                    "data_status", "unverified_reason", "unverified_tables", "verification_note"),
    "kpi_attainment": ("kpi_id", "org_unit_id", "grain", "period_start", "period_end", "actual_value",
                       "target_value", "target_low", "target_high", "expected_to_date", "attainment",
                       "attainment_to_date", "status", "is_complete", "kpi_version", "is_verified",
                       "target_source", "target_status", "target_note", "plan_version", "plan_file", "data_status",
                       "unverified_reason", "unverified_tables", "verification_note"),
    "kpi_scorecard": ("org_unit_id", "parent_org_unit_id", "grain", "period_start", "score", "kpi_count",
                      "weight_total", "rank_among_siblings", "is_complete"),
    "kpi_actuals_by_dimension": ("kpi_id", "org_unit_id", "grain", "period_start", "dimension", "dimension_value",
                                 "actual_value", "numerator", "denominator"),
    "kpi_checkins": ("kpi_id", "org_unit_id", "grain", "period_start", "author", "comment", "status_override",
                     "created_at"),
    "kpi_anomalies": ("kpi_id", "org_unit_id", "grain", "start_date", "end_date", "date", "actual_value",
                      "expected_value", "lower", "upper", "score", "severity", "direction", "impact", "kind",
                      "reason", "is_data_issue", "is_verified"),
    "kpi_forecast": ("kpi_id", "org_unit_id", "grain", "period_start", "period_end", "as_of_date",
                     "actual_to_date", "forecast_value", "forecast_low", "forecast_high", "target_value",
                     "probability_on_target", "method"),
    "dq_load_log": ("source", "table", "partition_date", "status", "rows_read", "rows_loaded",
                    "rows_quarantined", "message", "source_ref", "batch_id", "loaded_at"),
    "dq_check_results": ("run_id", "checked_at", "layer", "asset", "check_name", "status", "blocking",
                         "severity", "message", "failing_rows"),
    "dq_freshness": ("source", "table", "latest_partition", "age_days", "max_age_days", "status"),
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns `marts.<table>` has (empty when the table does not exist)."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [SCHEMA, table],
    ).fetchall()
    return [r[0] for r in rows]


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(existing_columns(con, table))


def read(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    where: str = "",
    params: Sequence[Any] = (),
    columns: Sequence[str] | None = None,
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """`select <columns> from marts.<table> [where …] [order by …]` with `?` parameters.

    `table`, `columns` and `order_by` must be names from `COLUMNS` (they are validated and quoted);
    `where` is SQL text written in this package, never data. Columns the table lacks come back null."""
    if table not in COLUMNS:
        raise ValueError(f"unknown mart {table!r}")
    wanted = list(columns or COLUMNS[table])
    unknown = [c for c in [*wanted, *order_by] if c not in COLUMNS[table]]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown} of {table}")
    present = existing_columns(con, table)
    if not present:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in wanted})
    select = [c for c in wanted if c in present]
    sql = f"select {', '.join(_quote(c) for c in select) or '1 as _none'} from {SCHEMA}.{_quote(table)}"  # noqa: S608 - validated identifiers
    if where:
        sql += f" where {where}"
    orders = [c for c in order_by if c in present]
    if orders:
        sql += " order by " + ", ".join(_quote(c) for c in orders)
    frame = con.sql(sql, params=list(params)).to_arrow_table().to_pandas()
    for c in wanted:
        if c not in frame.columns:
            frame[c] = None
    return frame[wanted]


def normalise_dates(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Turn timestamp/date-like columns into `datetime.date` objects (None when missing)."""
    for col in cols:
        if col in frame.columns:
            frame[col] = [_to_date(v) for v in frame[col]]
    return frame


def _to_date(value: Any) -> date | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return pd.Timestamp(value).date()


def definitions_on(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """One row per KPI: the version valid on `day` (else the nearest version)."""
    defs = normalise_dates(read(con, "kpi_definitions", order_by=("kpi_id", "valid_from")), "valid_from", "valid_to")
    if defs.empty:
        return defs
    rows = []
    for _, group in defs.groupby("kpi_id", sort=True):
        valid = group[[(vf is None or vf <= day) and (vt is None or vt > day)
                       for vf, vt in zip(group["valid_from"], group["valid_to"], strict=True)]]
        if valid.empty:
            before = group[[vf is None or vf <= day for vf in group["valid_from"]]]
            valid = before if not before.empty else group.head(1)
        rows.append(valid.iloc[-1])
    return pd.DataFrame(rows).reset_index(drop=True)


def _blank(value: Any) -> bool:
    return value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN/NA/NaT turned into None."""
    if frame.empty:
        return []
    cols = list(frame.columns)
    return [
        {c: (None if _blank(v) else v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
