"""The benchmark's report: ratios, the goals table of issue 14 (now / goal / met?) and the Markdown."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from .compare import same_text

#: the scale the goals are set for
GOAL_SCALE = 10.0


@dataclass(frozen=True)
class Goal:
    name: str
    now: str
    goal: str
    met: bool | None  # None: not measured in this run

    @property
    def mark(self) -> str:
        return "–" if self.met is None else "yes" if self.met else "**no**"


def _div(a: float | None, b: float | None) -> float | None:
    """a / b to three significant digits (None when either is missing or b is 0)."""
    if a is None or b is None or b == 0:
        return None
    return float(f"{a / b:.3g}")


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"


def _step(run: dict[str, Any] | None, phase: str, key: str = "wall_s") -> float | None:
    entry = (run or {}).get("phases", {}).get(phase)
    return entry.get(key) if entry else None


def night_walls(scale: dict[str, Any]) -> list[float]:
    return [n["total"]["wall_s"] for n in scale.get("replay", [])]


def ratios(scales: list[dict[str, Any]], fixed: dict[str, Any] | None) -> dict[str, Any]:
    """Ratios within this benchmark run, per scale and across scales."""
    out: dict[str, Any] = {"per_scale": {}}
    fixed_run = (fixed or {}).get("run")
    fixed_dbt = _step(fixed_run, "dbt step")
    for s in scales:
        first = s["first_load"]
        dbt_wall, dbt_peak = _step(first, "dbt step"), _step(first, "dbt step", "peak_mb")
        floor = s["floor"]["query_s"]
        r: dict[str, Any] = {
            "dbt_step_over_floor": _div(dbt_wall, floor),
            "dbt_data_dependent_s": round(dbt_wall - fixed_dbt, 1) if dbt_wall and fixed_dbt else None,
        }
        # the fixed run is measured on its own: on a busy machine it can take longer than a small
        # scale's whole dbt step, and a negative "data-dependent" time means nothing
        dependent = r["dbt_data_dependent_s"]
        r["dbt_data_dependent_over_floor"] = _div(dependent, floor) if dependent and dependent > 0 else None
        if "pandas" in s:
            r["pandas_over_floor"] = _div(s["pandas"]["compute_s"], floor)
            r["pandas_time_over_engine"] = _div(s["pandas"]["compute_s"], dbt_wall)
            r["pandas_mem_over_engine"] = _div(s["pandas"]["peak_mb"], dbt_peak)
        walls = night_walls(s)
        if walls:
            r["night_median_s"] = round(statistics.median(walls), 1)
            r["night_median_over_first_load"] = _div(r["night_median_s"], first["total"]["wall_s"])
            r["night_scheduled_median_s"] = round(statistics.median(
                n["scheduled"]["total"]["wall_s"] for n in s["replay"]), 1)
            r["night_peak_mb"] = max(n["total"]["peak_mb"] for n in s["replay"])
        out["per_scale"][f"{s['scale']:g}"] = r
    by_scale = {s["scale"]: s for s in scales}
    if 1 in by_scale and GOAL_SCALE in by_scale:
        a, b = by_scale[1], by_scale[GOAL_SCALE]
        out["scale10_over_scale1"] = {
            "first_load": _div(b["first_load"]["total"]["wall_s"], a["first_load"]["total"]["wall_s"]),
            "first_load_cpu": _div(b["first_load"]["total"]["cpu_s"], a["first_load"]["total"]["cpu_s"]),
            "extract": _div(_step(b["first_load"], "extract"), _step(a["first_load"], "extract")),
            "dbt_step": _div(_step(b["first_load"], "dbt step"), _step(a["first_load"], "dbt step")),
            "floor": _div(b["floor"]["query_s"], a["floor"]["query_s"]),
        }
    out["fixed_dbt_step_s"] = fixed_dbt
    out["fixed_nightly_s"] = (fixed_run or {}).get("total", {}).get("wall_s")
    return out


def goals(report: dict[str, Any]) -> list[Goal]:
    """The goals of issue 14, measured at the largest scale of this run."""
    s = max(report["scales"], key=lambda x: x["scale"])
    r = report["ratios"]["per_scale"][f"{s['scale']:g}"]
    first = s["first_load"]["total"]
    out = [Goal("first load, full history", f"{first['wall_s']:.0f} s · {first['peak_mb'] / 1024:.1f} GB",
                "≤ 300 s · ≤ 4 GB", first["wall_s"] <= 300 and first["peak_mb"] <= 4 * 1024)]
    median = r.get("night_median_s")
    share = r.get("night_median_over_first_load")
    skipped = sum(len(n["sensor"]["for_earlier_days"]) for n in s.get("replay", []) if not n.get("late_runs"))
    night_now = "–" if median is None else f"{median:.1f} s ({share:.0%} of the first load)"
    if median is not None and skipped:
        night_now += f"; scheduled runs only: {skipped} runs the sensor requested for earlier days not run"
    out.append(Goal(f"one replayed night (median of {len(night_walls(s))})", night_now,
                    "≤ 10% of the first load, and ≤ 45 s",
                    None if median is None else bool(share <= 0.10 and median <= 45)))
    rerun = (s.get("no_new_data") or {}).get("total", {}).get("wall_s")
    out.append(Goal("night with no new data", "–" if rerun is None else f"{rerun:.1f} s", "≤ 15 s",
                    None if rerun is None else rerun <= 15))
    dd = r.get("dbt_data_dependent_over_floor")
    if dd is None and r.get("dbt_data_dependent_s") is not None:
        now = (f"not measurable: first-load dbt step − fixed dbt step = {r['dbt_data_dependent_s']:g} s "
               f"(floor {s['floor']['query_s']:g} s)")
    else:
        now = "–" if dd is None else f"{dd:g}×"
    out.append(Goal("dbt data-dependent time / floor", now, "≤ 3×", None if dd is None else dd <= 3))
    pt, pm = r.get("pandas_time_over_engine"), r.get("pandas_mem_over_engine")
    out.append(Goal("pandas / our engine (dbt step), same KPIs",
                    "–" if pt is None else f"time {pt:g}×, memory {_num(pm)}×", "≥ 3× time, ≥ 2× memory",
                    None if pt is None or pm is None else pt >= 3 and pm >= 2))
    growth = (report["ratios"].get("scale10_over_scale1") or {}).get("first_load")
    out.append(Goal("time(scale 10) / time(scale 1), first load", _num(growth), "≤ 12",
                    None if growth is None else growth <= 12))
    p95 = (s.get("queries") or {}).get("p95_ms")
    out.append(Goal("analyst query p95 on the serving copy", "–" if p95 is None else f"{p95:.1f} ms", "≤ 50 ms",
                    None if p95 is None else p95 <= 50))
    return out


def goals_table(report: dict[str, Any]) -> list[str]:
    s = max(report["scales"], key=lambda x: x["scale"])
    lines = [f"## Goals (issue 14) at scale {s['scale']:g}", ""]
    if s["scale"] != GOAL_SCALE:
        lines += [f"The goals are set for scale {GOAL_SCALE:g}; this run's largest scale is {s['scale']:g}.", ""]
    lines += ["| | now | goal | met? |", "|---|---|---|---|"]
    lines += [f"| {g.name} | {g.now} | {g.goal} | {g.mark} |" for g in goals(report)]
    return lines


def fmt_tcm(entry: dict[str, float] | None) -> str:
    """``12.3 s · cpu 20 s · 1,234 MB`` (wall · CPU · peak memory)."""
    if not entry:
        return "–"
    parts = [f"{entry['wall_s']:.1f} s"]
    if entry.get("cpu_s") is not None:
        parts.append(f"cpu {entry['cpu_s']:.0f} s")
    if entry.get("peak_mb"):
        parts.append(f"{entry['peak_mb']:,.0f} MB")
    return " · ".join(parts)


_PHASES = (("extract", "extract"), ("dbt build", "dbt build (models; dbt start-up)"),
           ("checks", "checks (dbt tests)"), ("publish", "publish"), ("reports", "reports + alerts"),
           ("dagster", "Dagster (run set-up, between steps)"), ("python start-up", "Python + definitions import"))


def markdown(report: dict[str, Any]) -> str:
    scales = report["scales"]
    heads = [f"scale {s['scale']:g}" for s in scales]
    host = report["host"]
    lines = [
        "# Nightly pipeline benchmark", "",
        f"{report['started_at']} · host {host['cpus']} CPUs, {host['mem_gb']} GB · load average "
        f"{host['load_start']} at start, {host.get('load_end', '–')} at end · demo history {report['start']} … "
        f"{report['end']}: first load up to {report['first_load_end']}, then {report['nights']} replayed "
        f"night(s), each against the sources as of that night."
        + "".join(f" {name}={value}." for name, value in report.get("settings", {}).items()), "",
        *goals_table(report), "",
        "## Per scale", "",
        "Wall time · CPU time (user + system, all processes) · peak resident memory of the process tree.", "",
        "| | " + " | ".join(heads) + " |", "|---|" + "---|" * len(scales),
    ]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("source rows (generated, whole window)", [f"{s.get('source_rows') or 0:,}" for s in scales])
    row("generate with history (not in any night)", [fmt_tcm(s["generate"]) for s in scales])
    row("sources as of the first-load day (write)", [f"{s['sources_first_load']['seconds']:.1f} s" for s in scales])
    for name, label in _PHASES:
        row(f"first load: {label}", [fmt_tcm(s["first_load"]["phases"].get(name)) for s in scales])
        if name == "extract":
            row("… of which the extraction engine / Dagster materialization events", [
                f"{s['first_load']['phases'].get('extract', {}).get('engine_s', 0):.1f} s / "
                f"{s['first_load']['phases'].get('extract', {}).get('materialization_events', 0):,}" for s in scales])
    row("**first load**", [f"**{fmt_tcm(s['first_load']['total'])}**" for s in scales])
    row("first load: dbt step (build + checks)", [fmt_tcm(s["first_load"]["phases"].get("dbt step")) for s in scales])
    nights = max((len(s.get("replay", [])) for s in scales), default=0)
    for i in range(nights):
        row(f"night {i + 1}", [_night(s["replay"][i]) if i < len(s.get("replay", [])) else "–" for s in scales])
    r = report["ratios"]["per_scale"]
    per = [r.get(f"{s['scale']:g}", {}) for s in scales]
    row("**median night**", [f"**{_num(x.get('night_median_s'))} s**" for x in per])
    row("… median scheduled run alone", [f"{_num(x.get('night_scheduled_median_s'))} s" for x in per])
    row("night with no new data (the last night again)",
        [fmt_tcm((s.get("no_new_data") or {}).get("total")) for s in scales])
    row("floor: one DuckDB query (query alone)", [
        f"{s['floor']['query_s']:.2f} s · process {s['floor']['wall_s']:.1f} s · {s['floor']['peak_mb']:,.0f} MB"
        for s in scales])
    row("pandas, same actuals (compute alone)", [
        f"{s['pandas']['compute_s']:.1f} s · cpu {s['pandas']['cpu_s']:.0f} s · {s['pandas']['peak_mb']:,.0f} MB"
        if "pandas" in s else "–" for s in scales])
    row("same numbers: floor = pandas = kpi_actuals", [same_text(s["checks"]) for s in scales])
    row("analyst queries p50 / p95 (all)", [
        f"{s['queries']['p50_ms']:.1f} / {s['queries']['p95_ms']:.1f} ms" if s.get("queries") else "–"
        for s in scales])
    lines += ["", "| ratio (within this run) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(scales)]
    for key, label in (("dbt_step_over_floor", "first-load dbt step / floor"),
                       ("dbt_data_dependent_over_floor", "dbt data-dependent (step − fixed) / floor"),
                       ("pandas_over_floor", "pandas / floor"),
                       ("pandas_time_over_engine", "pandas time / first-load dbt step"),
                       ("pandas_mem_over_engine", "pandas memory / first-load dbt step memory"),
                       ("night_median_over_first_load", "median night / first load")):
        row(label, [_num(x.get(key)) for x in per])
    lines.append("")
    fixed = report.get("fixed")
    if fixed:
        ph = fixed["run"]["phases"]
        lines.append(
            f"Fixed start-up (the nightly job over scale 0.01 × {fixed['days']} days): whole run "
            f"{fixed['run']['total']['wall_s']:.1f} s; dbt step {ph.get('dbt step', {}).get('wall_s', 0):.1f} s "
            f"(dbt's own start-up before the first node {ph.get('dbt step', {}).get('startup_s')} s); extract "
            f"{ph.get('extract', {}).get('wall_s', 0):.1f} s; Dagster {ph.get('dagster', {}).get('wall_s', 0):.1f} s.")
    growth = report["ratios"].get("scale10_over_scale1")
    if growth:
        lines += ["", "time(scale 10) / time(scale 1): " + ", ".join(
            f"{k.replace('_', ' ')} {_num(v)}" for k, v in growth.items())]
    lines += ["", "A night = the runs the late-files sensor requests for earlier days (late and re-exported "
              "landing files) + the scheduled run of the day; each run is its own process."]
    slowest = scales[-1]["first_load"].get("dbt_slowest") or []
    lines += ["", "Slowest dbt nodes of the first load at the largest scale (execution seconds): " + ", ".join(
        f"{uid.split('.')[-1]} {sec:.1f}" for uid, sec in slowest[:10])]
    return "\n".join(lines) + "\n"


def _night(night: dict[str, Any]) -> str:
    total = night["total"]
    late = night.get("late_runs", [])
    asked = len(night["sensor"]["for_earlier_days"])
    text = f"{total['wall_s']:.1f} s · {total['peak_mb']:,.0f} MB · {total['runs']} run(s)"
    if asked:
        text += f" (sensor: {asked} earlier day(s){'' if late else ', not run'})"
    return text
