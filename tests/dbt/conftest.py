"""A warehouse built once per session from the mini lake (tests/fixtures/mini_lake.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from tests.dbt.dbt_helpers import DbtWorkspace, build_core, core_selection_args, run_dbt
from tests.fixtures.mini_lake import TIMEZONE, build_mini_lake


@dataclass(frozen=True)
class CoreWarehouse:
    workspace: DbtWorkspace
    expected: dict[str, Any]
    docs_ok: bool


@pytest.fixture(scope="session")
def core_warehouse(tmp_path_factory: pytest.TempPathFactory) -> CoreWarehouse:
    """Mini lake → ``dbt build`` of staging, intermediate and marts.core → ``dbt docs generate``."""
    root = tmp_path_factory.mktemp("core_warehouse")
    workspace = DbtWorkspace.under(root, timezone=TIMEZONE)
    expected = build_mini_lake(workspace.lake_dir)
    build_core(workspace)
    docs = run_dbt(workspace, "docs", "generate", *core_selection_args(), check=False)
    docs_ok = docs.returncode == 0 and (workspace.target_path / "catalog.json").exists()
    return CoreWarehouse(workspace, expected, docs_ok)


@pytest.fixture()
def wh(core_warehouse: CoreWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the session's warehouse."""
    con = duckdb.connect(str(core_warehouse.workspace.warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


@pytest.fixture()
def expected(core_warehouse: CoreWarehouse) -> dict[str, Any]:
    return core_warehouse.expected
