"""``python -m pipelines.demo --data-dir DIR --seed 42 --scale 1 --start 2024-01-01 --end 2025-11-19``.

With ``--history`` the generation also records its faithful history; then
``python -m pipelines.demo --history-dir DIR --data-dir OUT --as-of 2025-11-12`` writes the sources as
they stood at the end of that day into ``OUT`` (the generation parameters come from ``DIR``).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from .company import DEFAULT_END, DEFAULT_START


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.demo",
                                description="Generate the demo company's source systems and ground truth.")
    p.add_argument("--data-dir", type=Path, required=True, help="root folder (sources/, landing/, ground_truth/)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier (1 ≈ 1M order lines)")
    p.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first business date")
    p.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last business date")
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--erp-url", default=None, help="SQLAlchemy URL instead of sources/erp.sqlite")
    p.add_argument("--hr-url", default=None, help="SQLAlchemy URL instead of sources/hr.sqlite")
    p.add_argument("--holidays", type=Path, default=None, help="holiday seed CSV (default: the dbt seed)")
    p.add_argument("--history", action="store_true",
                   help="also record the faithful history under DATA_DIR/history (for --as-of)")
    p.add_argument("--as-of", type=date.fromisoformat, default=None,
                   help="instead of generating: write the sources of --history-dir as of the end of this "
                        "local day into --data-dir")
    p.add_argument("--history-dir", type=Path, default=None, help="a generation made with --history")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .common import DemoConfigError
    from .generator import generate

    if (args.as_of is None) != (args.history_dir is None):
        parser.error("--as-of and --history-dir go together")

    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    try:
        if args.as_of is not None:
            from .as_of import write_sources_as_of

            result = write_sources_as_of(args.history_dir, args.data_dir, args.as_of)
            progress(f"sources as of {args.as_of}: {sum(result.row_counts.values()):,} database rows, "
                     f"{result.landing_files:,} landing files ({len(result.written)} written, "
                     f"{len(result.removed)} removed) under {args.data_dir}")
            return 0
        manifest = generate(args.data_dir, seed=args.seed, scale=args.scale, start=args.start, end=args.end,
                            timezone=args.timezone, erp_url=args.erp_url, hr_url=args.hr_url, progress=progress,
                            holidays_path=args.holidays, history=args.history)
    except DemoConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress(f"done: {len(manifest['files'])} files under {args.data_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
