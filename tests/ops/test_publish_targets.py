"""`kpi publish`, row-level security and `kpi rollback` on the real marts of the demo company, against
a real PostgreSQL server: every serving column documented, two departments each seeing their subtree,
every target moved together and named by `kpi rollback`.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql

from pipelines.publish import publish_duckdb
from pipelines.publish.postgres import conninfo_from_url
from tests.ops.conftest import REPO, BaseEnv, OpsEnv

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

UNITS = ("DEP-SALES-EAST", "DEP-MFG-PLANT1")


def _kpi(env: OpsEnv, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "kpi"), *args], cwd=REPO, env={**env.env(), **extra},
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def pg_db(postgres_url: str) -> str:
    name = f"serving_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo_from_url(postgres_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def _subtree(serving: Path, unit: str) -> set[str]:
    from pipelines.publish.scope import subtree

    with duckdb.connect(str(serving), read_only=True) as con:
        return set(subtree(con, unit))


def test_publish_rls_and_rollback_of_every_target(ops_base: BaseEnv, pg_db: str,
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    env = ops_base.env.copy(tmp_path_factory.mktemp("targets"))
    prefix = f"kpi_unit_{uuid.uuid4().hex[:4]}_"
    settings = {"KPI_SERVING_PG_URL": pg_db, "KPI_SERVING_PG_READER_PASSWORD": "reader-secret-1",
                "KPI_SERVING_PG_UNIT_ROLES": ",".join(UNITS), "KPI_SERVING_PG_UNIT_ROLE_PREFIX": prefix,
                "KPI_SERVING_PG_UNIT_PASSWORDS": json.dumps({unit: f"pw-{unit}" for unit in UNITS}),
                "KPI_SERVING_PG_READONLY_ROLE": f"reader_{prefix}"}
    base = ops_base.history_run["run_id"]

    proc = _kpi(env, settings, "publish")  # the night built without PostgreSQL, now into it: no re-run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"PostgreSQL \(schema marts\)\s+night {base[:8]}", proc.stdout), proc.stdout
    assert "reader-secret-1" not in proc.stdout + proc.stderr and "pw-DEP" not in proc.stdout + proc.stderr

    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        undocumented = admin.execute(
            "SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid WHERE n.nspname = 'marts' AND c.relkind = 'r' "
            "AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL").fetchall()
        columns = admin.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'marts'"
                                ).fetchone()[0]
        everything = {r[0] for r in admin.execute("SELECT DISTINCT org_unit_id FROM marts.kpi_actuals")}
    assert undocumented == [] and columns > 300
    with duckdb.connect(str(env.serving_file), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'marts' "
                           "AND comment IS NULL").fetchone()[0] == 0

    seen = {}
    for unit in UNITS:
        role = prefix + unit.lower().replace("-", "_")
        with psycopg.connect(conninfo_from_url(pg_db), user=role, autocommit=True) as conn:
            seen[unit] = {r[0] for r in conn.execute("SELECT DISTINCT org_unit_id FROM marts.kpi_actuals")}
            orders = {r[0] for r in conn.execute("SELECT DISTINCT org_unit_id FROM marts.fct_orders")}
        subtree = _subtree(env.serving_file, unit)
        assert seen[unit] and seen[unit] <= subtree and unit in seen[unit], (unit, seen[unit], subtree)
        assert orders <= subtree
    assert not seen[UNITS[0]] & seen[UNITS[1]]  # two departments, two disjoint subtrees
    assert everything > seen[UNITS[0]] | seen[UNITS[1]]
    with psycopg.connect(conninfo_from_url(pg_db), user=f"reader_{prefix}", autocommit=True) as reader:
        assert {r[0] for r in reader.execute("SELECT DISTINCT org_unit_id FROM marts.kpi_actuals")} == everything

    # a second night, published everywhere; then `kpi rollback` moves every target back, and says so
    publish_duckdb(env.warehouse, env.data_dir / "serving", run_id="second-night")
    assert _kpi(env, settings, "publish").returncode == 0
    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        assert admin.execute("SELECT DISTINCT run_id FROM marts._publish_info").fetchall() == [("second-night",)]
    proc = _kpi(env, settings, "rollback")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for target in ("DuckDB", "Parquet", "PostgreSQL"):
        assert re.search(rf"^  {target} \(.*?\)\s+night {base[:8]}", proc.stdout, flags=re.MULTILINE), proc.stdout
    with psycopg.connect(conninfo_from_url(pg_db), autocommit=True) as admin:
        assert admin.execute("SELECT DISTINCT run_id FROM marts._publish_info").fetchall() == [(base,)]
    status = _kpi(env, settings, "status").stdout
    assert re.search(rf"PostgreSQL \(schema marts\)\s+night {base[:8]}", status), status
