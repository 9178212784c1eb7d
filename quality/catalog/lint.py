"""Catalog lint (SMART and friends): ``kpi lint`` and the check before every run.

``lint_catalog`` returns every finding, each naming the file, the KPI (or objective) id, the field,
the rule and the reason. The validation errors of :func:`compile_catalog` are classified by rule:

- specific: no description (error); a name/description that is only a vague verb ("improve",
  "提升", "优化", ...) with no number (error); a description without a number (warning);
- measurable: a measure that references unknown columns or models, or whose expression/formula is
  not allowed (error); with a warehouse: a measure that does not compile against the warehouse's
  model (its columns from DESCRIBE, its SQL bound by DuckDB) (error);
- achievable (with a warehouse): a growth target beyond the 99th percentile of the KPI's past
  year-over-year quarterly growth (warning);
- relevant: no objective, or an objective that does not exist (error);
- time_bound: no grain (error); a target but no month/quarter/year grain to set it for (error); a
  fixed target for a grain the KPI is not reported at (warning);
- owner: no owner (error); weights: an org unit's weights not summing to 100 (error);
  focus: more than 7 KPIs weighted for one org unit or unit type (warning; the advice is 3–5);
  cycle: derived KPIs referencing each other (error); duplicate: a KPI or objective id defined twice
  (error); valid: any other schema problem (error).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quality.catalog.compiler import CompiledCatalog, compile_catalog
from quality.catalog.errors import CatalogError, CatalogIssue
from quality.catalog.expressions import ExpressionError, check_expression
from quality.catalog.loader import load_catalog
from quality.catalog.schema import Catalog, KpiVersion

VAGUE_WORDS = (
    "improve", "increase", "enhance", "optimize", "optimise", "boost", "reduce", "better", "grow",
    "提升", "优化", "提高", "改善", "加强", "降低", "增长",
)
MAX_WEIGHTED_KPIS = 7
_NUMBER = re.compile(r"\d")
RULES = ("specific", "measurable", "achievable", "relevant", "time_bound", "owner", "weights", "focus", "cycle",
         "duplicate", "valid")
#: The warehouse schema whose models the measures read.
WAREHOUSE_SCHEMA = "marts"


@dataclass(frozen=True)
class LintFinding(CatalogIssue):
    """A catalog issue as the lint reports it: its text names the rule too."""

    def __str__(self) -> str:
        where = self.file
        if self.item_id:
            where += f": {self.item_id}"
        return f"{self.severity}: {where}: {self.field}: {self.reason} [{self.rule}]"

    def as_dict(self) -> dict[str, str | None]:
        # `message` is the name the quality report reads (reports/quality.py LINT_COLUMNS)
        return {**super().as_dict(), "message": self.reason}


#: What a missing or empty field means, per field (instead of the schema's generic message).
_MISSING = {
    "description": "no description: say what is measured, how, and the target",
    "name": "no name",
    "objective": "no objective: name the objective (goal) this KPI serves",
    "owner": "no owner: name the org unit and/or person responsible for the KPI",
    "grains": "no grain: list the periods it is reported at (day, week, month, quarter, year)",
}
_EMPTY = ("Field required", "String should have at least 1 character", "List should have at least 1 item")


def _finding(issue: CatalogIssue, rule: str | None = None) -> LintFinding:
    values = {f.name: getattr(issue, f.name) for f in dataclasses.fields(CatalogIssue)}
    if rule is not None:
        values["rule"] = rule
    field = issue.field.split(" ")[0]
    if field in _MISSING and issue.reason.startswith(_EMPTY):
        values["reason"] = _MISSING[field]
    return LintFinding(**values)


def classify(issue: CatalogIssue) -> str:
    """The lint rule a validation issue of the compiler breaks (see the module docstring)."""
    if issue.rule != "valid":
        return issue.rule
    field, reason = issue.field, issue.reason.lower()
    if field == "id" and "duplicate" in reason:
        return "duplicate"
    if field.startswith(("description", "name")):
        return "specific"
    if field.startswith("objective"):
        return "relevant"
    if field.startswith("owner"):
        return "owner"
    if field.startswith("grains"):
        return "time_bound"
    if field.startswith("weights"):
        return "weights"
    if field.startswith("measure.formula") and "cycle" in reason:
        return "cycle"
    if field.startswith("measure"):
        return "measurable"
    return "valid"


def _sorted(findings: list[LintFinding]) -> list[LintFinding]:
    return sorted(findings, key=lambda f: (f.severity != "error", f.file, f.item_id or "", f.field))


def lint_catalog(catalog_dir: Path, dbt_project_dir: Path, warehouse_path: Path | None = None) -> list[LintFinding]:
    """Every finding about the catalog, errors first; never raises for a bad catalog.

    ``warehouse_path``: a DuckDB file with schema ``marts`` (the build warehouse or its published copy);
    with it, measures are also compiled against the warehouse and growth targets checked against
    history.
    """
    try:
        compiled = compile_catalog(Path(catalog_dir), Path(dbt_project_dir))
    except CatalogError as err:
        invalid = [_finding(issue, classify(issue)) for issue in err.issues]
        try:  # the structure may still be sound (e.g. only a measure is wrong): lint it too
            structure = load_catalog(Path(catalog_dir))
        except CatalogError:
            return _sorted(invalid)
        return _sorted(invalid + [_finding(f) for f in _smart(structure)])
    findings = _smart(compiled.catalog)
    if warehouse_path is not None and Path(warehouse_path).exists():
        findings.extend(_measurable(compiled, Path(warehouse_path)))
        findings.extend(_achievable(compiled.catalog, Path(warehouse_path)))
    return _sorted([_finding(f) for f in findings])


def _smart(catalog: Catalog) -> list[CatalogIssue]:
    """The rules that need neither the models' columns nor a warehouse."""
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
    return findings


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
    if not s.description.strip():
        out.append(CatalogIssue(v.catalog_file, v.kpi_id, "description" + _suffix(v),
                                "no description: say what is measured, how, and the target", "error", "specific"))
    elif not _NUMBER.search(s.description):
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


def _aggregate(agg: str, expr: str | None, flt: str | None, percentile: float | None = None) -> str:
    """The aggregate the dbt macros build for a measure part (macros/kpi/kpi_measures.sql)."""
    value = expr if expr else "1"
    if flt:
        value = f"case when {flt} then {value} end"
    if agg == "count_distinct":
        return f"count(distinct {value})"
    if agg == "percentile":
        return f"quantile_cont({value}, {float(percentile or 0.5)!r})"
    return f"{agg}({value})"


def _measurable(compiled: CompiledCatalog, warehouse_path: Path) -> list[CatalogIssue]:
    """Every measure against the warehouse: its model exists, its columns are in the model (DESCRIBE),
    and its aggregate SQL compiles there (DuckDB binds it on an empty scan)."""
    import duckdb

    catalog = compiled.catalog
    out: list[CatalogIssue] = []
    where = f"{WAREHOUSE_SCHEMA} of {warehouse_path.name}"
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error as err:
        return [CatalogIssue(str(warehouse_path), None, "(warehouse)", f"cannot open the warehouse: {err}",
                             "warning", "measurable")]
    try:
        models: dict[str, frozenset[str]] = {}
        for table, column in con.execute(
                "select table_name, column_name from information_schema.columns where table_schema = ?",
                [WAREHOUSE_SCHEMA]).fetchall():
            models.setdefault(table, frozenset())
            models[table] = models[table] | {column.lower()}
        broken: set[tuple[str, int]] = set()
        for kpi in catalog.kpis:
            for v in kpi.versions:
                m = v.spec.measure
                if m.type == "derived":
                    continue
                sfx = _suffix(v)
                cols = models.get(m.model or "")
                if cols is None:
                    out.append(CatalogIssue(v.catalog_file, v.kpi_id, "measure.model" + sfx,
                                            f"model {m.model!r} does not exist in {where}", "error", "measurable"))
                    broken.add((v.kpi_id, v.version))
                    continue
                checks: list[tuple[str, str | None, str]] = [
                    ("measure.time_column", m.time_column, "expression"),
                    ("measure.org_column", m.org_column or "org_unit_id", "expression"),
                    ("measure.expression", m.expression, "expression"),
                    ("measure.filter", m.filter, "filter"),
                ]
                for part_name in ("numerator", "denominator"):
                    part = getattr(m, part_name)
                    if part is not None:
                        checks.append((f"measure.{part_name}.expression", part.expression, "expression"))
                        checks.append((f"measure.{part_name}.filter", part.filter, "filter"))
                for field, text, what in checks:
                    if text is None:
                        continue
                    try:
                        check_expression(text, cols, what=what)
                    except ExpressionError as err:
                        out.append(CatalogIssue(v.catalog_file, v.kpi_id, field + sfx,
                                                f"{err} (model {m.model} in {where})", "error", "measurable"))
                        broken.add((v.kpi_id, v.version))
        out.extend(_compiles(con, compiled, models, broken, where))
    finally:
        con.close()
    return out


def _compiles(con: Any, compiled: CompiledCatalog, models: dict[str, frozenset[str]],
              broken: set[tuple[str, int]], where: str) -> list[CatalogIssue]:
    """Bind each measure part's aggregate against its model (no rows are read)."""
    import duckdb

    versions = {(v.kpi_id, v.version): v for k in compiled.catalog.kpis for v in k.versions}
    out: list[CatalogIssue] = []
    reported: set[tuple[str, int]] = set(broken)
    for p in compiled.payload["passes"]:
        model = p["model"]
        if model not in models:  # reported above; the name is only used once it is a known table
            continue
        parts = [(a["kpi_id"], a["version"], _aggregate(a["agg"], a["expr"], a["filter"])) for a in p["additive"]]
        parts += [(a["kpi_id"], a["version"], _aggregate(a["agg"], a["expr"], a["filter"], a.get("percentile")))
                  for a in p["nonadditive"]]
        keys = (f"cast(f.{_ident(p['time_column'])} as date)", f"cast(f.{_ident(p['org_column'])} as varchar)")
        for kpi_id, version, aggregate in parts:
            if (kpi_id, version) in reported:
                continue
            # the model is a table of the warehouse (listed above); columns are quoted identifiers the
            # loader checked; the aggregate is the compiler's re-rendering of a validated syntax tree —
            # the same SQL dbt receives (quality/catalog/expressions.py)
            sql = (f"select {keys[0]}, {keys[1]}, {aggregate} "  # noqa: S608 - see above
                   f"from {WAREHOUSE_SCHEMA}.{_ident(model)} as f where false group by all")
            try:
                con.execute(sql).fetchall()
            except duckdb.Error as err:
                v = versions[(kpi_id, version)]
                message = str(err).strip().splitlines()[0]
                out.append(CatalogIssue(v.catalog_file, kpi_id, "measure" + _suffix(v),
                                        f"does not compile against model {model} in {where}: {message}",
                                        "error", "measurable"))
                reported.add((kpi_id, version))
    return out


def _ident(name: str) -> str:
    """A column name the loader validated, as a quoted identifier."""
    return '"' + name.replace('"', '""') + '"'
