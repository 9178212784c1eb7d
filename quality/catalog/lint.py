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
- possible: a fixed target outside the values the KPI can take (its declared or inferred range, see
  quality/catalog/ranges.py) (error); with a warehouse: a growth target that last year's actuals
  turn into an impossible value for some unit and period (a share above 100 %) (error);
- reference: an owner, scope, target or weight naming an org unit (or an owner person) the
  warehouse does not know, with the closest known ids as a did-you-mean (error; needs the
  warehouse's dim_org_unit / dim_employee or the lists passed in);
- owner: no owner (error); weights: an org unit's weights not summing to 100 (error);
  focus: more than 7 KPIs weighted for one org unit or unit type (warning; the advice is 3–5);
  cycle: derived KPIs referencing each other (error); duplicate: a KPI or objective id defined twice
  (error); valid: any other schema problem (error).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quality.catalog.compiler import CompiledCatalog, compile_catalog
from quality.catalog.errors import CatalogError, CatalogIssue
from quality.catalog.expressions import ExpressionError, check_expression
from quality.catalog.loader import load_catalog
from quality.catalog.ranges import Interval
from quality.catalog.schema import Catalog, KpiVersion

VAGUE_WORDS = (
    "improve", "increase", "enhance", "optimize", "optimise", "boost", "reduce", "better", "grow",
    "提升", "优化", "提高", "改善", "加强", "降低", "增长",
)
MAX_WEIGHTED_KPIS = 7
_NUMBER = re.compile(r"\d")
RULES = ("specific", "measurable", "achievable", "possible", "reference", "relevant", "time_bound", "owner",
         "weights", "focus", "cycle", "duplicate", "valid")
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


def lint_catalog(catalog_dir: Path, dbt_project_dir: Path, warehouse_path: Path | None = None, *,
                 org_units: Collection[str] | None = None,
                 employees: Collection[str] | None = None) -> list[LintFinding]:
    """Every finding about the catalog, errors first; never raises for a bad catalog.

    ``warehouse_path``: a DuckDB file with schema ``marts`` (the build warehouse or its published copy);
    with it, measures are also compiled against the warehouse, growth targets checked against
    history and org unit / person ids against its dimensions. ``org_units`` / ``employees``: the
    known ids, when they come from elsewhere (they win over the warehouse's).
    """
    warehouse = Path(warehouse_path) if warehouse_path is not None and Path(warehouse_path).exists() else None
    if warehouse is not None:
        known_units, known_people = _known_ids(warehouse)
        org_units = org_units if org_units is not None else known_units
        employees = employees if employees is not None else known_people

    def references(catalog: Catalog) -> list[CatalogIssue]:
        if org_units is None:
            return []
        return _references(catalog, set(org_units), None if employees is None else set(employees))

    try:
        compiled = compile_catalog(Path(catalog_dir), Path(dbt_project_dir))
    except CatalogError as err:
        invalid = [_finding(issue, classify(issue)) for issue in err.issues]
        try:  # the structure may still be sound (e.g. only a measure is wrong): lint it too
            structure = load_catalog(Path(catalog_dir))
        except CatalogError:
            return _sorted(invalid)
        return _sorted(invalid + [_finding(f) for f in _smart(structure) + references(structure)])
    findings = _smart(compiled.catalog) + _possible(compiled) + references(compiled.catalog)
    if warehouse is not None:
        findings.extend(_measurable(compiled, warehouse))
        findings.extend(_achievable(compiled.catalog, warehouse))
        findings.extend(_possible_growth(compiled, warehouse))
    return _sorted([_finding(f) for f in findings])


def _range_of(row: dict[str, Any]) -> Interval:
    lo, hi = row.get("value_min"), row.get("value_max")
    return Interval(-math.inf if lo is None else lo, math.inf if hi is None else hi)


def _possible(compiled: CompiledCatalog) -> list[CatalogIssue]:
    """Fixed targets outside the values the KPI can take."""
    out: list[CatalogIssue] = []
    versions = {(v.kpi_id, v.version): v for k in compiled.catalog.kpis for v in k.versions}
    for row in compiled.payload["versions"]:
        interval = _range_of(row)
        if not interval.bounded:
            continue
        v = versions[(row["kpi_id"], row["version"])]
        t = v.spec.target
        if t.rule != "fixed":
            continue
        values = {"target.value": t.value, "target.low": t.low, "target.high": t.high}
        values.update({f"target.by_grain.{g}": x for g, x in (t.by_grain or {}).items()})
        for field, value in values.items():
            if value is not None and not interval.contains(value):
                out.append(CatalogIssue(
                    v.catalog_file, v.kpi_id, field + _suffix(v),
                    f"target {value:g} is impossible: {v.kpi_id} ({v.spec.unit}) can only take values in "
                    f"{interval.describe()} ({_range_source(row)})", "error", "possible"))
    return out


def _range_source(row: dict[str, Any]) -> str:
    return {"declared": "its declared range", "unit": f"unit {row['unit']!r}", "measure": "a count",
            "formula": "its formula"}.get(row.get("range_source") or "", "its range")


def _possible_growth(compiled: CompiledCatalog, warehouse_path: Path) -> list[CatalogIssue]:
    """Growth targets that last year's complete actuals turn into impossible values."""
    import duckdb

    rows = [r for r in compiled.payload["versions"]
            if r["is_current"] and r["target_rule"] == "growth_vs_last_year" and _range_of(r).bounded]
    if not rows:
        return []
    versions = {(v.kpi_id, v.version): v for k in compiled.catalog.kpis for v in k.versions}
    out: list[CatalogIssue] = []
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error:
        return []
    try:
        for row in rows:
            interval, growth = _range_of(row), float(row["target_rule_value"] or 0.0)
            lo = interval.lo if math.isfinite(interval.lo) else None
            hi = interval.hi if math.isfinite(interval.hi) else None
            try:
                found = con.execute(
                    """
                    select org_unit_id, grain, period_start, actual_value, actual_value * (1 + ?) as target
                    from marts.kpi_actuals
                    where kpi_id = ? and grain in ('month', 'quarter', 'year') and is_complete
                        and actual_value is not null
                        and ((? is not null and actual_value * (1 + ?) < ?) or (? is not null and actual_value * (1 + ?) > ?))
                    order by period_start desc, org_unit_id
                    """, [growth, row["kpi_id"], lo, growth, lo, hi, growth, hi]).fetchall()
            except duckdb.Error:
                return out
            if not found:
                continue
            v = versions[(row["kpi_id"], row["version"])]
            unit, grain, start, actual, target = found[0]
            out.append(CatalogIssue(
                v.catalog_file, v.kpi_id, "target.value" + _suffix(v),
                f"{growth:+.0%} on last year gives impossible targets for {len(found)} unit-period(s) "
                f"(values can only be in {interval.describe()}, {_range_source(row)}): e.g. {unit} {grain} "
                f"{start}: last year {actual:.4g} → target {target:.4g}; the warehouse rejects those targets",
                "error", "possible"))
    finally:
        con.close()
    return out


def _known_ids(warehouse_path: Path) -> tuple[set[str] | None, set[str] | None]:
    """Org unit and employee ids of the warehouse's dimensions (None when it has no such table)."""
    import duckdb

    def ids(con: Any, table: str, column: str) -> set[str] | None:
        try:
            # table and column are constants of this module, not input
            return {r[0] for r in con.execute(f"select distinct {column} from {WAREHOUSE_SCHEMA}.{table}").fetchall()}  # noqa: S608
        except duckdb.Error:
            return None

    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as con:
            return ids(con, "dim_org_unit", "org_unit_id"), ids(con, "dim_employee", "employee_id")
    except duckdb.Error:
        return None, None


def _unknown(value: str, known: set[str], what: str) -> str:
    scored = sorted(((difflib.SequenceMatcher(None, value, k).ratio(), k) for k in known), reverse=True)
    best = scored[0][0] if scored else 0.0
    close = [k for ratio, k in scored[:3] if ratio >= 0.6 and ratio >= best - 0.1]
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"unknown {what} {value!r}{hint}"


def _references(catalog: Catalog, org_units: set[str], employees: set[str] | None) -> list[CatalogIssue]:
    """Every org unit (and owner person) the catalog names must exist."""
    out: list[CatalogIssue] = []
    for objective in catalog.objectives:
        if objective.owner not in org_units:
            out.append(CatalogIssue(catalog.objective_files[objective.id], objective.id, "owner",
                                    _unknown(objective.owner, org_units, "org unit"), "error", "reference"))
    for kpi in catalog.kpis:
        for v in kpi.versions:
            s, sfx = v.spec, _suffix(v)
            named: list[tuple[str, str]] = []
            if s.owner.org_unit:
                named.append(("owner.org_unit", s.owner.org_unit))
            named += [(f"scope[{i}]", unit) for i, unit in enumerate(s.scope)]
            named += [(f"target.org_units[{i}]", unit) for i, unit in enumerate(s.target.org_units or [])]
            named += [(f"weights.{unit}", unit) for unit in s.weights.units]
            for field, unit in named:
                if unit not in org_units:
                    out.append(CatalogIssue(v.catalog_file, v.kpi_id, field + sfx,
                                            _unknown(unit, org_units, "org unit"), "error", "reference"))
            if employees is not None and s.owner.person and s.owner.person not in employees:
                out.append(CatalogIssue(v.catalog_file, v.kpi_id, "owner.person" + sfx,
                                        _unknown(s.owner.person, employees, "person"), "error", "reference"))
    return out


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
