"""Time `reports.build_all` on a synthetic company of about the demo's scale-1 size.

Not a test (speed goals are measured, never asserted): run it by hand, e.g.

    .venv/bin/python benchmarks/reports_benchmark.py --db /tmp/bench_marts.duckdb

The synthetic warehouse (37 org units, 24 KPIs, two years of daily facts) takes a few minutes to
generate the first time; pass the same `--db` again to reuse it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the synthetic warehouse is the tests' fixture (tests/ is no package)
    sys.path.insert(0, str(REPO))

import reports  # noqa: E402
from tests.fixtures.synthetic_marts import AS_OF, build_synthetic_marts, write_synthetic_quarantine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench_marts.duckdb")
    parser.add_argument("--extra-departments", type=int, default=6)
    parser.add_argument("--extra-kpis", type=int, default=18)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="kpi-reports-")))
    args = parser.parse_args()
    if not args.db.exists():
        start = time.perf_counter()
        build_synthetic_marts(args.db, extra_departments=args.extra_departments, extra_kpis=args.extra_kpis)
        print(f"synthetic marts: {time.perf_counter() - start:.1f} s → {args.db}")
    quarantine = args.out / "_quarantine"
    write_synthetic_quarantine(quarantine)
    con = duckdb.connect(str(args.db), read_only=True)
    units = con.execute("select count(distinct org_unit_id) from marts.dim_org_unit").fetchone()[0]
    kpis = con.execute("select count(distinct kpi_id) from marts.kpi_definitions").fetchone()[0]
    for lang in ("en", "zh"):
        start = time.perf_counter()
        paths = reports.build_all(con, args.out / lang, as_of=AS_OF, lang=lang, quarantine_dir=quarantine)
        elapsed = time.perf_counter() - start
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"build_all lang={lang}: {elapsed:.2f} s for {len(paths)} pages ({size:.1f} MB), "
              f"{units} org units, {kpis} KPIs → {args.out / lang}")
    con.close()


if __name__ == "__main__":
    main()
