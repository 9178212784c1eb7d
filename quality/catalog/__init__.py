"""The KPI catalog as code: load, validate and compile ``dbt_project/catalog/*.yml``.

No Dagster here. The pipeline calls :func:`compile_and_write` before ``dbt build``.
"""

from quality.catalog.compiler import CompiledCatalog, compile_and_write, compile_catalog, write_compiled
from quality.catalog.errors import CatalogError, CatalogIssue
from quality.catalog.expressions import ExpressionError, check_expression, check_formula
from quality.catalog.lint import lint_catalog
from quality.catalog.loader import load_catalog
from quality.catalog.schema import Catalog, Kpi, KpiSpec, KpiVersion

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "CompiledCatalog",
    "ExpressionError",
    "Kpi",
    "KpiSpec",
    "KpiVersion",
    "check_expression",
    "check_formula",
    "compile_and_write",
    "compile_catalog",
    "lint_catalog",
    "load_catalog",
    "write_compiled",
]
