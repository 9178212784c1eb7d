"""A night whose raw lake did not change: rebuild only what the run date (and the load log) changes.

Every night the run date moves forward, so the running periods, the as-of date, freshness and the
load log change even when no raw partition did. Everything else the warehouse holds — staging, the
facts, the dimensions — is a function of the raw lake, the dbt project and its settings only. So a
build may leave those alone when all of these are exactly as they were after the last successful
build of the *whole* project:

* the raw lake's data files (``lake/raw``, ``lake/quarantine``: path, size, modification time — the
  extraction leaves a partition whose content did not change untouched, byte for byte) — but the
  check-ins snapshot, which every run rewrites;
* the dbt manifest (models, macros, seeds and the compiled KPI catalog);
* the dbt environment (paths, time zone) and the dbt vars other than the run's dates and run id;
* the warehouse file itself (size, modification time): nothing else wrote it since.

The models rebuilt then are the **date-dependent roots** and everything downstream of them (their
tests included): models, snapshots and seeds whose code reads ``var('as_of_date')`` or
``var('run_date')`` (directly or through a macro), read a dbt source that is not a raw table (the
load log, the quarantine) or a raw table rewritten by every run (the check-ins snapshot), or read the
lake by path (``env_var('KPI_LAKE_DIR')``). The result is the
same warehouse as a full build of that night (``tests/perf/test_incremental_equals_full.py``).

The state is a JSON file beside the warehouse (``<warehouse>.last-build.json``), removed before every
build and written after a successful one that covered the whole project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The dbt vars that change from night to night without the data changing.
RUN_VARS = ("as_of_date", "run_date", "dagster_run_id")
#: dbt environment variables that do not change what is built (only how fast / in how much memory).
UNHASHED_ENV = ("KPI_DUCKDB_MEMORY_LIMIT", "KPI_DUCKDB_THREADS")
#: The lake folders the raw sources read; the load log (``_meta``) changes every run and its models
#: are always rebuilt.
LAKE_DATA_FOLDERS = ("raw", "quarantine")
#: Lake sources the nightly job rewrites wholesale on every run — the owners' check-ins snapshot
#: (``pipelines/checkins.py``: every partition written again with the run's ``_loaded_at``): left out
#: of the fingerprint, and the models reading them (source ``raw_<name>``) are always rebuilt.
REWRITTEN_EVERY_RUN = ("checkins",)
STATE_SUFFIX = ".last-build.json"
#: dbt resource types that build something in the warehouse.
BUILT_TYPES = ("model", "snapshot", "seed")

_DATE_VAR = re.compile(r"""\bvar\(\s*['"](as_of_date|run_date)['"]""")
_LAKE_BY_PATH = re.compile(r"""env_var\(\s*['"]KPI_LAKE_DIR['"]""")


def _date_macros(manifest: Mapping[str, Any]) -> set[str]:
    """The project's macros that read a date var, directly or through another macro."""
    macros = manifest["macros"]
    found = {k for k, v in macros.items() if _DATE_VAR.search(v.get("macro_sql") or "")}
    changed = True
    while changed:
        changed = False
        for key, macro in macros.items():
            if key not in found and found & set(macro.get("depends_on", {}).get("macros", [])):
                found.add(key)
                changed = True
    return found


def date_dependent_roots(manifest: Mapping[str, Any]) -> set[str]:
    """unique ids of the built nodes whose result can change while the raw lake does not."""
    date_macros = _date_macros(manifest)
    rewritten = {f"raw_{name}" for name in REWRITTEN_EVERY_RUN}
    non_raw_sources = {k for k, s in manifest["sources"].items()
                       if not s["source_name"].startswith("raw_") or s["source_name"] in rewritten}
    roots = set()
    for key, node in manifest["nodes"].items():
        if node["resource_type"] not in BUILT_TYPES:
            continue
        code = node.get("raw_code") or ""
        depends = node.get("depends_on", {})
        if (_DATE_VAR.search(code) or _LAKE_BY_PATH.search(code)
                or date_macros & set(depends.get("macros", []))
                or non_raw_sources & set(depends.get("nodes", []))):
            roots.add(key)
    return roots


def rebuilt_nodes(manifest: Mapping[str, Any]) -> set[str]:
    """The date-dependent roots and every built node downstream of them."""
    children = manifest["child_map"]
    found: set[str] = set()
    stack = list(date_dependent_roots(manifest))
    while stack:
        key = stack.pop()
        if key in found:
            continue
        found.add(key)
        stack.extend(children.get(key, []))
    return {k for k in found if k.split(".")[0] in BUILT_TYPES}


def unchanged_nodes(manifest: Mapping[str, Any]) -> list[str]:
    """unique ids of the built nodes a night with an unchanged lake leaves alone."""
    rebuilt = rebuilt_nodes(manifest)
    return sorted(k for k, n in manifest["nodes"].items() if n["resource_type"] in BUILT_TYPES and k not in rebuilt)


def exclude_args(manifest: Mapping[str, Any]) -> list[str]:
    """``--exclude`` of the unchanged nodes. Run with ``DBT_INDIRECT_SELECTION=cautious``: then a test
    is left out only when all its parents are, so exactly the tests of the rebuilt nodes run (with
    dbt's default, eager, a relationship test to an unchanged dimension would be left out too)."""
    # by full fqn: a bare name would also match a folder of the same name
    names = [_fqn_selector(manifest["nodes"][k]) for k in unchanged_nodes(manifest)]
    return ["--exclude", " ".join(names)] if names else []


def _fqn_selector(node: Mapping[str, Any]) -> str:
    return "fqn:" + ".".join(node["fqn"]) if node.get("fqn") else node["name"]


# --- the state of the last full build -------------------------------------------------------------


def state_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + STATE_SUFFIX)


def _lake_files(lake_dir: Path) -> list[tuple[str, int, int]]:
    files = []
    for folder in LAKE_DATA_FOLDERS:
        base = Path(lake_dir) / folder
        if not base.is_dir():
            continue
        for root, dirs, names in os.walk(base):
            if Path(root) == base:
                dirs[:] = [d for d in dirs if d not in REWRITTEN_EVERY_RUN]
            for name in names:
                path = Path(root) / name
                st = path.stat()
                files.append((str(path.relative_to(lake_dir)), st.st_size, st.st_mtime_ns))
    return sorted(files)


def inputs_fingerprint(lake_dir: Path, manifest_path: Path, dbt_env: Mapping[str, str],
                       dbt_vars: Mapping[str, Any]) -> str:
    """What a full build's result depends on, apart from the run's dates."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(Path(manifest_path).read_bytes()).digest())
    digest.update(json.dumps({k: v for k, v in dbt_env.items() if k not in UNHASHED_ENV}, sort_keys=True).encode())
    digest.update(json.dumps({k: v for k, v in dbt_vars.items() if k not in RUN_VARS}, sort_keys=True,
                             default=str).encode())
    for entry in _lake_files(lake_dir):
        digest.update(json.dumps(entry).encode())
    return digest.hexdigest()


def _warehouse_stat(warehouse: Path) -> list[int] | None:
    try:
        st = Path(warehouse).stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def clear_state(warehouse: Path) -> None:
    state_path(warehouse).unlink(missing_ok=True)


def write_state(warehouse: Path, fingerprint: str, run_id: str) -> None:
    """After a successful build: what it was built from, and the warehouse file as it left it."""
    path = state_path(warehouse)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "warehouse": _warehouse_stat(warehouse),
                               "run_id": run_id}), encoding="utf-8")
    tmp.replace(path)


def unchanged_since(warehouse: Path, fingerprint: str) -> str | None:
    """The run id of the last successful full build when nothing it was built from changed since."""
    try:
        state = json.loads(state_path(warehouse).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    current = _warehouse_stat(warehouse)
    if current is None or state.get("fingerprint") != fingerprint or state.get("warehouse") != current:
        return None
    return state.get("run_id") or "?"
