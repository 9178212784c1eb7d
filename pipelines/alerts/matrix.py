"""The responsibility matrix: who owns a KPI, and whom an unacknowledged alert escalates to.

- Owner of a KPI: ``kpi_definitions.owner_employee_id``; else the manager of the owning unit
  (``dim_org_unit.manager_employee_id`` of ``kpi_definitions.owner_org_unit_id``).
- The owner answers for the owning unit (or, for a person without one, their current unit).
- Escalation: the manager of the owner's parent unit; if that is the owner themself (or empty), the
  next unit up. None at the top of the tree.

The KPI version and org-unit row used are the ones valid on the as-of date (SCD2, ``valid_to``
exclusive), so a re-organisation routes alerts to the right manager.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pipelines.alerts.model import Recipient, as_date, records, require_columns


@dataclass(frozen=True)
class _Kpi:
    kpi_id: str
    name: str | None
    owner_org_unit_id: str | None
    owner_employee_id: str | None


@dataclass(frozen=True)
class _Unit:
    org_unit_id: str
    name: str | None
    parent_org_unit_id: str | None
    manager_employee_id: str | None


class ResponsibilityMatrix:
    """Build with :meth:`from_marts`; rows may be DataFrames or iterables of mappings."""

    def __init__(self, kpis: dict[str, _Kpi], units: dict[str, _Unit], employees: dict[str, dict[str, Any]]):
        self._kpis = kpis
        self._units = units
        self._employees = employees

    @classmethod
    def from_marts(
        cls, kpi_definitions: Any, org_units: Any, employees: Any, *, as_of_date: date | None = None
    ) -> ResponsibilityMatrix:
        kpi_rows = records(kpi_definitions)
        unit_rows = records(org_units)
        employee_rows = records(employees)
        require_columns(kpi_rows, ["kpi_id", "owner_org_unit_id", "owner_employee_id"], "kpi_definitions")
        require_columns(unit_rows, ["org_unit_id", "parent_org_unit_id", "manager_employee_id"], "dim_org_unit")
        require_columns(employee_rows, ["employee_id", "email"], "dim_employee")
        kpis = {
            r["kpi_id"]: _Kpi(r["kpi_id"], r.get("name"), r.get("owner_org_unit_id"), r.get("owner_employee_id"))
            for r in _valid_rows(kpi_rows, "kpi_id", as_of_date, "kpi_definitions")
        }
        units = {
            r["org_unit_id"]: _Unit(
                r["org_unit_id"], r.get("name"), r.get("parent_org_unit_id"), r.get("manager_employee_id")
            )
            for r in _valid_rows(unit_rows, "org_unit_id", as_of_date, "dim_org_unit")
        }
        people = {r["employee_id"]: r for r in employee_rows}
        return cls(kpis, units, people)

    # --- names -------------------------------------------------------------------------------------

    def kpi_name(self, kpi_id: str) -> str:
        kpi = self._kpis.get(kpi_id)
        return (kpi.name if kpi and kpi.name else None) or kpi_id

    def unit_name(self, org_unit_id: str | None) -> str:
        unit = self._units.get(org_unit_id or "")
        return (unit.name if unit and unit.name else None) or (org_unit_id or "")

    # --- routing -----------------------------------------------------------------------------------

    def person(self, employee_id: str | None, org_unit_id: str | None = None) -> Recipient:
        if not employee_id:
            return Recipient(None, org_unit_id=org_unit_id)
        row = self._employees.get(employee_id, {})
        unit = org_unit_id or row.get("current_org_unit_id")
        return Recipient(employee_id, row.get("full_name"), row.get("email"), unit)

    def owner(self, kpi_id: str) -> Recipient:
        """The KPI's owner person, else the owning unit's manager; unassigned when neither exists."""
        kpi = self._kpis.get(kpi_id)
        if kpi is None:
            return Recipient(None)
        if kpi.owner_employee_id:
            return self.person(kpi.owner_employee_id, kpi.owner_org_unit_id)
        unit = self._units.get(kpi.owner_org_unit_id or "")
        manager = unit.manager_employee_id if unit else None
        return self.person(manager, kpi.owner_org_unit_id)

    def escalation_for(self, owner: Recipient) -> Recipient | None:
        """The manager of the owner's parent unit (walking up past the owner themself)."""
        unit = self._units.get(owner.org_unit_id or "")
        seen: set[str] = set()
        while unit is not None and unit.parent_org_unit_id and unit.parent_org_unit_id not in seen:
            seen.add(unit.org_unit_id)
            parent = self._units.get(unit.parent_org_unit_id)
            if parent is None:
                return None
            if parent.manager_employee_id and parent.manager_employee_id != owner.employee_id:
                return self.person(parent.manager_employee_id, parent.org_unit_id)
            unit = parent
        return None


def _valid_rows(rows: list[dict[str, Any]], key: str, as_of: date | None, what: str) -> list[dict[str, Any]]:
    """One row per key: the version valid on ``as_of`` (valid_from <= as_of < valid_to), else the
    current one (``is_current``), else the latest ``valid_from``."""
    chosen: dict[str, tuple[int, date, dict[str, Any]]] = {}
    for number, row in enumerate(rows, start=1):
        if row.get(key) is None:
            raise ValueError(f"{what} row {number}: field {key} is empty")
        start = as_date(row.get("valid_from"), field_name=f"{what} row {number} valid_from") or date.min
        end = as_date(row.get("valid_to"), field_name=f"{what} row {number} valid_to")
        if as_of is not None and start <= as_of and (end is None or as_of < end):
            rank = 2
        elif row.get("is_current") in (True, 1) or (as_of is None and end is None):
            rank = 1
        else:
            rank = 0
        best = chosen.get(row[key])
        if best is None or (rank, start) > (best[0], best[1]):
            chosen[row[key]] = (rank, start, row)
    return [entry[2] for entry in chosen.values()]
