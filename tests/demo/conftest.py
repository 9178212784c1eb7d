"""Small demo companies generated once per session (tmp folders, tiny scales, short windows)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.demo import generate

#: covers the re-organisation (2024-07-01) and the FY2024 mid-year plan revision
SMALL = {"seed": 42, "scale": 0.02, "start": date(2024, 5, 1), "end": date(2024, 8, 31)}
#: long and large enough for anomalies to be planned and measured
ANOMALY = {"seed": 7, "scale": 0.3, "start": date(2024, 1, 1), "end": date(2024, 10, 31)}


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo_small")
    manifest = generate(root, **SMALL)
    return root, manifest


@pytest.fixture(scope="session")
def demo_2025(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A window across 2025-07-01: FY2025 v1 and the v2 revision."""
    root = tmp_path_factory.mktemp("demo_2025")
    manifest = generate(root, seed=42, scale=0.01, start=date(2025, 6, 1), end=date(2025, 7, 20))
    return root, manifest


@pytest.fixture(scope="session")
def anomaly_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo_anomaly")
    manifest = generate(root, **ANOMALY)
    return root, manifest
