"""The PostgreSQL serving target: every mart of the serving copy in schema ``marts``, swapped atomically.

One transaction, so readers see the old ``marts`` or the new one, never a half-loaded or missing one:

1. ``pg_advisory_xact_lock`` — one publisher per database and schema;
2. ``CREATE SCHEMA marts__staging_<run>``; per mart ``CREATE TABLE`` (types below) and ``COPY … FROM
   STDIN (FORMAT csv)``, streamed from a CSV that DuckDB writes (no row-by-row INSERT); row counts
   checked against DuckDB; ``ANALYZE``;
3. ``ALTER SCHEMA marts RENAME TO marts__old_<run>``; ``ALTER SCHEMA marts__staging_<run> RENAME TO
   marts``; the read-only role's grants are (re-)applied; ``COMMIT``.

Renaming a schema takes no lock on its tables: a query running on the old tables finishes on them;
the next query resolves ``marts.x`` to the new table. The old schema is dropped after the commit with
a short ``lock_timeout`` (if a long reader still holds it, the next publish drops it).

Every table and column carries the comment of the DuckDB serving copy (the dbt docs).

Row-level security (``unit_roles``): each listed org unit gets a role (``kpi_unit_<id>``, LOGIN with
its password if one is given, else NOLOGIN — grant it to people's own logins), member of the group
role ``<readonly_role>_units``. Every mart with an ``org_unit_id`` column (``current_org_unit_id``
for ``dim_employee``) gets row-level security: the read-only role sees every row; a member of a unit
role sees the rows of that unit's subtree only (``marts._rls_scope`` lists role → org unit, built
from the org structure, see :mod:`pipelines.publish.scope`). Marts without such a column are the
same for everyone. The publishing user owns the tables and is not subject to the policies.

The read-only role (default ``kpi_reader``; created if missing, LOGIN only with a password) gets
CONNECT on the database, USAGE on ``marts`` and SELECT on its tables — nothing else: every privilege
it holds on other schemas is revoked on each publish (the replaced ``marts__old_*`` schema keeps its
grants until it is dropped right after the swap), and ``default_transaction_read_only`` is set.
The role is refused if it is a superuser or can create roles/databases, bypass RLS or replicate.
A password is sent as a SCRAM-SHA-256 verifier, never in clear text. Note: privileges PostgreSQL
grants to PUBLIC by default (USAGE on schema ``public``, TEMP on the database) apply to every role;
revoke them from PUBLIC in the serving database if it must be stricter.

Type mapping, DuckDB -> PostgreSQL (:data:`SCALAR_TYPES`, :func:`pg_column`):

============================================  ==========================================
DuckDB                                        PostgreSQL
============================================  ==========================================
BOOLEAN                                       boolean
TINYINT / SMALLINT / INTEGER / BIGINT         smallint / smallint / integer / bigint
UTINYINT / USMALLINT / UINTEGER / UBIGINT     smallint / integer / bigint / numeric(20,0)
HUGEINT / UHUGEINT                            numeric(39,0)
FLOAT / DOUBLE                                real / double precision (NaN, ±Infinity kept)
DECIMAL(p,s)                                  numeric(p,s)
VARCHAR, ENUM                                 text
JSON                                          jsonb
DATE / TIME / TIMETZ                          date / time / timetz
TIMESTAMP (_S, _MS, _NS)                      timestamp (without time zone; µs precision)
TIMESTAMP WITH TIME ZONE                      timestamptz (sent in UTC)
INTERVAL / UUID / BLOB / BIT                  interval / uuid / bytea / varbit
LIST or ARRAY of a scalar (e.g. VARCHAR[])    array of the mapped type (text[], date[], …)
STRUCT, MAP, UNION, nested LIST               jsonb (DuckDB's to_json)
anything else                                 text (DuckDB's text form)
============================================  ==========================================
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql

from pipelines.publish._common import (
    PublishError,
    PublishResult,
    check_identifier,
    mask_url,
    quote_ident,
    scrub,
)
from pipelines.publish.scope import role_name, scope_column, scope_rows, table_comments
from pipelines.publish.serving import PUBLISH_INFO_TABLE

log = logging.getLogger(__name__)

#: DuckDB type id -> PostgreSQL type, for types that are sent as DuckDB's plain text form.
SCALAR_TYPES: dict[str, str] = {
    "boolean": "boolean",
    "tinyint": "smallint",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "utinyint": "smallint",
    "usmallint": "integer",
    "uinteger": "bigint",
    "ubigint": "numeric(20,0)",
    "hugeint": "numeric(39,0)",
    "uhugeint": "numeric(39,0)",
    "float": "real",
    "double": "double precision",
    "varchar": "text",
    "enum": "text",
    "date": "date",
    "time": "time",
    "time with time zone": "timetz",
    "timestamp": "timestamp",
    "timestamp_s": "timestamp",
    "timestamp_ms": "timestamp",
    "timestamp_ns": "timestamp",
    "timestamp with time zone": "timestamptz",
    "interval": "interval",
    "uuid": "uuid",
    "bit": "varbit",
}
_NESTED = {"struct", "map", "union"}
RLS_SCOPE_TABLE = "_rls_scope"
RLS_SCOPE_DOCS = {
    "": "Row-level security: which org units each unit role sees (the unit's subtree).",
    "role_name": "PostgreSQL role of an org unit (kpi_unit_<id>).",
    "org_unit_id": "An org unit whose rows members of the role see.",
}
_CHUNK = 1 << 20


def pg_column(name: str, duck_type: Any) -> tuple[str, str]:
    """``(PostgreSQL type, DuckDB select expression)`` for one column; the expression renders a value
    in the text form PostgreSQL's CSV COPY reads for that type."""
    col = quote_ident(name)
    type_id = duck_type.id
    if str(duck_type).upper() == "JSON":
        return "jsonb", f"CAST({col} AS VARCHAR)"
    if type_id == "decimal":
        children = dict(duck_type.children)
        return f"numeric({children['precision']},{children['scale']})", col
    if type_id == "blob":
        return "bytea", f"'\\x' || hex({col})"
    if type_id in ("list", "array"):
        child = dict(duck_type.children)["child"]
        child_pg = SCALAR_TYPES.get(child.id)
        if child.id == "decimal":
            c = dict(child.children)
            child_pg = f"numeric({c['precision']},{c['scale']})"
        if child_pg is None or str(child).upper() == "JSON":
            return "jsonb", f"CAST(to_json({col}) AS VARCHAR)"
        as_list = f"CAST({col} AS {child}[])" if type_id == "array" else col
        element = (
            "CASE WHEN x IS NULL THEN 'NULL' ELSE "
            "'\"' || replace(replace(CAST(x AS VARCHAR), '\\', '\\\\'), '\"', '\\\"') || '\"' END"
        )
        literal = f"'{{' || array_to_string(list_transform({as_list}, lambda x: {element}), ',') || '}}'"
        return f"{child_pg}[]", f"CASE WHEN {col} IS NULL THEN NULL ELSE {literal} END"
    if type_id in _NESTED:
        return "jsonb", f"CAST(to_json({col}) AS VARCHAR)"
    if type_id in SCALAR_TYPES:
        pg = SCALAR_TYPES[type_id]
        return pg, (f"CAST({col} AS VARCHAR)" if type_id == "enum" else col)
    return "text", f"CAST({col} AS VARCHAR)"


def conninfo_from_url(pg_url: str) -> str:
    """Accept SQLAlchemy URLs (``postgresql+psycopg://…``) as well as libpq URIs / conninfo strings."""
    return re.sub(r"^postgres(?:ql)?\+[A-Za-z0-9_]+://", "postgresql://", pg_url.strip())


def publish_postgres(
    serving_db: Path,
    pg_url: str,
    *,
    schema: str = "marts",
    readonly_role: str = "kpi_reader",
    readonly_password: str | None = None,
    run_id: str | None = None,
    drop_timeout_seconds: float = 5.0,
    unit_roles: Mapping[str, str | None] | None = None,
    unit_role_prefix: str = "kpi_unit_",
) -> PublishResult:
    """Load every table of ``schema`` in the DuckDB ``serving_db`` into PostgreSQL ``schema`` (atomic swap).

    ``pg_url`` may hold a password: it is never logged, stored or put in an error message (masked).
    ``run_id`` defaults to the serving copy's ``_publish_info.run_id``. ``unit_roles``: org unit id →
    password (or None) of the units that get a row-level-security role.
    """
    started = time.perf_counter()
    check_identifier(schema, "schema")
    check_identifier(readonly_role, "read-only role")
    check_identifier(unit_role_prefix + "x", "unit role prefix")
    unit_roles = dict(unit_roles or {})
    serving_db = Path(serving_db)
    if not serving_db.is_file():
        raise PublishError(f"serving copy {serving_db} does not exist: publish the DuckDB copy first")
    serving_db = serving_db.resolve()  # one night, even if the link moves while we read
    safe_url = mask_url(pg_url)
    secrets_in_play = [_password_of(pg_url), readonly_password, *unit_roles.values()]

    duck = duckdb.connect(str(serving_db), read_only=True)
    try:
        duck.execute("SET TimeZone = 'UTC'")
        marts = _marts(duck, serving_db, schema)
        if run_id is None:
            run_id = _serving_run_id(duck, schema, marts)
        run_id = run_id or "manual"
        tables: dict[str, int] = {}
        notes: list[str] = []
        try:
            with psycopg.connect(
                conninfo_from_url(pg_url), application_name="kpi-publish", autocommit=True
            ) as conn:
                _load_and_swap(conn, duck, marts, schema, run_id, readonly_role, readonly_password, unit_roles,
                               unit_role_prefix, tables, notes)
                notes += _drop_old_schemas(conn, schema, drop_timeout_seconds)
        except psycopg.Error as exc:
            message = scrub(str(exc).strip(), secrets_in_play)
            raise PublishError(f"publishing {serving_db} to {safe_url} schema {schema!r} failed: {message}") from None
    finally:
        duck.close()

    duration = time.perf_counter() - started
    log.info(
        "published %d tables (%d rows) to %s schema %s in %.2fs (run %s)",
        len(tables), sum(tables.values()), safe_url, schema, duration, run_id,
    )
    return PublishResult(
        target="postgres",
        run_id=run_id,
        location=f"{safe_url} schema {schema}",
        tables=tables,
        duration_seconds=round(duration, 3),
        notes=notes,
    )


def _marts(duck: duckdb.DuckDBPyConnection, serving_db: Path, schema: str) -> list[str]:
    """The tables of ``schema`` in the serving copy (there must be some)."""
    marts = [
        r[0]
        for r in duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
            [schema],
        ).fetchall()
    ]
    if not marts:
        raise PublishError(f"{serving_db}: schema {schema!r} has no tables to publish")
    return marts


def _serving_run_id(duck: duckdb.DuckDBPyConnection, schema: str, marts: list[str]) -> str | None:
    """The serving copy's ``_publish_info.run_id`` (None without that table)."""
    if PUBLISH_INFO_TABLE not in marts:
        return None
    return duck.execute(
        f"SELECT max(run_id) FROM {quote_ident(schema)}.{quote_ident(PUBLISH_INFO_TABLE)}"  # noqa: S608
    ).fetchall()[0][0]


def _load_and_swap(
    conn: psycopg.Connection[Any],
    duck: duckdb.DuckDBPyConnection,
    marts: list[str],
    schema: str,
    run_id: str,
    readonly_role: str,
    readonly_password: str | None,
    unit_roles: Mapping[str, str | None],
    unit_role_prefix: str,
    tables: dict[str, int],
    notes: list[str],
) -> None:
    """In one transaction: load every mart into a staging schema, set up the roles (and row-level
    security), rename ``schema`` away and the staging schema to ``schema``, grant. Fills in
    ``tables`` (mart -> rows) and ``notes``."""
    suffix = (re.sub(r"[^a-z0-9_]", "_", run_id.lower())[:24] + "_" + os.urandom(3).hex()).strip("_")
    staging = f"{schema}__staging_{suffix}"[:63]
    old = f"{schema}__old_{suffix}"[:63]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kpi-publish:{schema}"])
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
        scoped: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="kpi-pg-publish-") as tmp:
            for mart in marts:
                tables[mart], column = _load_table(duck, cur, schema, mart, staging, Path(tmp))
                if column:
                    scoped[mart] = column
        _ensure_role(cur, readonly_role, readonly_password, notes)
        group = f"{readonly_role}_units"
        if unit_roles:
            rows = scope_rows(duck, list(unit_roles), unit_role_prefix, schema)
            _row_level_security(cur, staging, scoped, rows, readonly_role, group, unit_roles,
                                unit_role_prefix, notes)
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        if cur.fetchone():
            cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(schema), sql.Identifier(old)))
        cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging), sql.Identifier(schema)))
        _apply_grants(cur, schema, readonly_role)
        if unit_roles:
            _apply_grants(cur, schema, group)


def _password_of(pg_url: str) -> str | None:
    match = re.match(r"^[a-z0-9+]+://[^:/@]*:([^@]*)@", pg_url.strip(), flags=re.IGNORECASE)
    if match:
        from urllib.parse import unquote

        return unquote(match.group(1)) or None
    match = re.search(r"password\s*=\s*('[^']*'|\S+)", pg_url, flags=re.IGNORECASE)
    return match.group(1).strip("'") if match else None


def _load_table(
    duck: duckdb.DuckDBPyConnection, cur: psycopg.Cursor[Any], schema: str, mart: str, staging: str, tmp: Path
) -> tuple[int, str | None]:
    """Create and fill one table; (rows, the column its rows are scoped by or None)."""
    relation = duck.table(f"{quote_ident(schema)}.{quote_ident(mart)}")
    columns = list(zip(relation.columns, relation.types, strict=True))
    mapped = [(name, *pg_column(name, duck_type)) for name, duck_type in columns]
    cur.execute(
        sql.SQL("CREATE TABLE {}.{} ({})").format(
            sql.Identifier(staging),
            sql.Identifier(mart),
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type, _ in mapped
            ),
        )
    )
    table_doc, column_docs = table_comments(duck, schema, mart)
    _comment(cur, staging, mart, table_doc, column_docs)
    csv_path = tmp / f"{mart}.csv"
    select = ", ".join(f"{expr} AS {quote_ident(name)}" for name, _, expr in mapped)
    # identifiers come from the serving copy's catalog and are quoted; no value is pasted
    duck.sql(
        f"SELECT {select} FROM {quote_ident(schema)}.{quote_ident(mart)}"  # noqa: S608
    ).write_csv(str(csv_path), header=False)
    expected = duck.execute(
        f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(mart)}"  # noqa: S608
    ).fetchall()[0][0]
    copy_sql = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')").format(
        sql.Identifier(staging),
        sql.Identifier(mart),
        sql.SQL(", ").join(sql.Identifier(name) for name, _, _ in mapped),
    )
    with open(csv_path, "rb") as fh, cur.copy(copy_sql) as copy:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            copy.write(chunk)
    loaded = cur.rowcount
    csv_path.unlink()
    if loaded != expected:
        raise PublishError(f"{schema}.{mart}: COPY loaded {loaded} rows, the serving copy has {expected}")
    cur.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(staging), sql.Identifier(mart)))
    return int(loaded), scope_column(name for name, _, _ in mapped)


def _comment(cur: psycopg.Cursor[Any], schema: str, table: str, table_doc: str | None,
             column_docs: Mapping[str, str]) -> None:
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    if table_doc:
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(table_doc)))
    for column, doc in column_docs.items():
        cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(target, sql.Identifier(column), sql.Literal(doc)))


def _row_level_security(
    cur: psycopg.Cursor[Any],
    staging: str,
    scoped: Mapping[str, str],
    rows: list[tuple[str, str]],
    reader: str,
    group: str,
    unit_roles: Mapping[str, str | None],
    prefix: str,
    notes: list[str],
) -> None:
    """Unit roles in ``group``; the scope table; a policy per scoped table: ``reader`` sees every row,
    members of a unit role the rows of its subtree."""
    _ensure_role(cur, group, None, notes)
    for unit, password in unit_roles.items():
        role = role_name(prefix, unit)
        _ensure_role(cur, role, password, notes)
        cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    scope = sql.SQL("{}.{}").format(sql.Identifier(staging), sql.Identifier(RLS_SCOPE_TABLE))
    cur.execute(sql.SQL("CREATE TABLE {} (role_name text NOT NULL, org_unit_id text NOT NULL, "
                        "PRIMARY KEY (role_name, org_unit_id))").format(scope))
    cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(scope), rows)
    _comment(cur, staging, RLS_SCOPE_TABLE, RLS_SCOPE_DOCS[""], {k: v for k, v in RLS_SCOPE_DOCS.items() if k})
    member_of = sql.SQL("pg_has_role((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = role_name), 'MEMBER')")
    policies = {RLS_SCOPE_TABLE: member_of}
    for table, column in scoped.items():
        policies[table] = sql.SQL(
            "{} IN (SELECT s.org_unit_id FROM {} s JOIN pg_catalog.pg_roles r ON r.rolname = s.role_name "
            "WHERE pg_has_role(r.oid, 'MEMBER'))").format(sql.Identifier(column), scope)
    for table, condition in policies.items():
        target = sql.SQL("{}.{}").format(sql.Identifier(staging), sql.Identifier(table))
        cur.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(target))
        cur.execute(sql.SQL("CREATE POLICY kpi_all_rows ON {} FOR SELECT TO {} USING (true)").format(
            target, sql.Identifier(reader)))
        cur.execute(sql.SQL("CREATE POLICY kpi_unit_subtree ON {} FOR SELECT TO {} USING ({})").format(
            target, sql.Identifier(group), condition))
    notes.append(f"row-level security on {len(scoped)} tables for {len(unit_roles)} unit role(s)")


def _password_verifier(cur: psycopg.Cursor[Any], role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for the password, computed by libpq on this side
    (``PQencryptPasswordConn``), so the clear text never travels."""
    verifier = cur.connection.pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8"),
                                                      b"scram-sha-256")
    return verifier.decode("ascii")


def _ensure_role(cur: psycopg.Cursor[Any], role: str, password: str | None, notes: list[str]) -> None:
    cur.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication FROM pg_roles WHERE rolname = %s",
        [role],
    )
    found = cur.fetchone()
    ident = sql.Identifier(role)
    if found is None:
        login = (
            sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(_password_verifier(cur, role, password)))
            if password
            else sql.SQL("NOLOGIN")
        )
        cur.execute(
            sql.SQL(
                "CREATE ROLE {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            ).format(ident, login)
        )
        notes.append(f"created role {role}")
    else:
        if any(found):
            raise PublishError(
                f"role {role!r} has superuser/createrole/createdb/bypassrls/replication attributes; "
                "refusing to use it as the read-only role"
            )
        if password:
            cur.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    ident, sql.Literal(_password_verifier(cur, role, password)))
            )
    cur.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        [role],
    )
    memberships = sorted(r[0] for r in cur.fetchall())
    broad = [m for m in memberships if m in ("pg_read_all_data", "pg_write_all_data", "pg_write_server_files")]
    if broad:
        raise PublishError(f"role {role!r} is a member of {broad}: it would not be read-only on marts only")
    if memberships:
        notes.append(f"role {role} is also a member of {', '.join(memberships)}")
    cur.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident))


def _apply_grants(cur: psycopg.Cursor[Any], schema: str, role: str) -> None:
    ident = sql.Identifier(role)
    cur.execute("SELECT current_database()")
    database = cur.fetchone()[0]
    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), ident))
    cur.execute(sql.SQL("REVOKE CREATE, TEMPORARY ON DATABASE {} FROM {}").format(sql.Identifier(database), ident))
    cur.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname <> %s AND nspname NOT LIKE 'pg\\_%%' "
        "AND nspname <> 'information_schema' AND left(nspname, length(%s)) <> %s",
        [schema, f"{schema}__", f"{schema}__"],
    )
    for (other,) in cur.fetchall():
        other_ident = sql.Identifier(other)
        cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(other_ident, ident))
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(other_ident, ident))
        cur.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(other_ident, ident))
    schema_ident = sql.Identifier(schema)
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema_ident))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_ident, ident))
    cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_ident, ident))


def _drop_old_schemas(conn: psycopg.Connection[Any], schema: str, timeout: float) -> list[str]:
    """Drop replaced schemas (this publish's and any a killed publish left). A reader still on an old
    table holds it; then the drop gives up after ``timeout`` and a later publish retries."""
    notes = []
    with conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace ORDER BY nspname")
        names = [r[0] for r in cur.fetchall()]
    leftovers = [n for n in names if n.startswith((f"{schema}__old_", f"{schema}__staging_"))]
    for name in leftovers:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(timeout * 1000)}ms")))
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        except psycopg.errors.LockNotAvailable:
            notes.append(f"schema {name} is still in use by a reader; it will be dropped by the next publish")
    return notes

