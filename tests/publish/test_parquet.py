from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.publish import PublishError, export_parquet, publish_duckdb
from tests.publish._synthetic import build_warehouse


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@contextlib.contextmanager
def _reading_meanwhile(read: Callable[[duckdb.DuckDBPyConnection], object]) -> Iterator[tuple[list, list[str]]]:
    """Call ``read(con)`` in a loop on another thread while the block runs; yield (results, errors)."""
    stop = threading.Event()
    results: list = []
    errors: list[str] = []

    def loop() -> None:
        con = duckdb.connect()
        while not stop.is_set():
            try:
                results.append(read(con))
            except Exception as exc:  # the caller's assertion reports it
                errors.append(repr(exc))
        con.close()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield results, errors
    finally:
        stop.set()
        thread.join()


def test_every_mart_round_trips_through_parquet(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    serving = serving_dir / "kpi.duckdb"
    out = serving_dir / "parquet"
    written = export_parquet(serving, out)

    con = duckdb.connect(str(serving), read_only=True)
    try:
        marts = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        assert sorted(written) == marts
        for mart in marts:
            folder = out / mart
            assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
            order = "ORDER BY ALL"
            expected = _rows(con, f'SELECT * FROM marts."{mart}" {order}')  # noqa: S608
            actual = _rows(con, f"SELECT * FROM read_parquet('{folder / 'part-0.parquet'}') {order}")  # noqa: S608
            assert actual == expected, mart
            assert written[mart]["rows"] == len(expected)
            # same column types, lists / structs / decimals / timestamptz included
            types = con.execute(f'DESCRIBE SELECT * FROM marts."{mart}"').fetchall()  # noqa: S608
            parquet_types = con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{folder / 'part-0.parquet'}')"  # noqa: S608
            ).fetchall()
            assert [t[:2] for t in parquet_types] == [t[:2] for t in types]
    finally:
        con.close()
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["run_id"] == "run-1" and manifest["marts"]["fct_big"]["rows"] == 1000


def test_re_export_swaps_each_folder_and_drops_marts_that_are_gone(
    warehouse: Path, serving_dir: Path
) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    out = serving_dir / "parquet"
    export_parquet(serving_dir / "kpi.duckdb", out)

    build_warehouse(warehouse, "run-2", big_rows=55)
    con = duckdb.connect(str(warehouse))
    con.execute("DROP TABLE marts.kpi_checkins")
    con.close()
    publish_duckdb(warehouse, serving_dir, run_id="run-2")
    written = export_parquet(serving_dir / "kpi.duckdb", out)

    assert "kpi_checkins" not in written and not (out / "kpi_checkins").exists()
    part = str(out / "fct_big" / "part-0.parquet")
    assert duckdb.execute("SELECT count(*), min(build_run_id) FROM read_parquet(?)", [part]).fetchall() == [
        (55, "run-2")
    ]
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.slow
def test_readers_always_find_a_complete_file_while_exporting(warehouse: Path, serving_dir: Path) -> None:
    build_warehouse(warehouse, "run-1", big_rows=200_000)
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    out = serving_dir / "parquet"
    export_parquet(serving_dir / "kpi.duckdb", out)
    part = out / "fct_big" / "part-0.parquet"
    with _reading_meanwhile(
            lambda con: con.execute("SELECT count(*) FROM read_parquet(?)", [str(part)]).fetchall()[0][0]
    ) as (seen, errors):
        for i in range(2, 7):
            build_warehouse(warehouse, f"run-{i}", big_rows=200_000 + i)
            publish_duckdb(warehouse, serving_dir, run_id=f"run-{i}")
            export_parquet(serving_dir / "kpi.duckdb", out)
    assert errors == []
    assert set(seen) <= {200_000 + i for i in range(1, 7)} | {200_000}
    assert len(set(seen)) >= 3


def test_export_needs_a_serving_copy(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="does not exist"):
        export_parquet(tmp_path / "kpi.duckdb", tmp_path / "parquet")


@pytest.mark.slow
def test_a_reader_of_several_marts_never_sees_two_nights_mixed(warehouse: Path, serving_dir: Path) -> None:
    """All marts of a night switch at once: a reader that resolves ``parquet/`` once and reads two
    marts gets both from one night, while nights are exported under it (the one-folder-per-mart
    swap mixed nights in 4 of 1,530 such reads, issue 16)."""
    build_warehouse(warehouse, "run-1", big_rows=100_000)
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    out = serving_dir / "parquet"
    export_parquet(serving_dir / "kpi.duckdb", out)

    def read_two_nights(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
        base = Path(os.path.realpath(out))  # one resolution: one night
        return tuple(r[0] for r in con.execute(
            "SELECT DISTINCT build_run_id FROM read_parquet(?) UNION "
            "SELECT DISTINCT build_run_id FROM read_parquet(?) UNION "
            "SELECT DISTINCT build_run_id FROM read_parquet(?)",
            [str(base / m / "part-0.parquet") for m in ("dim_employee", "kpi_attainment", "fct_big")],
        ).fetchall())

    with _reading_meanwhile(read_two_nights) as (reads, errors):
        for i in range(2, 8):
            build_warehouse(warehouse, f"run-{i}", big_rows=100_000 + i)
            publish_duckdb(warehouse, serving_dir, run_id=f"run-{i}", keep=3)
            export_parquet(serving_dir / "kpi.duckdb", out, keep_runs=[f"run-{i - 1}", f"run-{i}"])
    assert errors == []
    mixed = [r for r in reads if len(r) != 1]
    assert mixed == [], f"{len(mixed)} of {len(reads)} reads mixed two nights: {mixed[:3]}"
    assert len({r[0] for r in reads}) >= 3 and len(reads) > 50
    # older nights are removed once they are no longer kept; the link names the last one
    assert sorted(p.name for p in (serving_dir / "parquet-nights").iterdir() if not p.name.startswith(".")) == [
        "run-6", "run-7"]
    assert os.readlink(out) == "parquet-nights/run-7"


def test_a_kept_night_is_switched_back_without_rewriting_it(warehouse: Path, serving_dir: Path) -> None:
    publish_duckdb(warehouse, serving_dir, run_id="run-1")
    out = serving_dir / "parquet"
    export_parquet(serving_dir / "kpi.duckdb", out)
    first = (serving_dir / "parquet-nights" / "run-1" / "fct_big" / "part-0.parquet").stat().st_ino
    build_warehouse(warehouse, "run-2", big_rows=5)
    publish_duckdb(warehouse, serving_dir, run_id="run-2")
    export_parquet(serving_dir / "kpi.duckdb", out)
    assert json.loads((out / "_manifest.json").read_text())["run_id"] == "run-2"
    export_parquet(serving_dir / "nights" / "kpi-run-1.duckdb", out)  # a roll-back of the Parquet target
    assert os.readlink(out) == "parquet-nights/run-1"
    assert (out / "fct_big" / "part-0.parquet").stat().st_ino == first
