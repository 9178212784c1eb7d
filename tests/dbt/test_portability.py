"""DuckDB-only SQL stays in macros/compat (adapter.dispatch), not in the core models."""

from __future__ import annotations

import re

import pytest

from pipelines.settings import DBT_PROJECT_DIR

CORE_MODEL_DIRS = (
    "models/staging",
    "models/intermediate/calendar",
    "models/intermediate/org",
    "models/intermediate/people",
    "models/marts/core",
)

#: DuckDB functions and syntax without a portable equivalent of the same spelling.
DUCKDB_ONLY = (
    r"\btimezone\s*\(", r"\bread_parquet\s*\(", r"\bgenerate_series\s*\(", r"\bunnest\s*\(", r"\bepoch\s*\(",
    r"\bisodow\s*\(", r"\bisoyear\s*\(", r"\bweekofyear\s*\(", r"\bstrftime\s*\(", r"\bstrptime\s*\(",
    r"\bqualify\b", r"\bexclude\s*\(", r"::", r"\blist_\w+\s*\(", r"\barg_max\s*\(", r"\bdate_diff\s*\(",
    r"\bgroup by all\b", r"\btimestamptz\b",
)


def _core_sql_files():
    for d in CORE_MODEL_DIRS:
        yield from sorted((DBT_PROJECT_DIR / d).rglob("*.sql"))


@pytest.mark.parametrize("path", list(_core_sql_files()), ids=lambda p: p.name)
def test_core_model_has_no_duckdb_only_sql(path):
    text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)  # ignore Jinja comments
    text = re.sub(r"--[^\n]*", "", text)
    found = [p for p in DUCKDB_ONLY if re.search(p, text, flags=re.I)]
    assert not found, f"{path.relative_to(DBT_PROJECT_DIR)} uses {found}: put it in a macros/compat macro"


def test_compat_macros_dispatch_with_a_duckdb_implementation():
    for path in sorted((DBT_PROJECT_DIR / "macros" / "compat").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"adapter\.dispatch\('(\w+)'", text):
            assert f"macro duckdb__{name}(" in text or f"macro default__{name}(" in text, (path.name, name)
