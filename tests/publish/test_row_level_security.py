"""BI users of one org unit see only their subtree in PostgreSQL; column comments travel with the marts.

A real PostgreSQL server (tests/conftest.py ``postgres_url``), a serving copy with two departments
under one division: each department's role sees its own rows and its teams', the read-only role sees
everything, and a DuckDB/Parquet copy for one unit holds the same rows as that unit's role sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql

from pipelines.publish import publish_duckdb, publish_postgres
from pipelines.publish.postgres import conninfo_from_url
from pipelines.publish.scope import UnknownOrgUnit, export_unit

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

READER = "kpi_reader_rls_test"
PREFIX = "kpi_unit_rls_"
#: DIV-SALES has two departments: DEP-A (with team TM-A1) and DEP-B.
UNITS = [("DEP-A", "DIV-SALES"), ("TM-A1", "DEP-A"), ("DEP-B", "DIV-SALES")]


def _two_departments(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        for unit, parent in UNITS:
            con.execute("INSERT INTO marts.dim_org_unit VALUES (?, ?, NULL, 3, 'run-1')", [unit, parent])
        con.execute("""
            INSERT INTO marts.kpi_attainment
            SELECT kpi_id, u.unit, grain, period_start, actual_value, target_value, attainment, status,
                   is_complete, computed_at, build_run_id
            FROM marts.kpi_attainment, (VALUES ('DEP-A'), ('TM-A1'), ('DEP-B')) u(unit)
            WHERE org_unit_id = 'ACME'
        """)
        con.execute("COMMENT ON TABLE marts.kpi_attainment IS 'Attainment per KPI, org unit and period.'")
        con.execute("COMMENT ON COLUMN marts.kpi_attainment.org_unit_id IS 'Org unit the value is for.'")
        con.execute("CHECKPOINT")
    finally:
        con.close()


@pytest.fixture
def pg_db(postgres_url: str) -> str:
    name = f"rls_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo_from_url(postgres_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def serving_copy(warehouse: Path, serving_dir: Path) -> Path:
    _two_departments(warehouse)
    publish_duckdb(warehouse, serving_dir, run_id="run-1",
                   table_docs={"fct_big": "A big fact."}, column_docs={"fct_big": {"event_id": "Event id."}})
    return serving_dir / "kpi.duckdb"


def _as(url: str, user: str) -> psycopg.Connection:
    return psycopg.connect(conninfo_from_url(url), user=user, autocommit=True)


def _units(conn: psycopg.Connection, table: str) -> set[str]:
    query = sql.SQL("SELECT DISTINCT org_unit_id FROM marts.{}").format(sql.Identifier(table))
    return {r[0] for r in conn.execute(query).fetchall()}


def test_each_department_sees_its_subtree_and_the_reader_sees_all(serving_copy: Path, pg_db: str) -> None:
    result = publish_postgres(serving_copy, pg_db, readonly_role=READER, readonly_password="reader-pw",
                              unit_roles={"DEP-A": "a-secret", "DEP-B": None}, unit_role_prefix=PREFIX)
    assert any("row-level security on" in n for n in result.notes)
    everything = {"ACME", "DIV-SALES", "TM-SE-1", "DEP-A", "TM-A1", "DEP-B"}
    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS rls_alice")
        admin.execute("CREATE ROLE rls_alice LOGIN")  # a person of DEP-B with her own login
        admin.execute(sql.SQL("GRANT {} TO rls_alice").format(sql.Identifier(PREFIX + "dep_b")))
        logins = dict(admin.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE %s",
                                    [PREFIX + "%"]).fetchall())
    assert logins == {PREFIX + "dep_a": True, PREFIX + "dep_b": False}  # a password gives a login

    with _as(pg_db, PREFIX + "dep_a") as dep_a:
        assert _units(dep_a, "kpi_attainment") == {"DEP-A", "TM-A1"}
        assert _units(dep_a, "dim_org_unit") == {"DEP-A", "TM-A1"}
        assert dep_a.execute("SELECT count(*) FROM marts.kpi_attainment").fetchone() == (24,)
        assert dep_a.execute("SELECT count(*) FROM marts.kpi_definitions").fetchone() == (1,)  # not scoped
        assert dep_a.execute("SELECT count(*) FROM marts.fct_big").fetchone() == (1000,)  # not scoped
        assert {r[0] for r in dep_a.execute("SELECT DISTINCT role_name FROM marts._rls_scope")} == {PREFIX + "dep_a"}
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            dep_a.execute("DELETE FROM marts.kpi_attainment")
    with _as(pg_db, "rls_alice") as alice:
        assert _units(alice, "kpi_attainment") == {"DEP-B"}
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        _as(pg_db, PREFIX + "dep_b")
    with _as(pg_db, READER) as reader:
        assert _units(reader, "kpi_attainment") == everything
        assert reader.execute("SELECT count(*) FROM marts.kpi_attainment").fetchone() == (72,)

    # the next night's publish keeps it so (policies, roles and grants are rebuilt with the marts)
    publish_postgres(serving_copy, pg_db, readonly_role=READER, unit_roles={"DEP-A": None, "DEP-B": None},
                     unit_role_prefix=PREFIX)
    with _as(pg_db, PREFIX + "dep_a") as dep_a:
        assert _units(dep_a, "kpi_attainment") == {"DEP-A", "TM-A1"}


def test_reader_password_is_stored_as_a_verifier_of_the_setting(serving_copy: Path, pg_db: str) -> None:
    publish_postgres(serving_copy, pg_db, readonly_role=READER, readonly_password="reader-pw")
    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        can_login, stored = admin.execute("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s",
                                          [READER]).fetchone()
    assert can_login
    method, rest = stored.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", b"reader-pw", base64.b64decode(salt), int(iterations))
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert method == "SCRAM-SHA-256" and keys.split(":")[0] == base64.b64encode(stored_key).decode()


def test_every_postgres_column_carries_its_comment(serving_copy: Path, pg_db: str) -> None:
    publish_postgres(serving_copy, pg_db, readonly_role=READER, unit_roles={"DEP-A": None},
                     unit_role_prefix=PREFIX)
    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        docs = dict(admin.execute(
            "SELECT c.relname || '.' || a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = 'marts' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped").fetchall())
        tables = dict(admin.execute("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'marts' "
                                    "AND c.relkind = 'r'").fetchall())
    assert docs["kpi_attainment.org_unit_id"] == "Org unit the value is for."
    assert docs["fct_big.event_id"] == "Event id."
    assert docs["_publish_info.run_id"].startswith("Dagster run id")
    assert docs["_rls_scope.role_name"].startswith("PostgreSQL role")
    assert tables["kpi_attainment"] == "Attainment per KPI, org unit and period."
    assert tables["_publish_info"] and tables["_rls_scope"]


def test_a_unit_export_holds_what_the_unit_role_sees(serving_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "dep-a"
    result = export_unit(serving_copy, out, "DEP-A")
    assert result["units"] == ["DEP-A", "TM-A1"]
    con = duckdb.connect(str(out / "kpi.duckdb"), read_only=True)
    try:
        assert {r[0] for r in con.execute("SELECT DISTINCT org_unit_id FROM marts.kpi_attainment").fetchall()} == {
            "DEP-A", "TM-A1"}
        assert con.execute("SELECT count(*) FROM marts.fct_big").fetchone() == (1000,)
        assert {r[0] for r in con.execute("SELECT current_org_unit_id FROM marts.dim_employee").fetchall()} == set()
        assert con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'kpi_attainment' "
                           "AND column_name = 'org_unit_id'").fetchone() == ("Org unit the value is for.",)
    finally:
        con.close()
    part = str(out / "parquet" / "kpi_attainment" / "part-0.parquet")
    assert duckdb.execute("SELECT count(*) FROM read_parquet(?)", [part]).fetchone() == (24,)
    # again over the same folder: replaced whole
    export_unit(serving_copy, out, "DEP-B")
    assert duckdb.execute("SELECT DISTINCT org_unit_id FROM read_parquet(?)", [part]).fetchall() == [("DEP-B",)]
    with pytest.raises(UnknownOrgUnit, match=r"org unit 'NOPE' is not in marts.dim_org_unit \(known: ACME, DEP-A"):
        export_unit(serving_copy, out, "NOPE")
