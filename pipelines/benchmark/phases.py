"""A nightly run split into phases: extract, dbt build, checks, publish, reports, Dagster.

Inputs: the step start/end times from the Dagster event log and dbt's ``run_results.json`` (written
by the run's child process, :mod:`pipelines.benchmark.child`), and the process-tree samples. The dbt
step is split into models (build) and tests (checks): a test running while no model runs is check time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .sampler import Measured, TreeSampler


def dbt_timing(run_results: dict[str, Any]) -> dict[str, Any]:
    """Intervals of dbt nodes by kind (model / test / other), and per-node execution times."""
    kinds: dict[str, list[tuple[float, float]]] = {"model": [], "test": [], "other": []}
    nodes: list[tuple[str, float]] = []
    for result in run_results.get("results", []):
        uid = result.get("unique_id", "")
        kind = "test" if uid.startswith(("test.", "unit_test.")) else "model" if uid.startswith("model.") else "other"
        stamps = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        if not stamps:
            continue
        begin = min(_ts(t["started_at"]) for t in stamps)
        end = max(_ts(t["completed_at"]) for t in stamps)
        kinds[kind].append((begin, end))
        nodes.append((uid, round(float(result.get("execution_time") or 0.0), 3)))
    nodes.sort(key=lambda n: -n[1])
    return {"intervals": kinds, "elapsed": run_results.get("elapsed_time"), "slowest": nodes[:25],
            "node_count": len(nodes)}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


_PUBLISH_PREFIXES = ("serving__",)
_REPORT_PREFIXES = ("reports__", "alerts__")


def union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for begin, end in sorted(intervals):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def length(intervals: list[tuple[float, float]]) -> float:
    return sum(end - begin for begin, end in intervals)


def minus(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of the (merged) intervals ``a`` not covered by the (merged) intervals ``b``."""
    out: list[tuple[float, float]] = []
    for begin, end in a:
        cursor = begin
        for b0, b1 in b:
            if b1 <= cursor or b0 >= end:
                continue
            if b0 > cursor:
                out.append((cursor, b0))
            cursor = max(cursor, b1)
        if cursor < end:
            out.append((cursor, end))
    return out


def phases(measured: Measured, sampler: TreeSampler) -> dict[str, dict[str, float]]:
    """Wall / CPU / peak memory per phase of a nightly run, from the event log and the samples."""
    result = measured.result
    steps = {k: v for k, v in result.get("steps", {}).items() if "start" in v and "end" in v}
    windows: dict[str, list[tuple[float, float]]] = {
        "extract": [], "dbt build": [], "checks": [], "publish": [], "reports": []}
    dbt_step = next((k for k in steps if k.startswith("warehouse_dbt_assets")), None)
    for key, step in steps.items():
        span = (step["start"], step["end"])
        if key.startswith("raw_"):
            windows["extract"].append(span)
        elif key.startswith(_PUBLISH_PREFIXES):
            windows["publish"].append(span)
        elif key.startswith(_REPORT_PREFIXES):
            windows["reports"].append(span)
        elif key != dbt_step:
            windows.setdefault("other steps", []).append(span)
    dbt_info = result.get("dbt") or {}
    if dbt_step is not None:
        dbt_span = [(steps[dbt_step]["start"], steps[dbt_step]["end"])]
        tests = union([tuple(i) for i in (dbt_info.get("intervals") or {}).get("test", [])])
        models = union([tuple(i) for i in (dbt_info.get("intervals") or {}).get("model", [])]
                        + [tuple(i) for i in (dbt_info.get("intervals") or {}).get("other", [])])
        # a test running while no model runs is check time; everything else in the step is the build
        checks = minus(union([(max(a, dbt_span[0][0]), min(b, dbt_span[0][1])) for a, b in tests]), models)
        windows["checks"] = checks
        windows["dbt build"] = minus(dbt_span, checks)
    out: dict[str, dict[str, float]] = {}
    for name, spans in windows.items():
        spans = union(spans)
        wall = length(spans)
        cpu = sum(sampler.window(a, b)["cpu_s"] for a, b in spans)
        peak = max((sampler.window(a, b)["peak_mb"] for a, b in spans), default=0.0)
        out[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_mb": peak}
    covered = union([s for spans in windows.values() for s in spans])
    t0 = result.get("t_defs")
    t1 = result.get("t_done")
    if t0 and t1:
        gaps = minus([(t0, t1)], covered)
        out["dagster"] = {"wall_s": round(length(gaps), 1),
                          "cpu_s": round(sum(sampler.window(a, b)["cpu_s"] for a, b in gaps), 1),
                          "peak_mb": max((sampler.window(a, b)["peak_mb"] for a, b in gaps), default=0.0)}
        start = result.get("t_process", t0)
        out["python start-up"] = {"wall_s": round(t0 - start, 1),
                                  "cpu_s": sampler.window(start, t0)["cpu_s"],
                                  "peak_mb": sampler.window(start, t0)["peak_mb"]}
    engine = result.get("extract_engine_s") or {}
    if engine and "extract" in out:
        out["extract"]["engine_s"] = round(sum(engine.values()), 1)
        out["extract"]["materialization_events"] = sum((result.get("materializations") or {}).values())
    if dbt_step is not None:
        step = steps[dbt_step]
        firsts = [a for spans in (dbt_info.get("intervals") or {}).values() for a, _ in spans]
        out["dbt step"] = {"wall_s": round(step["end"] - step["start"], 1),
                           "cpu_s": sampler.window(step["start"], step["end"])["cpu_s"],
                           "peak_mb": sampler.window(step["start"], step["end"])["peak_mb"],
                           "startup_s": round(min(firsts) - step["start"], 1) if firsts else None}
    return out
