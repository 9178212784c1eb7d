"""Analyst query latency on the published serving copy (the example queries of ``docs/queries.sql``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import duckdb


def analyst_queries(path: Path) -> list[str]:
    """The statements of a SQL file (comments dropped)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def time_queries(serving_db: Path, queries_path: Path, runs: int) -> dict[str, Any]:
    """p50 / p95 of each example query (warm, one read-only connection) and the first (cold) run."""
    per_query = []
    every: list[float] = []
    with duckdb.connect(str(serving_db), read_only=True) as con:
        for i, sql in enumerate(analyst_queries(queries_path), start=1):
            times = []
            cold = None
            for n in range(runs + 1):
                started = time.perf_counter()
                rows = con.execute(sql).fetchall()
                elapsed = (time.perf_counter() - started) * 1000
                if n == 0:
                    cold = elapsed
                else:
                    times.append(elapsed)
            every.extend(times)
            per_query.append({"query": i, "rows": len(rows), "cold_ms": round(cold or 0, 2),
                              "p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2)})
    return {"queries": per_query, "p50_ms": round(percentile(every, 50), 2), "p95_ms": round(percentile(every, 95), 2),
            "max_query_p95_ms": max((q["p95_ms"] for q in per_query), default=0.0), "runs": runs}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
