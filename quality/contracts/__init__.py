"""Source contracts: per source table the columns with types, keys, allowed values, ranges,
future-date bound, references and volume expectations — validated as Great Expectations suites.

Pure Python; never imports Dagster. ``pipelines/extract`` calls :func:`validate_batch` once per
extraction call and turns the failures into quarantine rows.
"""

from __future__ import annotations

from typing import Any

from quality.contracts.coerce import coerce_frame, expected_type
from quality.contracts.model import (
    DEFAULT_MAX_LENGTH,
    MIN_DATE,
    Column,
    ColumnType,
    Contract,
    PairRule,
    Reference,
    TimestampMode,
    VolumeRule,
)
from quality.contracts.references import ReferenceKeys, TableFiles
from quality.contracts.suites import ContractCheckError, ExpectationSpec, FutureBound, build_specs
from quality.contracts.tables import CONTRACTS, get_contract
from quality.contracts.validate import FAILURE_COLUMNS, ValidationOutcome, validate_batch
from quality.contracts.volume import volume_warning


def describe_contracts() -> list[dict[str, Any]]:
    """Every table's contract and suite, as plain data for the quality report and docs."""
    out: list[dict[str, Any]] = []
    for contract in CONTRACTS:
        expectations = [
            {"rule": "type", "expectation": "type", "field": c.name,
             "description": f"{c.name} must be {expected_type(c, contract.timestamp_mode)}",
             "kwargs": {}, "action": "quarantine"}
            for c in contract.columns
        ]
        expectations += [
            {"rule": s.rule, "expectation": s.expectation, "field": s.field, "description": s.description,
             "kwargs": {k: (str(v) if not isinstance(v, int | float | str | list | type(None)) else v)
                        for k, v in s.kwargs.items()},
             "action": "quarantine"}
            for s in build_specs(contract)
        ]
        expectations += [
            {"rule": f"reference({c.name})", "expectation": "reference", "field": c.name,
             "description": f"{c.name} must exist in {ref.qualified} (raw lake or the same batch)",
             "kwargs": {"source": ref.source, "table": ref.table, "column": ref.column},
             "action": "quarantine"}
            for c, ref in contract.references
        ]
        expectations.append(
            {"rule": "duplicate_key", "expectation": "duplicate_key", "field": ",".join(contract.key),
             "description": f"({', '.join(contract.key)}) is unique within a partition; "
                            "the first occurrence is kept",
             "kwargs": {}, "action": "quarantine"})
        if contract.volume is not None:
            v = contract.volume
            expectations.append(
                {"rule": "volume", "expectation": "volume", "field": None,
                 "description": f"rows per partition within {v.low:g}×–{v.high:g}× the median of the "
                                f"last {v.lookback} non-empty partitions",
                 "kwargs": {"low": v.low, "high": v.high, "lookback": v.lookback}, "action": "warn"})
        out.append({
            "source": contract.source,
            "table": contract.table,
            "name": contract.name,
            "description": contract.description,
            "key": list(contract.key),
            "timestamp_mode": contract.timestamp_mode,
            "columns": [
                {"name": c.name, "type": c.type, "nullable": c.nullable and c.name not in contract.key,
                 "description": c.description, "pii": c.pii, "derived": c.derived,
                 "references": c.references.qualified if c.references else None}
                for c in contract.columns
            ],
            "expectations": expectations,
        })
    return out


__all__ = [
    "CONTRACTS",
    "DEFAULT_MAX_LENGTH",
    "FAILURE_COLUMNS",
    "MIN_DATE",
    "Column",
    "ColumnType",
    "Contract",
    "ContractCheckError",
    "ExpectationSpec",
    "FutureBound",
    "PairRule",
    "Reference",
    "ReferenceKeys",
    "TimestampMode",
    "ValidationOutcome",
    "VolumeRule",
    "build_specs",
    "coerce_frame",
    "describe_contracts",
    "get_contract",
    "TableFiles",
    "validate_batch",
    "volume_warning",
]
