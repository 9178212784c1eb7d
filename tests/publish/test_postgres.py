from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pipelines.publish import PublishError, publish_duckdb, publish_postgres
from pipelines.publish.postgres import conninfo_from_url
from tests.publish._synthetic import build_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROLE = "kpi_reader_publish_test"


@pytest.fixture
def pg_db(postgres_url: str) -> str:
    """A database of its own for each test (SQLAlchemy-style URL, like settings.serving_pg_url)."""
    name = f"publish_{uuid.uuid4().hex[:8]}"
    admin = conninfo_from_url(postgres_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def serving_copy(warehouse: Path, serving_dir: Path) -> Path:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    return serving_dir / "kpi.duckdb"


def _connect(url: str, **kwargs: object) -> psycopg.Connection:
    return psycopg.connect(conninfo_from_url(url), autocommit=True, **kwargs)


def _as_reader(url: str) -> psycopg.Connection:
    return psycopg.connect(conninfo_from_url(url), user=ROLE, password="reader-pw", autocommit=True)


def test_marts_are_loaded_with_mapped_types(serving_copy: Path, pg_db: str) -> None:
    result = publish_postgres(serving_copy, pg_db, readonly_role=ROLE, readonly_password="reader-pw")
    assert result.tables["fct_big"] == 1000 and result.tables["kpi_attainment"] == 36
    assert result.run_id == "run-1"
    with _connect(pg_db) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, format_type(a.atttypid, a.atttypmod) "
                "FROM information_schema.columns c JOIN pg_attribute a "
                "ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass "
                "AND a.attname = c.column_name WHERE c.table_schema = 'marts'"
            ).fetchall()
        )
        assert types["kpi_definitions.valid_from"] == "date"
        assert types["kpi_definitions.is_current"] == "boolean"
        assert types["kpi_definitions.grains"] == "text[]"
        assert types["kpi_definitions.target_rule"] == "jsonb"
        assert types["kpi_definitions.amber_threshold"] == "numeric(5,2)"
        assert types["kpi_attainment.computed_at"] == "timestamp with time zone"
        assert types["kpi_attainment.actual_value"] == "double precision"
        assert types["fct_big.event_id"] == "bigint"
        assert types["_publish_info.masked_columns"] == "text[]"

        row = conn.execute(
            "SELECT grains, target_rule, amber_threshold, valid_to FROM marts.kpi_definitions"
        ).fetchone()
        assert row == (["month", "quarter", "year"], {"rule": "growth", "value": 0.1}, Decimal("0.90"), None)
        assert conn.execute("SELECT DISTINCT computed_at FROM marts.kpi_attainment").fetchall() == [
            (datetime(2025, 11, 19, 18, 30, tzinfo=UTC),)
        ]
        # masked in DuckDB -> masked in PostgreSQL; empty string vs NULL kept apart
        assert conn.execute(
            "SELECT full_name, full_name_zh FROM marts.dim_employee WHERE employee_id = 'E00124'"
        ).fetchone() == ("Employee E00124", None)
        assert conn.execute(
            "SELECT comment FROM marts.kpi_checkins WHERE org_unit_id = 'TM-SE-1'"
        ).fetchone() == ('Big deal slipped to December; "pipeline" ok',)
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'marts%'")}
        assert schemas == {"marts"}  # no staging or old schema left behind


def test_type_mapping_of_every_duckdb_type(tmp_path: Path, pg_db: str) -> None:
    import duckdb

    db = tmp_path / "types.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        """
        CREATE TABLE marts.t AS SELECT * FROM (VALUES
          (true, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UBIGINT, 6::HUGEINT, 1.5::FLOAT, 'nan'::DOUBLE,
           12.345::DECIMAL(10, 3), '', DATE '2024-02-29', TIME '23:59:59', TIMESTAMP '2024-01-01 08:00:00',
           TIMESTAMPTZ '2024-01-01 08:00:00+08', INTERVAL 1 DAY + INTERVAL 2 HOUR, '\\x00\\xFF'::BLOB,
           ['a"b', NULL, 'c\\d', ''], [DATE '2024-01-01'], [[1, 2], [3]], {'k': [1, 2]}, MAP(['x'], [1]),
           '{"a": [1]}'::JSON, 'inf'::DOUBLE),
          (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, '-inf'::DOUBLE)
        ) v(b, ti, si, i, bi, ubi, hi, f, d, dec, s, dt, tm, ts, tstz, iv, bl, sl, dl, ll, st, mp, js, d2)
        """
    )
    con.close()
    result = publish_postgres(db, pg_db, readonly_role=ROLE)
    assert result.tables == {"t": 2}
    with _connect(pg_db) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        row = conn.execute("SELECT * FROM marts.t WHERE b").fetchone()
        nulls = conn.execute("SELECT * FROM marts.t WHERE b IS NULL").fetchone()
    (b, ti, si, i, bi, ubi, hi, f, d, dec, s, dt, tm, ts, tstz, iv, bl, sl, dl, ll, st, mp, js, d2) = row
    assert (b, ti, si, i, bi, ubi, hi, f) == (True, 1, 2, 3, 4, 5, 6, 1.5)
    assert d != d and d2 == float("inf")  # NaN, Infinity
    assert dec == Decimal("12.345") and s == ""
    assert dt == date(2024, 2, 29) and str(tm) == "23:59:59"
    assert ts == datetime(2024, 1, 1, 8) and tstz == datetime(2024, 1, 1, 0, tzinfo=UTC)
    assert iv.days == 1 and iv.seconds == 7200
    assert bl == b"\x00\xff"
    assert sl == ['a"b', None, "c\\d", ""]
    assert dl == [date(2024, 1, 1)]
    assert ll == [[1, 2], [3]]  # nested list -> jsonb
    assert st == {"k": [1, 2]} and mp == {"x": 1} and js == {"a": [1]}
    assert all(v is None for v in nulls[:-1]) and nulls[-1] == float("-inf")


def test_concurrent_reader_never_sees_a_missing_table(warehouse: Path, serving_dir: Path, pg_db: str) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-0")
    serving = serving_dir / "kpi.duckdb"
    publish_postgres(serving, pg_db, readonly_role=ROLE, readonly_password="reader-pw")
    stop = threading.Event()
    errors: list[str] = []
    seen: list[tuple[str, ...]] = []

    def read_loop() -> None:
        with _as_reader(pg_db) as conn:
            while not stop.is_set():
                try:
                    runs = conn.execute(
                        "SELECT array_agg(DISTINCT r) FROM ("
                        " SELECT build_run_id AS r FROM marts.fct_big"
                        " UNION ALL SELECT build_run_id FROM marts.kpi_attainment"
                        " UNION ALL SELECT build_run_id FROM marts.dim_employee) x"
                    ).fetchone()[0]
                    seen.append(tuple(runs))
                except psycopg.Error as exc:
                    errors.append(repr(exc))

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for i in range(1, 7):
            build_warehouse(warehouse, f"run-{i}", big_rows=50_000 + i)
            publish_duckdb(warehouse, serving_dir, run_id=f"run-{i}")
            publish_postgres(serving, pg_db, readonly_role=ROLE, readonly_password="reader-pw")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert all(len(runs) == 1 for runs in seen)  # one statement never mixes two publishes
    assert len({runs[0] for runs in seen}) >= 3
    with _connect(pg_db) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'marts\\_\\_%'").fetchall()
    assert left == []


def test_read_only_role_reads_marts_and_nothing_else(serving_copy: Path, pg_db: str) -> None:
    with _connect(pg_db) as conn:
        conn.execute("CREATE SCHEMA raw")
        conn.execute("CREATE TABLE raw.hr_employees AS SELECT 'E00001' AS employee_id, 'Alice Wang' AS full_name")
        conn.execute("CREATE TABLE public.notes AS SELECT 1 AS x")
    publish_postgres(serving_copy, pg_db, readonly_role=ROLE, readonly_password="reader-pw")

    with _connect(pg_db) as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [ROLE]).fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$") and "reader-pw" not in stored

    with _as_reader(pg_db) as reader:
        assert reader.execute("SELECT count(*) FROM marts.fct_big").fetchone() == (1000,)
        denied = [
            "SELECT * FROM raw.hr_employees",
            "SELECT * FROM public.notes",
            "CREATE TABLE marts.evil (x int)",
            "CREATE SCHEMA evil",
            "INSERT INTO marts.fct_big (event_id) VALUES (1)",
            "UPDATE marts.fct_big SET amount = 0",
            "DELETE FROM marts.fct_big",
            "TRUNCATE marts.fct_big",
        ]
        # the role's sessions are read-only by default ...
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute("INSERT INTO marts.fct_big (event_id) VALUES (1)")
        # ... and even in a read-write transaction the privileges are not there
        reader.execute("SET default_transaction_read_only = off")
        for statement in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
        visible = {
            r[0] for r in reader.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema')"
            )
        }
        assert visible == {"marts"}


def test_grants_are_re_applied_on_every_publish(serving_copy: Path, pg_db: str) -> None:
    publish_postgres(serving_copy, pg_db, readonly_role=ROLE, readonly_password="reader-pw")
    with _connect(pg_db) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute("CREATE TABLE raw.secrets AS SELECT 1 AS x")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA raw TO {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON raw.secrets TO {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("REVOKE SELECT ON marts.fct_big FROM {}").format(sql.Identifier(ROLE)))
    publish_postgres(serving_copy, pg_db, readonly_role=ROLE, readonly_password="reader-pw")
    with _as_reader(pg_db) as reader:
        assert reader.execute("SELECT count(*) FROM marts.fct_big").fetchone() == (1000,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT * FROM raw.secrets")


def test_a_superuser_is_refused_as_the_read_only_role(serving_copy: Path, pg_db: str) -> None:
    with _connect(pg_db) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE too_mighty SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    with pytest.raises(PublishError, match="refusing to use it as the read-only role"):
        publish_postgres(serving_copy, pg_db, readonly_role="too_mighty")
    with _connect(pg_db) as conn:  # the failed publish changed nothing
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'marts%'").fetchone() == (0,)


def test_password_never_appears_in_results_messages_or_logs(
    serving_copy: Path, pg_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with_password = pg_db.replace("://kpi@", "://kpi:Sup3r-s3cret@")
    result = publish_postgres(serving_copy, with_password, readonly_role=ROLE, readonly_password="reader-pw")
    assert "Sup3r-s3cret" not in repr(result.to_dict()) and "***" in result.location
    unreachable = "postgresql+psycopg://kpi:Sup3r-s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(PublishError) as failed:
        publish_postgres(serving_copy, unreachable, readonly_role=ROLE, readonly_password="reader-pw")
    assert "Sup3r-s3cret" not in str(failed.value) and "kpi:***@127.0.0.1:1" in str(failed.value)
    assert "Sup3r-s3cret" not in caplog.text and "reader-pw" not in caplog.text


def test_publish_result_counts_the_rows_of_every_table_it_loaded(serving_copy: Path, pg_db: str) -> None:
    import duckdb

    result = publish_postgres(serving_copy, pg_db, readonly_role=ROLE)
    with duckdb.connect(str(serving_copy), read_only=True) as duck:
        marts = [r[0] for r in duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()]
        in_serving = {t: duck.execute(f'SELECT count(*) FROM marts."{t}"').fetchall()[0][0] for t in marts}  # noqa: S608
    with _connect(pg_db) as conn:
        in_postgres = {t: conn.execute(sql.SQL("SELECT count(*) FROM marts.{}").format(sql.Identifier(t))).fetchone()[0]
                       for t in marts}
    assert result.tables == in_serving == in_postgres
    assert result.tables["fct_big"] == 1000
    assert result.total_rows == sum(in_serving.values())
