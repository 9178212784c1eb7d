from __future__ import annotations

from pathlib import Path

import pytest

from tests.publish._synthetic import build_warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse" / "warehouse.duckdb"
    path.parent.mkdir()
    build_warehouse(path, "run-1")
    return path


@pytest.fixture
def serving_dir(tmp_path: Path) -> Path:
    return tmp_path / "serving"
