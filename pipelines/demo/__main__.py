"""``python -m pipelines.demo --data-dir DIR --seed 42 --scale 1 --start 2024-01-01 --end 2025-11-19``."""

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
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .common import DemoConfigError
    from .generator import generate

    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    try:
        manifest = generate(args.data_dir, seed=args.seed, scale=args.scale, start=args.start, end=args.end,
                            timezone=args.timezone, erp_url=args.erp_url, hr_url=args.hr_url, progress=progress,
                            holidays_path=args.holidays)
    except DemoConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress(f"done: {len(manifest['files'])} files under {args.data_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
