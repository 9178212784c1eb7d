"""Generating the ERP and HR databases into a real PostgreSQL server."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from pipelines.demo import generate

PARAMS = {"seed": 42, "scale": 0.01, "start": date(2024, 6, 20), "end": date(2024, 7, 10)}


@pytest.fixture()
def fresh_database(postgres_url: str):
    name = f"demo_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_generate_into_postgres(fresh_database, tmp_path):
    manifest = generate(tmp_path / "pg", erp_url=fresh_database, hr_url=fresh_database, **PARAMS)
    assert manifest["params"]["erp"] == "external" and manifest["params"]["hr"] == "external"
    assert "postgresql" not in str(manifest)  # never the URL
    assert not (tmp_path / "pg" / "sources").exists()
    sqlite_manifest = generate(tmp_path / "sqlite", **PARAMS)
    engine = sa.create_engine(fresh_database)
    try:
        with engine.connect() as con:
            for key, n in manifest["row_counts"].items():
                source, table = key.split(".", 1)
                if source in ("erp", "hr"):
                    assert con.execute(sa.text(f"select count(*) from {table}")).scalar() == n, key  # noqa: S608
            types = {(r[0], r[1]): r[2] for r in con.execute(sa.text(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'public'"))}
            null_keys = con.execute(sa.text("select count(*) from order_lines where order_line_id is null")).scalar()
            first = con.execute(sa.text("select min(order_ts) from orders")).scalar()
    finally:
        engine.dispose()
    assert types[("orders", "order_ts")] == "timestamp without time zone"
    assert types[("order_lines", "quantity")] == "bigint"
    assert types[("order_lines", "unit_price")] == "double precision"
    assert types[("org_units", "valid_from")] == "date"
    assert types[("training_records", "hours")] == "double precision"
    assert null_keys == 2
    assert first.year == 2024
    # the same company as in SQLite, except the one defect PostgreSQL's types cannot hold ('N/A' quantity)
    counts, sqlite_counts = manifest["row_counts"], sqlite_manifest["row_counts"]
    assert counts["erp.order_lines"] == sqlite_counts["erp.order_lines"] - 1
    assert {k: v for k, v in counts.items() if k != "erp.order_lines"} == {
        k: v for k, v in sqlite_counts.items() if k != "erp.order_lines"}
    assert manifest["ground_truth"]["defects"] == sqlite_manifest["ground_truth"]["defects"] - 1
