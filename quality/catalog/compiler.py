"""Compile the validated KPI catalog into what the dbt macros consume.

``compile_catalog`` validates the catalog against the dbt models' documented columns and returns a
:class:`CompiledCatalog`; ``write_compiled`` writes ``macros/generated/kpi_catalog.sql`` (a macro
``kpi_catalog()`` returning the catalog as ``fromjson(...)``) and ``kpi_catalog.json`` beside it,
each atomically (temp file + ``os.replace``). Because compiling raises on an invalid catalog,
an invalid catalog never replaces the last valid compiled file.

The pipeline runs, before ``dbt parse`` / ``dbt build``::

    from quality.catalog import compile_and_write
    compile_and_write(settings.catalog_dir, settings.dbt_project_dir, target_paths=[dbt_target_path])
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from quality.catalog.columns import model_columns
from quality.catalog.expressions import (
    CheckedExpression,
    check_expression,
    check_formula,
    render_interval,
    render_tree,
    split_division,
)
from quality.catalog.loader import derived_references, load_catalog
from quality.catalog.ranges import resolve_ranges
from quality.catalog.schema import Catalog, Kpi, KpiSpec, KpiVersion

GENERATED_DIR = Path("macros") / "generated"
MACRO_FILE = "kpi_catalog.sql"
JSON_FILE = "kpi_catalog.json"
FACT_ALIAS = "f"
#: Columns that explain gaps (docs/warehouse.md kpi_actuals_by_dimension), used when a model has them.
GAP_DIMENSIONS = ("product_category", "channel", "region", "segment", "priority")
DERIVED_ALIAS = "b"


@dataclass(frozen=True)
class CompiledCatalog:
    """The catalog as the warehouse consumes it (``payload`` is what ``kpi_catalog()`` returns)."""

    catalog: Catalog
    payload: dict[str, Any] = field(repr=False)

    @property
    def catalog_hash(self) -> str:
        return self.payload["catalog_hash"]

    def to_json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def _canonical(expr: CheckedExpression | None) -> str | None:
    return expr.sql if expr is not None else None


def _part_text(agg: str, expr: CheckedExpression | None, flt: CheckedExpression | None) -> str:
    text = f"{agg}({expr.sql if expr is not None else '*'})"
    if flt is not None:
        text += f" where {flt.sql}"
    return text


def _part(n: int, kpi_id: str, version: int, kind: str, agg: str, expr: CheckedExpression | None,
          flt: CheckedExpression | None, semi: bool = False) -> dict[str, Any]:
    """One additive part of a measure pass: a column of the pass's aggregation."""
    return {
        "col": f"p{n}",
        "kpi_id": kpi_id,
        "version": version,
        "part": kind,
        "agg": agg,
        "expr": expr.render(FACT_ALIAS) if expr is not None else None,
        "filter": flt.render(FACT_ALIAS) if flt is not None else None,
        "semi_additive": semi,
    }


def _definition_hash(v: KpiVersion) -> str:
    body = {
        "kpi_id": v.kpi_id,
        "version": v.version,
        "valid_from": v.valid_from.isoformat(),
        # an unset optional field leaves the hash as it was before the field existed
        "spec": v.spec.model_dump(mode="json", exclude={"maturity_days"} if v.spec.maturity_days is None else None),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _levels(kpis: list[Kpi]) -> dict[str, int]:
    """0 for base KPIs; a derived KPI sits one level above the highest KPI it references."""
    refs = {k.id: derived_references(k) for k in kpis}
    derived = {k.id for k in kpis if any(v.spec.measure.type == "derived" for v in k.versions)}
    levels: dict[str, int] = {}

    def level(kid: str) -> int:
        if kid not in levels:
            levels[kid] = 0 if kid not in derived else 1 + max((level(r) for r in refs[kid]), default=0)
        return levels[kid]

    for k in kpis:
        level(k.id)
    return levels


def compile_catalog(catalog_dir: Path, dbt_project_dir: Path) -> CompiledCatalog:
    """Validate the catalog against the dbt project's documented models and compile it.

    Raises :class:`quality.catalog.CatalogError` (file, KPI id, field, reason) when invalid.
    """
    columns = model_columns(Path(dbt_project_dir))
    catalog = load_catalog(Path(catalog_dir), model_columns=columns)
    kpi_ids = {k.id for k in catalog.kpis}
    levels = _levels(catalog.kpis)

    versions: list[dict[str, Any]] = []
    passes: dict[tuple[str, str, str], dict[str, Any]] = {}
    weights: list[dict[str, Any]] = []
    seq = itertools.count(1)
    specs: dict[tuple[str, int], KpiSpec] = {}
    formulas: dict[tuple[str, int], exp.Expression] = {}

    for kpi in catalog.kpis:
        for v in kpi.versions:
            s, m = v.spec, v.spec.measure
            row: dict[str, Any] = {
                "kpi_id": kpi.id,
                "version": v.version,
                "valid_from": v.valid_from.isoformat(),
                "valid_to": v.valid_to.isoformat() if v.valid_to else None,
                "is_current": v.valid_to is None,
                "reason": v.reason,
                "name": s.name,
                "name_zh": s.name_zh,
                "description": s.description,
                "objective_id": s.objective,
                "owner_org_unit_id": s.owner.org_unit,
                "owner_employee_id": s.owner.person,
                "unit": s.unit,
                "direction": s.direction,
                "measure_type": m.type,
                "measure_model": m.model,
                "measure_expression": None,
                "measure_filter": None,
                "time_column": m.time_column,
                "org_column": (m.org_column or "org_unit_id") if m.type != "derived" else None,
                "numerator": None,
                "denominator": None,
                "percentile": m.percentile,
                "formula": None,
                "scale": m.scale,
                "is_additive": m.is_additive,
                "grains": list(s.grains),
                "scope": list(s.scope),
                "scope_max_depth": s.scope_max_depth,
                "maturity_days": s.maturity_days,
                "amber_threshold": s.thresholds.amber,
                "score_cap": s.thresholds.cap,
                "target_rule": s.target.rule,
                "target_rule_value": s.target.value,
                "target_by_grain": {g: (s.target.by_grain or {}).get(g) for g in ("month", "quarter", "year")},
                "target_low": s.target.low,
                "target_high": s.target.high,
                "target_org_units": list(s.target.org_units or ([] if s.target.unit_types else s.scope)),
                "target_unit_types": list(s.target.unit_types or []),
                "catalog_file": v.catalog_file,
                "definition_hash": _definition_hash(v),
                "derived_level": levels[kpi.id],
                "derived_sql": None,
                "derived_numerator_sql": None,
                "derived_denominator_sql": None,
                "derived_refs": [],
                "derived_low_sql": None,
                "derived_high_sql": None,
                "is_critical": s.critical,
            }
            specs[(kpi.id, v.version)] = s
            if m.type == "derived":
                formulas[(kpi.id, v.version)] = _compile_derived(row, m.formula or "", kpi_ids)
            else:
                cols = columns[m.model or ""]
                key = (m.model or "", m.time_column or "", (m.org_column or "org_unit_id"))
                group = passes.setdefault(
                    key,
                    {"model": key[0], "time_column": key[1], "org_column": key[2], "additive": [], "nonadditive": [],
                     "dimensions": [d for d in GAP_DIMENSIONS if d in cols]},
                )
                expr = check_expression(m.expression, cols) if m.expression else None
                flt = check_expression(m.filter, cols, what="filter") if m.filter else None
                row["measure_expression"] = _canonical(expr)
                row["measure_filter"] = _canonical(flt)

                if m.type in ("sum", "count", "last"):
                    agg = "count" if m.type == "count" else "sum"
                    group["additive"].append(
                        _part(next(seq), kpi.id, v.version, "value", agg, expr, flt, semi=m.type == "last"))
                elif m.type == "ratio":
                    for kind in ("numerator", "denominator"):
                        rp = getattr(m, kind)
                        e = check_expression(rp.expression, cols) if rp.expression else None
                        f = check_expression(rp.filter, cols, what="filter") if rp.filter else None
                        if flt is not None:  # a measure-level filter applies to both parts
                            combined = f"({m.filter}) and ({rp.filter})" if rp.filter else m.filter
                            f = check_expression(combined, cols, what="filter")
                        row[kind] = _part_text(rp.type, e, f)
                        group["additive"].append(_part(next(seq), kpi.id, v.version, kind, rp.type, e, f))
                else:
                    group["nonadditive"].append(
                        {
                            "col": f"p{next(seq)}",
                            "kpi_id": kpi.id,
                            "version": v.version,
                            "agg": m.type,
                            "expr": expr.render(FACT_ALIAS) if expr is not None else None,
                            "filter": flt.render(FACT_ALIAS) if flt is not None else None,
                            "percentile": m.percentile,
                        }
                    )
            versions.append(row)
            weights += _weight_rows(kpi.id, v.version, s)

    _add_source_models(versions)
    ranges = resolve_ranges(specs, formulas, {k.id: k.current.version for k in catalog.kpis})
    for row in versions:
        interval, source = ranges[(row["kpi_id"], row["version"])]
        row["value_min"], row["value_max"] = interval.as_pair()
        row["range_source"] = source
    objectives = [
        {
            "objective_id": o.id,
            "name": o.name,
            "name_zh": o.name_zh,
            "description": o.description,
            "owner_org_unit_id": o.owner,
            "catalog_file": catalog.objective_files[o.id],
        }
        for o in catalog.objectives
    ]
    payload: dict[str, Any] = {
        "objectives": objectives,
        "versions": versions,
        "passes": [passes[k] for k in sorted(passes)],
        "weights": weights,
        "kpi_ids": sorted(kpi_ids),
        "derived_levels": max(levels.values(), default=0),
    }
    payload["catalog_hash"] = hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=True).encode()
    ).hexdigest()
    return CompiledCatalog(catalog=catalog, payload=payload)


def _compile_derived(row: dict[str, Any], formula_text: str, kpi_ids: set[str]) -> exp.Expression:
    """Fill in a derived version's formula, its SQL (whole, numerator/denominator, range) and the
    KPIs it references; return the formula's tree."""
    formula = check_formula(formula_text, kpi_ids)
    row["formula"] = formula.sql

    def ref(name: str) -> exp.Expression:
        return exp.column(name, table=DERIVED_ALIAS, quoted=True)

    row["derived_sql"] = render_tree(formula.tree, ref)
    split = split_division(formula.tree)
    if split is not None:
        row["derived_numerator_sql"] = render_tree(split[0], ref)
        row["derived_denominator_sql"] = render_tree(split[1], ref)
    row["derived_refs"] = sorted(formula.columns)
    # the formula over its inputs' possible ranges (the trust flag's value_low / value_high)
    interval = render_interval(formula.tree, lambda k: f'lo."{k}"', lambda k: f'hi."{k}"')
    row["derived_low_sql"], row["derived_high_sql"] = interval if interval else (None, None)
    return formula.tree


def _weight_rows(kpi_id: str, version: int, s: KpiSpec) -> list[dict[str, Any]]:
    """The version's weights: per org unit, then per unit type."""
    rows = [{"kpi_id": kpi_id, "version": version, "org_unit_id": unit, "unit_type": None,
             "weight": w, "scope": list(s.scope)} for unit, w in sorted(s.weights.units.items())]
    rows += [{"kpi_id": kpi_id, "version": version, "org_unit_id": None, "unit_type": unit_type,
              "weight": w, "scope": list(s.scope)} for unit_type, w in sorted(s.weights.by_unit_type.items())]
    return rows


def _add_source_models(versions: list[dict[str, Any]]) -> None:
    """Every version's fact models: its own, or (derived) those of the KPIs it references, any version."""
    by_kpi: dict[str, list[dict[str, Any]]] = {}
    for row in versions:
        by_kpi.setdefault(row["kpi_id"], []).append(row)

    def models_of(kpi_id: str, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for row in by_kpi.get(kpi_id, []):
            if row["measure_model"]:
                out.add(row["measure_model"])
            for ref in row["derived_refs"]:
                if ref not in seen:
                    out |= models_of(ref, seen | {ref})
        return out

    for row in versions:
        if row["measure_model"]:
            row["source_models"] = [row["measure_model"]]
        else:
            found: set[str] = set()
            for ref in row["derived_refs"]:
                found |= models_of(ref, frozenset({row["kpi_id"], ref}))
            row["source_models"] = sorted(found)


def _jinja_string(text: str) -> str:
    """A Jinja single-quoted string literal holding ``text`` (ASCII JSON)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_macro(compiled: CompiledCatalog) -> str:
    return (
        "{#- Generated by quality.catalog.compiler from dbt_project/catalog/*.yml. Do not edit:\n"
        "    run quality.catalog.compile_and_write(catalog_dir, dbt_project_dir). -#}\n"
        f"{{#- catalog_hash: {compiled.catalog_hash} -#}}\n"
        "{% macro kpi_catalog() -%}\n"
        f"    {{{{ return(fromjson({_jinja_string(compiled.to_json())})) }}}}\n"
        "{%- endmacro %}\n"
    )


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the generated files are ordinary project files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_compiled(
    compiled: CompiledCatalog | Path | str, dbt_project_dir: Path, target_paths: Iterable[Path] = ()
) -> Path:
    """Write the compiled catalog into ``<dbt_project_dir>/macros/generated/``; return the macro's path.

    ``compiled`` may also be the catalog directory: it is then compiled first (raising
    :class:`CatalogError` before anything is written when the catalog is invalid).

    dbt records that every KPI model depends on the generated macro, so partial parsing re-parses
    them whenever the catalog changes. A manifest parsed while the macro did not exist yet cannot
    know that: when the macro is created, the saved partial-parse state (``target/partial_parse.msgpack``
    of the project and of ``target_paths``) is removed so that dbt parses afresh.
    """
    if not isinstance(compiled, CompiledCatalog):
        compiled = compile_catalog(Path(compiled), dbt_project_dir)
    out_dir = Path(dbt_project_dir) / GENERATED_DIR
    macro = out_dir / MACRO_FILE
    created = not macro.exists()
    _atomic_write(out_dir / JSON_FILE, json.dumps(compiled.payload, ensure_ascii=False, sort_keys=True, indent=2) + "\n")
    _atomic_write(macro, render_macro(compiled))
    if created:
        for target in [Path(dbt_project_dir) / "target", *map(Path, target_paths)]:
            (target / "partial_parse.msgpack").unlink(missing_ok=True)
    return macro


def compile_and_write(
    catalog_dir: Path, dbt_project_dir: Path, target_paths: Iterable[Path] = ()
) -> CompiledCatalog:
    """Compile, then write only if valid (an invalid catalog raises before anything is written).

    ``target_paths``: dbt target folders other than ``<dbt_project_dir>/target`` the caller uses.
    """
    compiled = compile_catalog(catalog_dir, dbt_project_dir)
    write_compiled(compiled, dbt_project_dir, target_paths)
    return compiled
