"""Catalog lint (SMART and friends): ``kpi lint`` and the check before every run.

``lint_catalog`` returns every finding — the validation errors of :func:`compile_catalog`
(schema, references, unknown columns, formulas, cycles, duplicate ids, weights ≠ 100) plus:

- specific: a description without a number (warning); a name/description that is only a vague
  verb ("improve", "提升", "优化", ...) with no number (error);
- time-bound: a target rule but no month/quarter/year grain to set it for (error); a fixed target
  for a grain the KPI is not reported at (warning);
- focus: more than 7 KPIs weighted for one org unit or unit type (warning; the advice is 3–5);
- achievable (with a warehouse): a growth target beyond the 99th percentile of the KPI's past
  year-over-year quarterly growth (warning).
"""

from __future__ import annotations

import re
from pathlib import Path

from quality.catalog.compiler import compile_catalog
from quality.catalog.errors import CatalogError, CatalogIssue
from quality.catalog.schema import Catalog, KpiVersion

VAGUE_WORDS = (
    "improve", "increase", "enhance", "optimize", "optimise", "boost", "reduce", "better", "grow",
    "提升", "优化", "提高", "改善", "加强", "降低", "增长",
)
MAX_WEIGHTED_KPIS = 7
_NUMBER = re.compile(r"\d")


def lint_catalog(catalog_dir: Path, dbt_project_dir: Path, warehouse_path: Path | None = None) -> list[CatalogIssue]:
    """Every finding about the catalog, errors first; never raises for a bad catalog."""
    try:
        catalog = compile_catalog(Path(catalog_dir), Path(dbt_project_dir)).catalog
    except CatalogError as err:
        return list(err.issues)
    findings: list[CatalogIssue] = []
    for kpi in catalog.kpis:
        for v in kpi.versions:
            findings.extend(_specific(v))
            findings.extend(_time_bound(v))
    for objective in catalog.objectives:
        if not _NUMBER.search(objective.description):
            findings.append(CatalogIssue(catalog.objective_files[objective.id], objective.id, "description",
                                         "no number: say how much and by when", "warning", "specific"))
    findings.extend(_focus(catalog))
    if warehouse_path is not None and Path(warehouse_path).exists():
        findings.extend(_achievable(catalog, Path(warehouse_path)))
    return sorted(findings, key=lambda f: (f.severity != "error", f.file, f.item_id or "", f.field))


def _suffix(v: KpiVersion) -> str:
    return f" (version {v.version})" if v.version > 1 else ""


def _is_vague(text: str) -> bool:
    words = re.findall(r"[a-z]+|[\u4e00-\u9fff]+", text.lower())
    if not words:
        return True
    return len(words) <= 4 and any(any(w.startswith(vague) for vague in VAGUE_WORDS) for w in words)


def _specific(v: KpiVersion) -> list[CatalogIssue]:
    out = []
    s = v.spec
    if not _NUMBER.search(s.description):
        if _is_vague(s.description) or _is_vague(s.name):
            out.append(CatalogIssue(v.catalog_file, v.kpi_id, "description" + _suffix(v),
                                    "only a vague verb with no number: say what is measured and the target",
                                    "error", "specific"))
        else:
            out.append(CatalogIssue(v.catalog_file, v.kpi_id, "description" + _suffix(v),
                                    "no number: state the target (e.g. ≥ 20 per quarter, +10 % on last year)",
                                    "warning", "specific"))
    return out


def _time_bound(v: KpiVersion) -> list[CatalogIssue]:
    out = []
    s = v.spec
    target_grains = [g for g in s.grains if g in ("month", "quarter", "year")]
    if s.target.rule != "none" and not target_grains:
        out.append(CatalogIssue(v.catalog_file, v.kpi_id, "grains" + _suffix(v),
                                "a target needs a month, quarter or year grain to be set for", "error", "time_bound"))
    for grain in (s.target.by_grain or {}):
        if grain not in s.grains:
            out.append(CatalogIssue(v.catalog_file, v.kpi_id, f"target.by_grain.{grain}" + _suffix(v),
                                    f"target for {grain}, but the KPI is not reported by {grain}", "warning",
                                    "time_bound"))
    return out


def _focus(catalog: Catalog) -> list[CatalogIssue]:
    out = []
    per_unit: dict[str, set[str]] = {}
    per_type: dict[tuple[tuple[str, ...], str], set[str]] = {}
    files: dict[str, str] = {}
    for kpi in catalog.kpis:
        v = kpi.current
        files[kpi.id] = kpi.catalog_file
        for unit in v.spec.weights.units:
            per_unit.setdefault(unit, set()).add(kpi.id)
        for unit_type in v.spec.weights.by_unit_type:
            per_type.setdefault((tuple(sorted(v.spec.scope)), unit_type), set()).add(kpi.id)
    for unit, kpis in sorted(per_unit.items()):
        if len(kpis) > MAX_WEIGHTED_KPIS:
            first = sorted(kpis)[0]
            out.append(CatalogIssue(files[first], first, "weights",
                                    f"{len(kpis)} KPIs weighted for {unit} (more than {MAX_WEIGHTED_KPIS}; 3–5 core KPIs "
                                    "keep a scorecard meaningful)", "warning", "focus"))
    for (scope, unit_type), kpis in sorted(per_type.items()):
        if len(kpis) > MAX_WEIGHTED_KPIS:
            first = sorted(kpis)[0]
            out.append(CatalogIssue(files[first], first, "weights.by_unit_type",
                                    f"{len(kpis)} KPIs weighted for {unit_type} units in {', '.join(scope)} "
                                    f"(more than {MAX_WEIGHTED_KPIS})", "warning", "focus"))
    return out


def _achievable(catalog: Catalog, warehouse_path: Path) -> list[CatalogIssue]:
    import duckdb

    growth_kpis = {k.id: k for k in catalog.kpis if k.current.spec.target.rule == "growth_vs_last_year"}
    if not growth_kpis:
        return []
    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as con:
            rows = con.execute(
                """
                with q as (
                    select kpi_id, org_unit_id, period_start, actual_value
                    from marts.kpi_actuals
                    where grain = 'quarter' and is_complete and actual_value is not null
                )
                select cur.kpi_id,
                       quantile_cont(cur.actual_value / prev.actual_value - 1, 0.99) as p99,
                       count(*) as n
                from q as cur
                join q as prev
                    on prev.kpi_id = cur.kpi_id and prev.org_unit_id = cur.org_unit_id
                    and prev.period_start = cur.period_start - interval 1 year
                where prev.actual_value > 0
                group by cur.kpi_id
                """
            ).fetchall()
    except duckdb.Error:
        return []
    out = []
    for kpi_id, p99, n in rows:
        kpi = growth_kpis.get(kpi_id)
        if kpi is None or p99 is None or n < 4:
            continue
        value = kpi.current.spec.target.value or 0.0
        direction = kpi.current.spec.direction
        implausible = value > p99 if direction != "lower_is_better" else False
        if implausible:
            out.append(CatalogIssue(kpi.catalog_file, kpi_id, "target.value",
                                    f"+{value:.0%} on last year is beyond the 99th percentile of past growth "
                                    f"({p99:+.0%} over {n} unit-quarters)", "warning", "achievable"))
    return out
