"""The demo company generator (艾克美仪器 / ACME Instruments): deterministic, pure Python.

``generate(data_dir, seed=42, scale=1.0, ...)`` writes the source systems described in
``docs/sources.md`` plus the ground truth (``ground_truth/anomalies.csv``, ``defects.csv``,
``manifest.json``) and returns the manifest. Command line: ``python -m pipelines.demo --help``.
"""

from .common import DemoConfigError
from .generator import generate

__all__ = ["DemoConfigError", "generate"]
