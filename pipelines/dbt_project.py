"""The dbt project: where it is, and how its manifest is prepared (once, not at import)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from pipelines.settings import DBT_PROJECT_DIR, get_settings

TARGET_PATH = Path("target")
MANIFEST_PATH = DBT_PROJECT_DIR / TARGET_PATH / "manifest.json"
#: dbt from the same environment as this interpreter (works without activating the venv).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@functools.cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=TARGET_PATH)
    project.prepare_if_dev()
    return project


def prepare_dbt_project(*, progress: Callable[[str], None] = print) -> Path:
    """Compile the KPI catalog into the dbt project, then write the manifest (``dbt parse``).

    Run once after install and whenever the catalog or the dbt project changes (``kpi prepare``).
    An invalid catalog raises and leaves the last valid compiled catalog in place.
    """
    from quality.catalog import write_compiled  # the catalog compiler lives with its lint

    settings = get_settings()
    progress("compiling the KPI catalog")
    write_compiled(settings.catalog_dir, DBT_PROJECT_DIR)
    progress("parsing the dbt project (manifest)")
    resource = dbt_resource()
    resource.cli(["parse", "--quiet"], target_path=TARGET_PATH).wait()
    return MANIFEST_PATH




def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)
