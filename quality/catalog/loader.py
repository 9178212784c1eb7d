"""Load the KPI catalog from YAML and validate everything that needs no warehouse.

``load_catalog`` checks the schema of every objective and KPI version, version order, duplicate ids,
objective references, derived formulas (KPI ids only, no cycles). With ``model_columns`` it also
checks every measure expression and filter against the documented columns of its model.
Every problem is collected and raised together as a :class:`CatalogError`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quality.catalog.errors import CatalogError, CatalogIssue
from quality.catalog.expressions import ExpressionError, check_expression, check_formula
from quality.catalog.schema import ID_PATTERN, Catalog, Kpi, KpiSpec, KpiVersion, Objective, Version

CATALOG_SUFFIXES = (".yml", ".yaml")


def catalog_files(catalog_dir: Path) -> list[Path]:
    """The catalog's YAML files, in a stable order."""
    return sorted(p for p in Path(catalog_dir).iterdir() if p.suffix in CATALOG_SUFFIXES and p.is_file())


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; nested mappings merge, anything else replaces.

    A ``measure`` change that names a ``type`` replaces the whole measure (a new formula),
    so no field of the old measure leaks into the new one.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if key == "measure" and isinstance(value, Mapping) and "type" in value:
            merged[key] = copy.deepcopy(dict(value))
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _pydantic_issues(err: ValidationError, file: str, item_id: str | None, suffix: str = "") -> list[CatalogIssue]:
    issues = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-")) or "(entry)"
        msg = e["msg"].removeprefix("Value error, ")
        issues.append(CatalogIssue(file, item_id, loc + suffix, msg))
    return issues


def load_catalog(
    catalog_dir: Path, model_columns: Mapping[str, frozenset[str]] | None = None
) -> Catalog:
    """Read and validate every catalog file in ``catalog_dir``; raise :class:`CatalogError` if invalid."""
    catalog_dir = Path(catalog_dir)
    issues: list[CatalogIssue] = []
    objectives: list[Objective] = []
    objective_files: dict[str, str] = {}
    raw_kpis: list[tuple[str, dict[str, Any]]] = []
    if not catalog_dir.is_dir():
        raise CatalogError([CatalogIssue(str(catalog_dir), None, "(directory)", "catalog directory does not exist")])
    files = catalog_files(catalog_dir)
    if not files:
        raise CatalogError([CatalogIssue(str(catalog_dir), None, "(directory)", "no catalog files (*.yml)")])

    for path in files:
        _read_file(path, issues, objectives, objective_files, raw_kpis)
    kpis, kpi_files = _resolve_kpis(raw_kpis, issues)

    known_objectives = set(objective_files)
    kpi_ids = set(kpi_files)
    for kpi in kpis:
        for v in kpi.versions:
            suffix = f" (version {v.version})" if v.version > 1 else ""
            if v.spec.objective not in known_objectives:
                issues.append(CatalogIssue(kpi.catalog_file, kpi.id, "objective" + suffix, f"unknown objective {v.spec.objective!r}"))
            issues.extend(_measure_issues(kpi, v, kpi_ids, model_columns, suffix))
    issues.extend(_cycle_issues(kpis))
    issues.extend(_weight_issues(kpis))
    if issues:
        raise CatalogError(issues)
    return Catalog(objectives=objectives, objective_files=objective_files, kpis=kpis)


def _read_file(
    path: Path,
    issues: list[CatalogIssue],
    objectives: list[Objective],
    objective_files: dict[str, str],
    raw_kpis: list[tuple[str, dict[str, Any]]],
) -> None:
    """One catalog file: its objectives into ``objectives`` / ``objective_files``, its KPI entries
    into ``raw_kpis`` (resolved later), its problems into ``issues``."""
    name = path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        issues.append(CatalogIssue(name, None, "(file)", f"not valid YAML{where}: {getattr(err, 'problem', err)}"))
        return
    except UnicodeDecodeError:
        issues.append(CatalogIssue(name, None, "(file)", "not UTF-8 text"))
        return
    if doc is None:
        return
    if not isinstance(doc, dict):
        issues.append(CatalogIssue(name, None, "(file)", "must be a mapping with objectives and/or kpis"))
        return
    for key in set(doc) - {"objectives", "kpis"}:
        issues.append(CatalogIssue(name, None, str(key), "unknown top-level key (expected objectives, kpis)"))
    for key in ("objectives", "kpis"):
        if not isinstance(doc.get(key) or [], list):
            issues.append(CatalogIssue(name, None, key, f"must be a list of entries, not "
                                                        f"{type(doc[key]).__name__} {repr(doc[key])[:60]}"))
            doc[key] = []
    for entry in doc.get("objectives") or []:
        oid = entry.get("id") if isinstance(entry, dict) else None
        try:
            objective = Objective.model_validate(entry)
        except ValidationError as err:
            issues.extend(_pydantic_issues(err, name, str(oid) if oid else None))
            continue
        if objective.id in objective_files:
            issues.append(
                CatalogIssue(name, objective.id, "id", f"duplicate objective id (also in {objective_files[objective.id]})")
            )
            continue
        objective_files[objective.id] = name
        objectives.append(objective)
    for entry in doc.get("kpis") or []:
        if not isinstance(entry, dict):
            issues.append(CatalogIssue(name, None, "(entry)", "a KPI must be a mapping"))
            continue
        raw_kpis.append((name, entry))


def _resolve_kpis(
    raw_kpis: list[tuple[str, dict[str, Any]]], issues: list[CatalogIssue]
) -> tuple[list[Kpi], dict[str, str]]:
    """The KPIs with valid, unique ids and valid versions; and each KPI id's file."""
    kpis: list[Kpi] = []
    kpi_files: dict[str, str] = {}

    for file, entry in raw_kpis:
        kid = entry.get("id")
        if not isinstance(kid, str) or not re.match(ID_PATTERN, kid):
            issues.append(CatalogIssue(file, str(kid) if kid else None, "id", f"missing or invalid KPI id (pattern {ID_PATTERN})"))
            continue
        if kid in kpi_files:
            issues.append(CatalogIssue(file, kid, "id", f"duplicate KPI id (also in {kpi_files[kid]})"))
            continue
        kpi_files[kid] = file
        kpi = _resolve_versions(file, kid, entry, issues)
        if kpi is not None:
            kpis.append(kpi)
    return kpis, kpi_files


def _resolve_versions(file: str, kid: str, entry: dict[str, Any], issues: list[CatalogIssue]) -> Kpi | None:
    base = {k: v for k, v in entry.items() if k not in ("id", "versions")}
    raw_versions = entry.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        issues.append(CatalogIssue(file, kid, "versions", "at least one version with valid_from is required"))
        return None
    versions: list[Version] = []
    ok = True
    for i, raw in enumerate(raw_versions):
        try:
            versions.append(Version.model_validate(raw))
        except ValidationError as err:
            issues.extend(_pydantic_issues(err, file, kid, f" (versions[{i}])"))
            ok = False
    if not ok:
        return None
    sequence_issues = _version_sequence_issues(file, kid, versions)
    if sequence_issues:
        issues.extend(sequence_issues)
        return None
    resolved: list[KpiVersion] = []
    current = base
    for i, v in enumerate(versions):
        if v.changes:
            current = deep_merge(current, v.changes)
        suffix = f" (version {v.version})" if v.version > 1 else ""
        try:
            spec = KpiSpec.model_validate(current)
        except ValidationError as err:
            issues.extend(_pydantic_issues(err, file, kid, suffix))
            ok = False
            continue
        valid_to: date | None = versions[i + 1].valid_from if i + 1 < len(versions) else None
        resolved.append(
            KpiVersion(kpi_id=kid, version=v.version, valid_from=v.valid_from, valid_to=valid_to,
                       reason=v.reason, spec=spec, catalog_file=file)
        )
    if not ok:
        return None
    return Kpi(id=kid, catalog_file=file, versions=resolved)


def _version_sequence_issues(file: str, kid: str, versions: list[Version]) -> list[CatalogIssue]:
    """Versions numbered 1, 2, … with later valid_from dates; every later version changes something
    and says why; the first changes nothing; no version changes the id or the versions."""
    out: list[CatalogIssue] = []
    for i, v in enumerate(versions):
        if v.version != i + 1:
            out.append(CatalogIssue(file, kid, "versions", f"versions must be numbered 1, 2, ... in order (found {v.version} at position {i + 1})"))
        if i > 0 and v.valid_from <= versions[i - 1].valid_from:
            out.append(CatalogIssue(file, kid, f"versions[{i}].valid_from", "must be later than the previous version's valid_from"))
        if i > 0 and not v.changes:
            out.append(CatalogIssue(file, kid, f"versions[{i}].changes", "a new version must change something"))
        if i > 0 and not v.reason:
            out.append(CatalogIssue(file, kid, f"versions[{i}].reason", "a new version must say why (reason)"))
        if i == 0 and v.changes:
            out.append(CatalogIssue(file, kid, "versions[0].changes", "the first version is the KPI's own fields; it takes no changes"))
        for key in (v.changes or {}):
            if key in ("id", "versions"):
                out.append(CatalogIssue(file, kid, f"versions[{i}].changes.{key}", "cannot be changed by a version"))
    return out


def _measure_issues(
    kpi: Kpi,
    v: KpiVersion,
    kpi_ids: set[str],
    model_columns: Mapping[str, frozenset[str]] | None,
    suffix: str,
) -> list[CatalogIssue]:
    m = v.spec.measure
    out: list[CatalogIssue] = []
    file = kpi.catalog_file

    def add(field: str, reason: str) -> None:
        out.append(CatalogIssue(file, kpi.id, field + suffix, reason))

    if m.type == "derived":
        try:
            formula = check_formula(m.formula or "", kpi_ids)
        except ExpressionError as err:
            add("measure.formula", str(err))
        else:
            if kpi.id in formula.columns:
                add("measure.formula", "a derived KPI cannot reference itself (cycle)")
        return out
    if model_columns is None:
        return out
    if m.model not in model_columns:
        add("measure.model", f"unknown model {m.model!r} (no documented model of that name in models/**/_*__models.yml)")
        return out
    cols = model_columns[m.model]
    for field in ("time_column", "org_column"):
        value = getattr(m, field) or ("org_unit_id" if field == "org_column" else None)
        if value is not None and value.lower() not in cols:
            add(f"measure.{field}", f"unknown column {value!r} of model {m.model}")
    checks: list[tuple[str, str | None, str]] = [
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
            add(field, str(err))
    return out


def derived_references(kpi: Kpi) -> set[str]:
    """KPI ids referenced by any version's formula."""
    refs: set[str] = set()
    for v in kpi.versions:
        if v.spec.measure.type == "derived" and v.spec.measure.formula:
            try:
                refs |= set(check_formula(v.spec.measure.formula, None).columns)
            except ExpressionError:
                continue
    return refs


def _cycle_issues(kpis: list[Kpi]) -> list[CatalogIssue]:
    graph = {k.id: derived_references(k) for k in kpis}
    files = {k.id: k.catalog_file for k in kpis}
    issues: list[CatalogIssue] = []
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node:
                continue  # self-reference reported by the measure check
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    issues.append(CatalogIssue(files[nxt], nxt, "measure.formula", "derived KPIs form a cycle: " + " -> ".join(cycle)))
            elif state.get(nxt) is None and nxt in graph:
                visit(nxt, path + [nxt])
        state[node] = 2

    for kid in sorted(graph):
        if state.get(kid) is None:
            visit(kid, [kid])
    return issues


def _weight_issues(kpis: list[Kpi]) -> list[CatalogIssue]:
    """Weights that can be summed without the org tree: per explicit org unit, per (scope, unit type)."""
    issues: list[CatalogIssue] = []
    # check at every date a version starts
    starts = sorted({v.valid_from for k in kpis for v in k.versions})
    for start in starts:
        active = []
        for k in kpis:
            for v in k.versions:
                if v.valid_from <= start and (v.valid_to is None or start < v.valid_to):
                    active.append((k, v))
        per_unit: dict[str, float] = {}
        per_type: dict[tuple[tuple[str, ...], str], float] = {}
        for _k, v in active:
            for unit, w in v.spec.weights.units.items():
                per_unit[unit] = per_unit.get(unit, 0.0) + w
            scope = tuple(sorted(v.spec.scope))
            for unit_type, w in v.spec.weights.by_unit_type.items():
                per_type[(scope, unit_type)] = per_type.get((scope, unit_type), 0.0) + w
        for unit, total in sorted(per_unit.items()):
            if abs(total - 100) > 1e-9:
                who = sorted(k.id for k, v in active if unit in v.spec.weights.units)
                issues.append(CatalogIssue(_file_of(kpis, who[0]), who[0], "weights",
                                           f"weights of org unit {unit} sum to {total:g}, not 100 (from {start}; KPIs {', '.join(who)})"))
        for (scope, unit_type), total in sorted(per_type.items()):
            if abs(total - 100) > 1e-9:
                who = sorted(k.id for k, v in active if unit_type in v.spec.weights.by_unit_type and tuple(sorted(v.spec.scope)) == scope)
                issues.append(CatalogIssue(_file_of(kpis, who[0]), who[0], "weights.by_unit_type",
                                           f"weights of {unit_type} units in scope {', '.join(scope)} sum to {total:g}, not 100 (from {start}; KPIs {', '.join(who)})"))
    return issues


def _file_of(kpis: list[Kpi], kid: str) -> str:
    return next(k.catalog_file for k in kpis if k.id == kid)
