"""Catalog problems, each naming the file, the KPI (or objective) id, the field and the reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogIssue:
    """One problem found in the KPI catalog."""

    file: str
    item_id: str | None
    field: str
    reason: str
    severity: str = "error"  # error | warning
    rule: str = "valid"  # valid (schema, references, formulas) or a lint rule: specific, measurable, ...

    def __str__(self) -> str:
        where = self.file
        if self.item_id:
            where += f": {self.item_id}"
        return f"{self.severity}: {where}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str | None]:
        return {"file": self.file, "kpi_id": self.item_id, "field": self.field, "reason": self.reason,
                "severity": self.severity, "rule": self.rule}


class CatalogError(ValueError):
    """The catalog is invalid; ``issues`` lists every problem found (never only the first)."""

    def __init__(self, issues: list[CatalogIssue]):
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"invalid KPI catalog ({len(self.issues)} problem(s)):\n{lines}")
