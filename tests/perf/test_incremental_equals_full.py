"""Done means: incremental = full rebuild — every mart hash-equal after 7 replayed nights.

A tiny demo company with its faithful history (scale 0.02, 2024-06-01 … 2024-07-30: its last week
has late landing files, order updates and cancellations, returns, tickets resolved later) is loaded
up to D = 2024-07-23, then replayed night by night as a deployment runs: before each night D+1 … D+7
the sources are rewritten as they stood at the end of that day (``write_sources_as_of``), the
late-files sensor is evaluated (its cursor kept) and the runs it requests for earlier days are
executed as requested, then the scheduled run of the day. The same warehouse is built from scratch
by one first load up to D+7 on the sources of D+7. Every table of schema ``marts`` must have the same
rows (order-insensitive hash, doubles to 12 significant digits, and where the hashes differ, doubles
within a relative 1e-9; ``tests/perf/replay.py`` lists the columns left out and why).

Then a night with no new data: the last partition again with the run date moved one day on. With
``KPI_DBT_SKIP_UNCHANGED`` (the default) dbt rebuilds only the date-dependent models; the marts must
equal those of the same night built in full (``KPI_DBT_SKIP_UNCHANGED=false``, on a copy).

Cost: 13 – 20 pipeline runs in child processes (without the publish steps), each dominated by
extraction, Dagster and the dbt build of ~450 nodes: 2.5 – 5 minutes each on the shared 2-core machine
(load average 10 – 18), so about an hour there. The same steps with 3 nights instead of 7
(``python -m tests.perf.replay WORK --nights 3``) gave equal marts.
``python -m tests.perf.replay WORK`` runs the same steps by hand and keeps the folders.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.perf import replay

pytestmark = [pytest.mark.slow, pytest.mark.long]  # make test-long

NIGHTS = 7
FIRST_LOAD_END = replay.END - timedelta(days=NIGHTS)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental_equals_full")
    project = replay.prepare_project(root)
    history = root / "history"
    replay.generate_history(history)
    inc = replay.incremental(root / "inc", project, history, FIRST_LOAD_END, NIGHTS)
    full = replay.full(root / "full", project, history, replay.END)
    return root, inc, full


def test_the_replay_had_late_files_and_later_changes(replayed):
    _, inc, _ = replayed
    nights = [entry for entry in inc.log if "day" in entry]
    assert len(nights) == NIGHTS
    assert any(n["late_runs"] for n in nights), nights  # a late file re-ran an earlier day
    assert all(n["landing_written"] for n in nights)


def test_incremental_nights_equal_a_full_build(replayed):
    _, inc, full = replayed
    nightly = replay.table_hashes(inc.warehouse)
    assert len(nightly) > 25 and nightly["marts.fct_orders"][0] > 0
    assert replay.differing_tables(inc.warehouse, full.warehouse) == {}


def test_a_night_without_new_data_rebuilds_less_and_equals_the_whole_build(replayed):
    root, inc, _ = replayed
    before = replay.table_hashes(inc.warehouse)
    selective, whole_run, whole = replay.no_data_night(inc, root / "no-data", replay.END,
                                                       replay.END + timedelta(days=1))
    assert selective["dbt"]["node_count"] < whole_run["dbt"]["node_count"] * 0.7, (selective["dbt"], whole_run["dbt"])
    after = replay.table_hashes(inc.warehouse)
    # the same marts; the selective build ran a subset of the checks, with the same outcomes
    assert replay.differing_tables(inc.warehouse, whole.warehouse, skip=("marts.dq_check_results",)) == {}
    assert replay.check_outcomes(inc.warehouse) < replay.check_outcomes(whole.warehouse)
    # the run date really moved: the running periods (and freshness) changed without new data
    assert {"marts.kpi_actuals", "marts.dq_freshness"} <= set(replay.differing(before, after))
