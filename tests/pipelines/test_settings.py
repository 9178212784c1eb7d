"""Settings come from ``KPI_<FIELD>`` variables; a bad value stops with one line naming the variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.settings import Settings
from pipelines.user_errors import EXIT_USAGE, describe, exit_code


def test_variables_are_parsed_into_typed_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "kpi"))
    monkeypatch.setenv("KPI_DUCKDB_THREADS", "6")
    monkeypatch.setenv("KPI_DEMO_END", "2025-03-31")
    monkeypatch.setenv("KPI_SERVING_SHOW_PERSON_NAMES", "true")
    monkeypatch.setenv("KPI_SERVING_PG_URL", "postgresql://u:Sup3r@h/db")
    settings = Settings(_env_file=None)
    assert settings.data_dir == tmp_path / "kpi"
    assert settings.lake_dir == tmp_path / "kpi" / "lake"  # derived paths follow the one variable
    assert settings.duckdb_threads == 6 and settings.dbt_env()["KPI_DUCKDB_THREADS"] == "6"
    assert settings.demo_end == date(2025, 3, 31)
    assert settings.serving_show_person_names is True
    assert settings.serving_pg_url is not None
    assert settings.serving_pg_url.get_secret_value() == "postgresql://u:Sup3r@h/db"
    assert "Sup3r" not in repr(settings)


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("KPI_DUCKDB_THREADS", "0", "greater than or equal to 1"),
    ("KPI_DUCKDB_THREADS", "two", "valid integer"),
    ("KPI_FISCAL_YEAR_START_MONTH", "13", "less than or equal to 12"),
    ("KPI_DEMO_END", "31/03/2025", "date"),
])
def test_an_invalid_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    line = describe(raised.value)
    assert line is not None and "\n" not in line
    assert line.startswith(f"configuration: {variable}: ") and said in line
    assert exit_code(raised.value) == EXIT_USAGE
