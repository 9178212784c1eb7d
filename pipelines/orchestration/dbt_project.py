"""The dbt project: which dbt runs it, and how its manifest is prepared (once, not at import).

The project's folder comes from the settings (``KPI_DBT_PROJECT_DIR``, default ``<repo>/dbt_project``)
and is passed in: nothing here reads the settings.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

TARGET_PATH = Path("target")
#: dbt from the same environment as this interpreter: `.venv/bin/dagster dev` and `.venv/bin/kpi`
#: work without activating the venv or putting it on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def manifest_path(project_dir: Path, target_path: Path = TARGET_PATH) -> Path:
    """The manifest ``kpi prepare`` wrote; ``target_path`` is per engine (``Settings.dbt_target_path``)."""
    return Path(project_dir) / target_path / "manifest.json"


class CatalogDbtPreparer(DagsterDbtProjectPreparer):
    """What ``dagster dev`` does when it loads the code location: the same as ``kpi prepare``.

    dagster-dbt's own preparer runs ``dbt`` from PATH, which fails ("dbt executable 'dbt' was not
    found on PATH") unless the venv is activated; this one runs this environment's dbt, and compiles
    the KPI catalog first, so a catalog edited during development is picked up by a reload.
    """

    def __init__(self, catalog_dir: Path, target: str = "dev") -> None:
        super().__init__()
        self.catalog_dir = Path(catalog_dir)
        self.target = target

    def prepare(self, project: DbtProject) -> None:
        _compile_and_parse(self.catalog_dir, Path(project.project_dir), Path(project.target_path), self.target,
                           lambda: DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE),
                           lambda _: None)


@functools.cache
def dbt_project(project_dir: Path, catalog_dir: Path, target_path: Path = TARGET_PATH,
                target: str = "dev") -> DbtProject:
    """The project, prepared first under ``dagster dev`` (catalog compiled, manifest parsed for the
    profiles.yml output ``target``) — before anything reads its manifest, so a fresh clone's
    ``dagster dev`` shows the current catalog."""
    project = DbtProject(project_dir=Path(project_dir), target_path=Path(target_path))
    CatalogDbtPreparer(catalog_dir, target).prepare_if_dev(project)  # only under `dagster dev`
    return project


def _compile_and_parse(catalog_dir: Path, project_dir: Path, target_path: Path, target: str,
                       resource: Callable[[], DbtCliResource], progress: Callable[[str], None]) -> None:
    """The catalog first (an invalid one raises before dbt is touched), then ``dbt parse`` for the
    profiles.yml output ``target`` (the engine's: the parsed project differs between them)."""
    from quality.catalog import write_compiled  # the catalog compiler lives with its lint

    progress("compiling the KPI catalog")
    write_compiled(catalog_dir, project_dir)
    progress("parsing the dbt project (manifest)")
    resource().cli(["parse", "--quiet", "--target", target], target_path=target_path).wait()


def prepare_dbt_project(project_dir: Path, catalog_dir: Path, *, progress: Callable[[str], None] = print,
                        resource: DbtCliResource | None = None, target_path: Path = TARGET_PATH,
                        target: str = "dev") -> Path:
    """Compile the KPI catalog into the dbt project, then write the manifest (``dbt parse``).

    Run once after install and whenever the catalog or the dbt project changes (``kpi prepare``).
    An invalid catalog raises and leaves the last valid compiled catalog in place.
    """
    project_dir = Path(project_dir)
    _compile_and_parse(catalog_dir, project_dir, Path(target_path), target,
                       lambda: resource or DbtCliResource(project_dir=str(project_dir), dbt_executable=DBT_EXECUTABLE),
                       progress)
    return manifest_path(project_dir, target_path)


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
