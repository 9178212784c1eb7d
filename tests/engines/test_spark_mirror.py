"""The Spark build's public tables into the DuckDB warehouse (pipelines/engines/spark.py), and the
settings that switch the engine. No Spark here: the folders are laid out as Spark writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.engines.compare import compare_warehouses
from pipelines.engines.spark import SparkMirrorError, mirror_into_duckdb
from pipelines.settings import Settings


def _spark_table(root: Path, schema: str, table: str, data: pa.Table, files: int = 2) -> Path:
    folder = root / f"{schema}.db" / table
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").touch()
    step = max(1, -(-data.num_rows // files))
    for i in range(files):
        pq.write_table(data.slice(i * step, step), folder / f"part-0000{i}-abc.c000.snappy.parquet")
    return folder


@pytest.fixture()
def spark_dir(tmp_path: Path) -> Path:
    root = tmp_path / "spark"
    _spark_table(root, "marts", "kpi_actuals", pa.table({
        "kpi_id": ["net_revenue", "net_revenue", "nps"],
        "period_start": [date(2025, 1, 1), date(2025, 2, 1), date(2025, 1, 1)],
        "actual_value": [1234.5, 99.25, 41.0],
        # Spark writes instants (isAdjustedToUTC): 08:00 in Shanghai is 00:00 UTC
        "loaded_at": pa.array([datetime(2025, 2, 1, 0, 0, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
    }))
    _spark_table(root, "reference", "cn_public_holidays", pa.table({"date": [date(2025, 1, 1)], "name": ["元旦"]}), 1)
    _spark_table(root, "intermediate", "int_kpi_spine", pa.table({"x": [1]}), 1)  # stays in Spark
    return root


def test_the_public_schemas_are_copied_with_plain_utc_timestamps(spark_dir: Path, tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # what the analytics step adds must survive the copy
        con.execute("create schema marts; create table marts.kpi_forecast as select 1 as kept")
    result = mirror_into_duckdb(spark_dir, warehouse)
    assert result.tables == {"marts.kpi_actuals": 3, "reference.cn_public_holidays": 1}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select data_type from information_schema.columns where table_name = 'kpi_actuals' "
                           "and column_name = 'loaded_at'").fetchone()[0] == "TIMESTAMP"
        assert con.execute("select distinct loaded_at from marts.kpi_actuals").fetchall() == [(datetime(2025, 2, 1),)]
        assert con.execute("select sum(actual_value) from marts.kpi_actuals").fetchone()[0] == 1374.75
        assert con.execute("select kept from marts.kpi_forecast").fetchall() == [(1,)]
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert "intermediate" not in schemas
    # the copy holds what Spark wrote
    diffs = compare_warehouses(spark_dir, warehouse, ["marts", "reference"], skip={"marts.kpi_forecast"})
    assert [d.table for d in diffs if d.same] == ["marts.kpi_actuals", "reference.cn_public_holidays"]


def test_a_table_that_cannot_be_read_leaves_the_previous_copy(spark_dir: Path, tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    mirror_into_duckdb(spark_dir, warehouse)
    broken = spark_dir / "marts.db" / "kpi_targets"
    broken.mkdir()
    (broken / "_SUCCESS").touch()
    for part in (spark_dir / "marts.db" / "kpi_actuals").glob("*.parquet"):
        part.unlink()
    pq.write_table(pa.table({"kpi_id": ["other"]}), spark_dir / "marts.db" / "kpi_actuals" / "part-0.parquet")
    with pytest.raises(SparkMirrorError, match=r"kpi_targets: a Spark table without a Parquet file"):
        mirror_into_duckdb(spark_dir, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:  # one transaction: nothing half-replaced
        assert con.execute("select count(*) from marts.kpi_actuals").fetchone()[0] == 3


def test_a_partitioned_table_is_read_with_its_partition_column_and_an_empty_one_from_its_schema_file(
        tmp_path: Path):
    """The incremental facts on Spark: ``<table>/<column>=<value>/part-*.parquet`` (the partition column
    only in the folder names, last in the table as Spark keeps it); without rows only ``_schema/``."""
    root = tmp_path / "spark"
    orders = root / "marts.db" / "fct_orders"
    for month, ids, amounts in (("2024-01-01", ["O1", "O2"], [10.0, 20.5]), ("2024-02-01", ["O3"], [7.25])):
        part = orders / f"order_month={month}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"order_id": ids, "order_net_amount": amounts}), part / "part-00000-x.c000.snappy.parquet")
    (orders / "_SUCCESS").touch()
    schema_dir = orders / "_schema"  # never read while partitions exist
    schema_dir.mkdir()
    pq.write_table(pa.table({"order_id": ["stale"], "order_net_amount": [0.0], "order_month": [date(2020, 1, 1)]}),
                   schema_dir / "part-0.parquet")
    tickets = root / "marts.db" / "fct_tickets" / "_schema"
    tickets.mkdir(parents=True)
    pq.write_table(pa.table({"ticket_id": pa.array([], pa.string()), "opened_month": pa.array([], pa.date32())}),
                   tickets / "part-00000-y.snappy.parquet")
    warehouse = tmp_path / "warehouse.duckdb"
    result = mirror_into_duckdb(root, warehouse, schemas=["marts"])
    assert result.tables == {"marts.fct_orders": 3, "marts.fct_tickets": 0}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select * from marts.fct_orders order by order_id").fetchall() == [
            ("O1", 10.0, date(2024, 1, 1)), ("O2", 20.5, date(2024, 1, 1)), ("O3", 7.25, date(2024, 2, 1))]
        assert [(r[0], r[1]) for r in con.execute("describe marts.fct_tickets").fetchall()] == [
            ("ticket_id", "VARCHAR"), ("opened_month", "DATE")]
    diffs = compare_warehouses(root, warehouse, ["marts"])
    assert [(d.table, d.same) for d in diffs] == [("marts.fct_orders", True), ("marts.fct_tickets", True)]


def test_partition_columns_keep_the_type_of_the_schema_file(tmp_path: Path):
    """Folder names alone would make ``year=2024`` a number; the schema file says it is text."""
    from pipelines.engines.spark import table_scan

    table = tmp_path / "marts.db" / "by_year"
    for year in ("2024", "2025"):
        (table / f"fiscal_year={year}").mkdir(parents=True)
        pq.write_table(pa.table({"x": [1]}), table / f"fiscal_year={year}" / "part-0.parquet")
    scan = table_scan(table)
    assert duckdb.execute(f"select typeof(fiscal_year) from {scan} limit 1").fetchone()[0] == "BIGINT"  # noqa: S608
    (table / "_schema").mkdir()
    pq.write_table(pa.table({"x": pa.array([], pa.int64()), "fiscal_year": pa.array([], pa.string())}),
                   table / "_schema" / "part-0.parquet")
    scan = table_scan(table)
    assert duckdb.execute(f"select fiscal_year from {scan} order by 1").fetchall() == [("2024",), ("2025",)]  # noqa: S608


def test_no_spark_tables_at_all_is_an_error_that_says_where(tmp_path: Path):
    with pytest.raises(SparkMirrorError, match=r"no table of schema marts, reference"):
        mirror_into_duckdb(tmp_path / "nothing", tmp_path / "w.duckdb")


def test_the_engine_setting_chooses_the_dbt_target_and_what_it_is_handed(tmp_path: Path):
    duck = Settings(data_dir=tmp_path)
    assert duck.dbt_target == "dev" and duck.dbt_target_path == Path("target")
    assert duck.dbt_env()["KPI_DBT_TARGET"] == "dev" and "KPI_SPARK_MASTER" not in duck.dbt_env()
    spark = Settings(data_dir=tmp_path, engine="spark", spark_master="spark://m:7077",
                     spark_lake_uri="s3a://bucket/lake")
    env = spark.dbt_env()
    assert spark.dbt_target_path == Path("target-spark")
    assert env["KPI_DBT_TARGET"] == "spark"
    assert env["KPI_SPARK_MASTER"] == "spark://m:7077"
    assert env["KPI_LAKE_DIR"] == "s3a://bucket/lake"  # Spark reads the lake where it lies
    assert env["KPI_SPARK_WAREHOUSE_DIR"] == str(tmp_path / "warehouse" / "spark")
    assert env["KPI_WAREHOUSE_PATH"] == str(tmp_path / "warehouse" / "warehouse.duckdb")  # the copy's file
    with pytest.raises(ValueError, match="engine"):
        Settings(data_dir=tmp_path, engine="trino")


def test_the_spark_step_copies_from_where_dbt_wrote_the_tables(tmp_path: Path):
    from pipelines.orchestration.resources import WarehouseResource

    settings = Settings(data_dir=tmp_path, engine="spark")
    resource = WarehouseResource.from_settings(settings)
    assert resource.spark_tables_dir() == settings.spark_warehouse_dir == tmp_path / "warehouse" / "spark"
    assert str(resource.spark_tables_dir()) == resource.dbt_env()["KPI_SPARK_WAREHOUSE_DIR"]
