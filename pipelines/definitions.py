"""The Dagster code location (`dagster dev -w workspace.yaml`): wiring only.

Everything is built by ``pipelines.orchestration.definitions.build_definitions`` from the settings.
"""

from pipelines.orchestration.definitions import build_definitions
from pipelines.settings import get_settings

defs = build_definitions(get_settings())
