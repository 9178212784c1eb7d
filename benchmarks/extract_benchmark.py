"""Throughput of the extraction engine (not a test; speed is measured, never asserted).

    .venv/bin/python benchmarks/extract_benchmark.py [rows]

Builds a SQLite ERP with ``rows`` order lines over 30 local days, extracts them with one
``extract_partitions`` call and reports rows/s, then times the GX suite alone on the same batch.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines.extract import ExtractConfig, extract_partitions, get_source_table
from quality.contracts import get_contract
from quality.contracts.coerce import coerce_frame
from quality.contracts.suites import FutureBound, build_specs, run_specs


def build(path: Path, rows: int, days: int) -> None:
    contract = get_contract("erp.order_lines")
    con = sqlite3.connect(path)
    cols = ", ".join(f"{c.name} {'INTEGER' if c.type in ('int', 'flag') else 'REAL' if c.type == 'float' else 'TEXT'}"
                     for c in contract.columns)
    con.execute(f"CREATE TABLE order_lines ({cols})")
    con.execute("CREATE INDEX ix_ol_updated ON order_lines (updated_at)")
    start = datetime(2025, 1, 1) - timedelta(hours=8)
    step = days * 86400 / rows

    def gen():
        for i in range(rows):
            ts = (start + timedelta(seconds=i * step)).strftime("%Y-%m-%d %H:%M:%S")
            yield (f"O{i // 3:08d}-{i % 3 + 1}", f"O{i // 3:08d}", i % 3 + 1, f"P{i % 200:04d}", 1 + i % 9,
                   99.5, 0.05, 60.0, 0, ts, ts)
    con.executemany("INSERT INTO order_lines VALUES (?,?,?,?,?,?,?,?,?,?,?)", gen())
    con.commit()
    con.close()


def main(rows: int = 1_000_000, days: int = 30) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root / "erp.sqlite", rows, days)
        cfg = ExtractConfig(lake_dir=root / "lake", landing_dir=root, erp_url=f"sqlite:///{root / 'erp.sqlite'}",
                            hr_url=None, timezone="Asia/Shanghai", run_date=date(2025, 3, 1), chunk_days=days)
        dates = [date(2025, 1, 1) + timedelta(days=i) for i in range(days)]
        t = time.perf_counter()
        results = extract_partitions(get_source_table("erp.order_lines"), dates, cfg)
        elapsed = time.perf_counter() - t
        loaded = sum(r.rows_loaded for r in results)
        print(f"extract_partitions: {loaded:,} of {rows:,} order lines, {len(results)} partitions, "
              f"{elapsed:.1f} s = {loaded / elapsed:,.0f} rows/s")
        # GX alone on the typed batch
        import pandas as pd
        frame = pd.concat([pd.read_parquet(r.path) for r in results], ignore_index=True)
        contract = get_contract("erp.order_lines")
        typed, _ = coerce_frame(contract, frame[list(contract.column_names)].astype("object"), "Asia/Shanghai")
        specs = build_specs(contract, FutureBound(1, "Asia/Shanghai"))
        run_specs(contract, typed.head(10), specs)  # warm-up: GX import and context
        t = time.perf_counter()
        run_specs(contract, typed, specs)
        gx = time.perf_counter() - t
        print(f"GX suite ({len(specs)} expectations) on {len(typed):,} rows: {gx:.1f} s "
              f"= {gx * 1_000_000 / len(typed):.1f} s per 1M rows")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
