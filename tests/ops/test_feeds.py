"""A night for which no source delivered anything: it must say so, not publish "ok, age 0"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.ops.conftest import END, HISTORY_END, BaseEnv

pytestmark = pytest.mark.slow


def test_a_night_past_the_data_says_so_and_its_values_are_unverified(ops_base: BaseEnv, tmp_path: Path) -> None:
    """The demo's sources end on 2024-07-30; the night of 2024-07-31 (a Wednesday) finds no landing
    file and no database change. Its partitions are written empty — so the feeds are not stale — but
    a feed that always delivers is missing, the facts stop a week before the run date, and the run's
    summary says both; the values of that day are unverified, with the reason."""
    env = ops_base.env.copy(tmp_path)
    day = END + timedelta(days=1)
    [run] = env.nightly("dead", "--partition", day.isoformat())
    assert run["success"], run["summary"]
    summary = run["summary"]
    assert "data warnings" in summary
    assert f"the run is for {day} but the latest business date in the facts is {HISTORY_END}" in summary
    warning = next(line for line in summary.splitlines() if "raw_erp/inventory_snapshots" in line)
    assert "no rows on 2024-07-31" in warning and "the feed may be dead" in warning
    with duckdb.connect(str(env.serving_file), read_only=True) as con:
        fresh = dict(con.execute("select \"table\", status from marts.dq_freshness where source = 'erp'").fetchall())
        assert fresh["inventory_snapshots"] == "missing"
        verified, reason = con.execute(
            "select is_verified, unverified_reason from marts.kpi_actuals where kpi_id = 'inventory_value' "
            "and org_unit_id = 'ACME' and grain = 'day' and period_start = ?", [day]).fetchone()
        assert verified is False
        assert "erp.inventory_snapshots: no rows delivered on 1 day(s) from 2024-07-31" in reason
