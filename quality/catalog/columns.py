"""The documented columns of dbt models, read from ``models/**/_*__models.yml``.

A measure may only use columns that a model documents: the YAML is the model's contract.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def model_columns(dbt_project_dir: Path) -> dict[str, frozenset[str]]:
    """``{model name: documented column names}`` for every model in the dbt project."""
    found: dict[str, frozenset[str]] = {}
    models_dir = Path(dbt_project_dir) / "models"
    for path in sorted(models_dir.rglob("_*__models.yml")) + sorted(models_dir.rglob("_*__models.yaml")):
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        for model in doc.get("models") or []:
            if not isinstance(model, dict) or "name" not in model:
                continue
            names = {str(col["name"]).lower() for col in model.get("columns") or [] if isinstance(col, dict) and "name" in col}
            found[str(model["name"])] = frozenset(names)
    return found
