"""The dbt project: where it is, which dbt runs it, and how its manifest is prepared (once, not at import)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from pipelines.settings import DBT_PROJECT_DIR, get_settings

TARGET_PATH = Path("target")
MANIFEST_PATH = DBT_PROJECT_DIR / TARGET_PATH / "manifest.json"
#: dbt from the same environment as this interpreter: `.venv/bin/dagster dev` and `.venv/bin/kpi`
#: work without activating the venv or putting it on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class CatalogDbtPreparer(DagsterDbtProjectPreparer):
    """What ``dagster dev`` does when it loads the code location: the same as ``kpi prepare``.

    dagster-dbt's own preparer runs ``dbt`` from PATH, which fails ("dbt executable 'dbt' was not
    found on PATH") unless the venv is activated; this one runs this environment's dbt, and compiles
    the KPI catalog first, so a catalog edited during development is picked up by a reload.
    """

    def prepare(self, project: DbtProject) -> None:
        resource = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        _compile_and_parse(Path(project.project_dir), resource, Path(project.target_path), lambda _: None)


@functools.cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=TARGET_PATH)
    CatalogDbtPreparer().prepare_if_dev(project)  # only under `dagster dev`
    return project


def _compile_and_parse(project_dir: Path, resource: DbtCliResource, target_path: Path,
                       progress: Callable[[str], None]) -> None:
    from quality.catalog import write_compiled  # the catalog compiler lives with its lint

    progress("compiling the KPI catalog")
    write_compiled(get_settings().catalog_dir, project_dir)
    progress("parsing the dbt project (manifest)")
    resource.cli(["parse", "--quiet"], target_path=target_path).wait()


def prepare_dbt_project(*, progress: Callable[[str], None] = print) -> Path:
    """Compile the KPI catalog into the dbt project, then write the manifest (``dbt parse``).

    Run once after install and whenever the catalog or the dbt project changes (``kpi prepare``).
    An invalid catalog raises and leaves the last valid compiled catalog in place.
    """
    _compile_and_parse(DBT_PROJECT_DIR, dbt_resource(), TARGET_PATH, progress)
    return MANIFEST_PATH


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)
