from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.extract import extract_partitions, get_source_table
from tests.extract.sources import TinyCompany, tiny_company

DIMENSIONS = ("hr.org_units", "hr.employees", "erp.products", "erp.customers")
WINDOW = [date(2025, 2, 26) + timedelta(days=i) for i in range(6)]  # 2025-02-26 .. 2025-03-03


def extract_dimensions(company: TinyCompany, names: tuple[str, ...] = DIMENSIONS) -> None:
    cfg = company.config()
    for name in names:
        results = extract_partitions(get_source_table(name), WINDOW, cfg)
        assert all(r.status != "rejected" for r in results), [r.message for r in results]


def copy_company(template: TinyCompany, root: Path) -> TinyCompany:
    """A private copy of a (SQLite) tiny company: databases, landing folder and lake."""
    shutil.copytree(template.root, root)
    return TinyCompany(root, f"sqlite:///{root / 'erp.sqlite'}", f"sqlite:///{root / 'hr.sqlite'}")


@pytest.fixture(scope="session")
def _company_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TinyCompany, TinyCompany]]:
    base = tmp_path_factory.mktemp("tiny-company")
    bare = tiny_company(base / "bare")
    dims = copy_company(bare, base / "dims")
    extract_dimensions(dims)
    yield bare, dims


@pytest.fixture
def company(tmp_path: Path, _company_template: tuple[TinyCompany, TinyCompany]) -> TinyCompany:
    """Tiny SQLite ERP + HR, landing folder, empty lake."""
    return copy_company(_company_template[0], tmp_path / "co")


@pytest.fixture
def company_with_dims(tmp_path: Path, _company_template: tuple[TinyCompany, TinyCompany]) -> TinyCompany:
    """The tiny company with its dimensions (org units, employees, products, customers) extracted."""
    return copy_company(_company_template[1], tmp_path / "co")
