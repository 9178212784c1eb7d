"""An org unit's part of the marts: its subtree, the column each mart is scoped by, unit exports.

The subtree of a unit is the unit and every unit below it in the org structure as it stands — each
unit's latest row of ``dim_org_unit`` (the current one; for a closed unit, its last) and the parent
links of those rows. A mart is scoped by its ``org_unit_id`` column (``current_org_unit_id`` for
``dim_employee``); a mart with neither (the KPI catalog, the calendar, products, customers, the
data-quality logs) is the same for every unit and is published whole.

Used for PostgreSQL row-level security (:mod:`pipelines.publish.postgres`) and for the DuckDB /
Parquet copy of one unit (:func:`export_unit`, ``kpi publish --org X --to DIR``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from pipelines.publish._common import (
    PublishError,
    exchange_paths,
    fsync_dir,
    quote_ident,
    sql_literal,
)

log = logging.getLogger(__name__)

#: Columns that place a row in the org structure, in order of preference.
SCOPE_COLUMNS = ("org_unit_id", "current_org_unit_id")
ORG_TABLE = "dim_org_unit"
SCOPE_TABLE = "_scope"
SCOPE_DOCS = {
    "": "The org units this copy covers: the subtree of `root_org_unit_id` (every mart with an "
        "org_unit_id column holds only their rows).",
    "root_org_unit_id": "The org unit this copy was made for.",
    "org_unit_id": "An org unit in its subtree (the root included).",
}


class UnknownOrgUnit(PublishError):
    """The org unit named is not in the marts."""


def scope_column(columns: Iterable[str]) -> str | None:
    """The column a mart's rows are scoped by, or None (a mart every unit sees whole)."""
    present = set(columns)
    return next((c for c in SCOPE_COLUMNS if c in present), None)


def role_name(prefix: str, org_unit_id: str) -> str:
    """PostgreSQL role of an org unit: ``kpi_unit_`` + the id in lower case, other characters → ``_``."""
    return (prefix + re.sub(r"[^a-z0-9_]", "_", org_unit_id.lower()))[:63]


def subtree(con: duckdb.DuckDBPyConnection, org_unit_id: str, schema: str = "marts") -> list[str]:
    """The org unit and every unit below it (sorted); :class:`UnknownOrgUnit` if it is not in ``dim_org_unit``."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, ORG_TABLE]).fetchall()}
    if not {"org_unit_id", "parent_org_unit_id"} <= columns:
        raise PublishError(f"{schema}.{ORG_TABLE} with org_unit_id and parent_org_unit_id is needed to scope by org unit")
    latest = "valid_from DESC NULLS LAST" if "valid_from" in columns else "org_unit_id"
    org = f"{quote_ident(schema)}.{quote_ident(ORG_TABLE)}"
    # identifiers are fixed or validated above; the org unit is a parameter
    units = [r[0] for r in con.execute(
        f"""
        WITH RECURSIVE latest AS (
            SELECT org_unit_id, parent_org_unit_id FROM (
                SELECT org_unit_id, parent_org_unit_id,
                       row_number() OVER (PARTITION BY org_unit_id ORDER BY {latest}) AS rn
                FROM {org}) WHERE rn = 1
        ), tree(org_unit_id) AS (
            SELECT org_unit_id FROM latest WHERE org_unit_id = ?
            UNION
            SELECT l.org_unit_id FROM latest l JOIN tree t ON l.parent_org_unit_id = t.org_unit_id
        )
        SELECT org_unit_id FROM tree ORDER BY 1
        """,  # noqa: S608
        [org_unit_id]).fetchall()]
    if not units:
        known = [r[0] for r in con.execute(f"SELECT DISTINCT org_unit_id FROM {org} ORDER BY 1").fetchall()]  # noqa: S608
        sample = ", ".join(known[:8]) + (f", … ({len(known)} in all)" if len(known) > 8 else "")
        raise UnknownOrgUnit(f"org unit {org_unit_id!r} is not in {schema}.{ORG_TABLE} (known: {sample})")
    return units


def table_comments(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[str | None, dict[str, str]]:
    """(table comment, {column: comment}) of a DuckDB table."""
    row = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                      "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()
    columns = {c: doc for c, doc in con.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?", [schema, table]).fetchall() if doc}
    return (row[0] if row else None), columns


def export_unit(
    serving_db: Path,
    out_dir: Path,
    org_unit_id: str,
    *,
    schema: str = "marts",
    storage_version: str | None = None,
) -> dict[str, Any]:
    """The marts of ``org_unit_id``'s subtree as ``out_dir/kpi.duckdb`` and ``out_dir/parquet/<mart>/part-0.parquet``.

    Marts with a scope column keep only the subtree's rows; the others are copied whole; comments
    are kept; ``marts._scope`` lists the units. ``out_dir`` is replaced as a whole (built beside it,
    then renamed). Returns ``{"org_unit_id", "units", "tables": {mart: rows}, "path"}``.
    """
    serving_db, out_dir = Path(serving_db).resolve(), Path(out_dir)
    if not serving_db.is_file():
        raise PublishError(f"serving copy {serving_db} does not exist: run `kpi run` (or `kpi demo`) first")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".tmp-export-{out_dir.name}-{secrets.token_hex(4)}"
    (tmp / "parquet").mkdir(parents=True)
    tables: dict[str, int] = {}
    try:
        con = duckdb.connect(str(serving_db), read_only=True)
        try:
            units = subtree(con, org_unit_id, schema)
            options = "READ_ONLY false" + (f", STORAGE_VERSION {sql_literal(storage_version)}" if storage_version else "")
            con.execute(f"ATTACH ? AS unit_copy ({options})", [str(tmp / 'kpi.duckdb')])
            con.execute("CREATE TEMP TABLE kpi_scope AS SELECT unnest(?::VARCHAR[]) AS org_unit_id", [units])
            q_schema = quote_ident(schema)
            con.execute(f"CREATE SCHEMA unit_copy.{q_schema}")
            marts = [r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? "
                "ORDER BY 1", [schema]).fetchall()]
            for mart in marts:
                columns = [r[0] for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, mart]).fetchall()]
                column = scope_column(columns)
                where = f" WHERE {quote_ident(column)} IN (SELECT org_unit_id FROM kpi_scope)" if column else ""  # noqa: S608
                target = f"unit_copy.{q_schema}.{quote_ident(mart)}"
                # identifiers come from the serving copy's catalog and are quoted; the units are a temp table
                con.execute(f"CREATE TABLE {target} AS SELECT * FROM {q_schema}.{quote_ident(mart)}{where}")  # noqa: S608
                _copy_comments(con, schema, mart, target)
                tables[mart] = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]  # noqa: S608
            scope = f"unit_copy.{q_schema}.{quote_ident(SCOPE_TABLE)}"
            con.execute(f"CREATE TABLE {scope} AS SELECT ?::VARCHAR AS root_org_unit_id, org_unit_id "  # noqa: S608
                        "FROM kpi_scope", [org_unit_id])
            con.execute(f"COMMENT ON TABLE {scope} IS {sql_literal(SCOPE_DOCS[''])}")
            for name in ("root_org_unit_id", "org_unit_id"):
                con.execute(f"COMMENT ON COLUMN {scope}.{name} IS {sql_literal(SCOPE_DOCS[name])}")
            for mart in [*marts, SCOPE_TABLE]:
                folder = tmp / "parquet" / mart
                folder.mkdir()
                con.table(f"unit_copy.{q_schema}.{quote_ident(mart)}").write_parquet(
                    str(folder / "part-0.parquet"), compression="zstd")
            con.execute("CHECKPOINT unit_copy")
            con.execute("DETACH unit_copy")
        finally:
            con.close()
        os.chmod(tmp / "kpi.duckdb", 0o444)
        fsync_dir(tmp)
        _put_in_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported the marts of %s (%d units) to %s", org_unit_id, len(units), out_dir)
    return {"org_unit_id": org_unit_id, "units": units, "tables": tables, "path": str(out_dir)}


def _copy_comments(con: duckdb.DuckDBPyConnection, schema: str, mart: str, target: str) -> None:
    table_doc, column_docs = table_comments(con, schema, mart)
    if table_doc:
        con.execute(f"COMMENT ON TABLE {target} IS {sql_literal(table_doc)}")
    for column, doc in column_docs.items():
        con.execute(f"COMMENT ON COLUMN {target}.{quote_ident(column)} IS {sql_literal(doc)}")


def _put_in_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if not (out_dir / "kpi.duckdb").exists() and any(out_dir.iterdir()):
        raise PublishError(f"{out_dir} exists and is not an earlier unit export (no kpi.duckdb): choose an empty folder")
    if exchange_paths(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)  # `tmp` now holds the earlier export
        return
    old = out_dir.with_name(f".tmp-old-{out_dir.name}-{secrets.token_hex(4)}")
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    with contextlib.suppress(OSError):
        shutil.rmtree(old)


def scope_rows(con: duckdb.DuckDBPyConnection, units: Sequence[str], prefix: str,
               schema: str = "marts") -> list[tuple[str, str]]:
    """(role, org unit) for PostgreSQL row-level security: every unit's role with its subtree."""
    return [(role_name(prefix, unit), member) for unit in units for member in subtree(con, unit, schema)]
