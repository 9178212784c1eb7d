"""Engine-specific SQL stays in macros (adapter.dispatch, DuckDB and Spark implementations), not in models.

Every model (staging, intermediate, KPI engine, marts) and every singular test compiles for both
targets of profiles.yml; tests/dbt/test_spark_parity.py builds them on both and compares the marts.
"""

from __future__ import annotations

import re

import pytest

from pipelines.settings import DBT_PROJECT_DIR

SQL_DIRS = ("models", "tests")

#: DuckDB functions and syntax without a portable equivalent of the same spelling.
DUCKDB_ONLY = (
    r"\btimezone\s*\(", r"\bread_parquet\s*\(", r"\bgenerate_series\s*\(", r"\bunnest\s*\(", r"\bepoch\s*\(",
    r"\bisodow\s*\(", r"\bisoyear\s*\(", r"\bweekofyear\s*\(", r"\bstrftime\s*\(", r"\bstrptime\s*\(",
    r"\bqualify\b", r"\bexclude\s*\(", r"::", r"\blist_\w+\s*\(", r"\barg_max\s*\(", r"\bdate_diff\s*\(",
    r"\bgroup by all\b", r"\btimestamptz\b",
    # Spark: VARCHAR needs a length, "x" is a string, no glob(), JSON, ordered string_agg, windowed median
    r"\bvarchar\b", r"\btext\b(?=\s*\))", r"\bhugeint\b", r'"\w+"', r"\bglob\s*\(", r"\bjson_extract",
    r"\bstring_agg\s*\(", r"\bmedian\s*\(", r"\bquantile\w*\s*\(", r"\bto_days\s*\(", r"\bto_years\s*\(",
)


def _sql_files():
    for d in SQL_DIRS:
        yield from sorted((DBT_PROJECT_DIR / d).rglob("*.sql"))


def engine_specific(text: str) -> list[str]:
    """The patterns of DUCKDB_ONLY that ``text`` (a model's source) uses outside Jinja and comments."""
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)  # Jinja comments
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)  # Jinja: macro calls render per engine
    text = re.sub(r"--[^\n]*", "", text)
    return [p for p in DUCKDB_ONLY if re.search(p, text, flags=re.I)]


@pytest.mark.parametrize("path", list(_sql_files()), ids=lambda p: str(p.relative_to(DBT_PROJECT_DIR)))
def test_models_and_tests_have_no_engine_specific_sql(path):
    found = engine_specific(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(DBT_PROJECT_DIR)} uses {found}: put it in a macros/compat macro"


def test_the_check_finds_what_spark_cannot_run():
    assert engine_specific("select cast(x as varchar), \"table\" from t qualify true") == [
        r"\bqualify\b", r"\bvarchar\b", r'"\w+"']
    assert engine_specific("select cast(x as {{ dbt.type_string() }}), {{ adapter.quote('table') }} from t") == []


def test_dispatched_macros_have_duckdb_and_spark_implementations():
    macros = {p: p.read_text(encoding="utf-8") for p in sorted((DBT_PROJECT_DIR / "macros").rglob("*.sql"))
              if "generated" not in p.parts}
    every = "\n".join(macros.values())
    dispatched = [(p.name, name) for p, text in macros.items()
                  for name in re.findall(r"adapter\.dispatch\('(\w+)'", text)]
    assert len(dispatched) > 15
    for file, name in dispatched:
        for engine in ("duckdb", "spark"):
            assert f"macro {engine}__{name}(" in every or f"macro default__{name}(" in every, (file, name, engine)
