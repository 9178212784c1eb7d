"""The incremental facts give the same tables as a full refresh.

Build the warehouse from the lake as it was on 2024-06-30, let the rest of the partitions arrive
(late updates of older orders, a return of a June order, a customer and a product changing, a
ticket resolved later...), run the incremental facts, and compare them row by row with the
session's full build of the complete lake.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests.dbt.dbt_helpers import DbtWorkspace, build_core, run_dbt, scalar
from tests.fixtures.mini_lake import TIMEZONE, build_mini_lake

pytestmark = pytest.mark.slow

INCREMENTAL_FACTS = ("fct_revenue_events", "fct_orders", "fct_tickets")


@pytest.fixture(scope="module")
def incremental_warehouse(tmp_path_factory, core_warehouse) -> DbtWorkspace:
    workspace = DbtWorkspace.under(tmp_path_factory.mktemp("incremental_warehouse"), timezone=TIMEZONE)
    build_mini_lake(workspace.lake_dir, until=date(2024, 6, 30))
    build_core(workspace)
    build_mini_lake(workspace.lake_dir)  # the later partitions arrive; earlier files are rewritten identically
    # no lookback: only what the change detection finds is recomputed (the strictest setting)
    run_dbt(workspace, "run", "--select", *(f"+{m}" for m in INCREMENTAL_FACTS),
            "--vars", '{"incremental_lookback_days": 0}')
    return workspace


def test_first_build_saw_only_the_first_half(tmp_path_factory):
    # sanity of the fixture itself: until= really cuts the lake
    workspace = DbtWorkspace.under(tmp_path_factory.mktemp("half_lake"), timezone=TIMEZONE)
    written = build_mini_lake(workspace.lake_dir, until=date(2024, 6, 30))
    assert max(max(p) for p in written["partitions"].values() if p) <= "2024-06-30"
    assert "2024-07-05" not in written["partitions"]["erp.orders"]


@pytest.mark.parametrize("fact", INCREMENTAL_FACTS)
def test_incremental_equals_full_refresh(incremental_warehouse, core_warehouse, fact):
    con = duckdb.connect()
    try:
        con.execute("attach ? as inc (read_only)", [str(incremental_warehouse.warehouse_path)])
        con.execute("attach ? as full_build (read_only)", [str(core_warehouse.workspace.warehouse_path)])
        only_inc = scalar(con, f"select count(*) from (select * from inc.marts.{fact} "  # noqa: S608 - fixed names
                               f"except all select * from full_build.marts.{fact})")
        only_full = scalar(con, f"select count(*) from (select * from full_build.marts.{fact} "  # noqa: S608
                                f"except all select * from inc.marts.{fact})")
        assert (only_inc, only_full) == (0, 0)
        assert scalar(con, f"select count(*) from inc.marts.{fact}") > 0  # noqa: S608
    finally:
        con.close()


def test_incremental_run_really_was_incremental(incremental_warehouse):
    log = (incremental_warehouse.log_path / "dbt.log").read_text(encoding="utf-8", errors="replace")
    # the second invocation merged into the existing tables (delete+insert) instead of rebuilding them
    assert "delete from" in log.lower()


def test_an_unchanged_fact_is_merged_not_rebuilt(incremental_warehouse):
    log = (incremental_warehouse.log_path / "dbt.log").read_text(encoding="utf-8", errors="replace")
    assert "rebuilt whole instead of merged" not in log


def test_a_fact_whose_columns_changed_is_rebuilt_whole(tmp_path, incremental_warehouse, core_warehouse):
    """An existing warehouse from a release with other fact columns (here: without `order_month`, with a
    column since dropped): the next night rebuilds the fact instead of failing on its schema
    (`on_schema_change: fail`) or leaving the new column null on old rows."""
    import shutil

    workspace = DbtWorkspace.under(tmp_path, lake_dir=incremental_warehouse.lake_dir, timezone=TIMEZONE)
    workspace.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(incremental_warehouse.warehouse_path, workspace.warehouse_path)
    with duckdb.connect(str(workspace.warehouse_path)) as con:
        con.execute("alter table marts.fct_orders drop column order_month")
        con.execute("alter table marts.fct_orders add column legacy_flag boolean")
        con.execute("delete from marts.fct_orders where order_id = 'O00000001'")  # would stay lost if merged
    result = run_dbt(workspace, "run", "--select", "fct_orders")
    assert "its columns changed (table: legacy_flag; model: order_month), rebuilt whole" in result.stdout
    con = duckdb.connect()
    try:
        con.execute("attach ? as rebuilt (read_only)", [str(workspace.warehouse_path)])
        con.execute("attach ? as full_build (read_only)", [str(core_warehouse.workspace.warehouse_path)])
        assert scalar(con, "select count(*) from (select * from rebuilt.marts.fct_orders "
                           "except all select * from full_build.marts.fct_orders)") == 0
        assert scalar(con, "select count(*) from (select * from full_build.marts.fct_orders "
                           "except all select * from rebuilt.marts.fct_orders)") == 0
    finally:
        con.close()
