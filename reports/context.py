"""What every report needs: the connection, the scope, the language, and the KPI definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from reports import formatting, marts
from reports.html import Html, anchor_id, esc, tag
from reports.i18n import I18n
from reports.scope import Scope, resolve_scope

DATE_COLUMNS = ("period_start", "period_end", "valid_from", "valid_to", "start_date", "end_date", "date",
                "as_of_date", "partition_date", "latest_partition")


@dataclass
class Context:
    con: duckdb.DuckDBPyConnection
    scope: Scope
    i18n: I18n
    on: date
    defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    objectives: dict[str, dict[str, Any]] = field(default_factory=dict)
    show_person_names: bool = False
    _people: dict[str, dict[str, Any]] | None = None

    @property
    def lang(self) -> str:
        return self.i18n.lang

    # --- reading ---------------------------------------------------------------------------
    def read_scoped(
        self,
        table: str,
        where: str = "",
        params: Sequence[Any] = (),
        *,
        columns: Sequence[str] | None = None,
        org_column: str = "org_unit_id",
    ) -> pd.DataFrame:
        """Rows of `marts.<table>` for the units in scope only (filtered in SQL)."""
        if org_column not in marts.COLUMNS[table]:
            raise ValueError(f"{table} has no column {org_column}")
        clause = f"list_contains(?, {org_column})"
        if where:
            clause += f" and ({where})"
        frame = marts.read(self.con, table, where=clause, params=[self.scope.ids, *params], columns=columns)
        return marts.normalise_dates(frame, *(c for c in DATE_COLUMNS if c in frame.columns))

    # --- names -----------------------------------------------------------------------------
    def kpi(self, kpi_id: str) -> Mapping[str, Any]:
        return self.defs.get(kpi_id) or {"kpi_id": kpi_id, "name": kpi_id}

    def kpi_name(self, kpi_id: str) -> str:
        return self.i18n.name(self.kpi(kpi_id))

    def unit_name(self, org_unit_id: str) -> str:
        return self.i18n.name(self.scope.unit(org_unit_id))

    def unit_link(self, org_unit_id: str, *, with_id: bool = True) -> Html:
        text = self.unit_name(org_unit_id)
        link = tag("a", text, href="#" + anchor_id("u", org_unit_id))
        return link + (Html(" ") + tag("span", org_unit_id, class_="sub") if with_id else Html(""))

    def objective_name(self, objective_id: str | None) -> str:
        if not objective_id or objective_id not in self.objectives:
            return str(objective_id or "—")
        return self.i18n.name(self.objectives[objective_id])

    def person(self, employee_id: Any) -> str:
        """An employee id, with the name when `show_person_names` (names are PII)."""
        if formatting.is_missing(employee_id):
            return ""
        text = str(employee_id)
        if not self.show_person_names:
            return text
        if self._people is None:
            people = marts.read(self.con, "dim_employee")
            self._people = {r["employee_id"]: r for r in marts.records(people)}
        row = self._people.get(text)
        if not row:
            return text
        name = row.get("full_name_zh") if self.lang == "zh" and row.get("full_name_zh") else row.get("full_name")
        return f"{name} ({text})" if name else text

    def author(self, value: Any) -> str:
        """A check-in's author: free text, or an employee (named when `show_person_names`)."""
        text = self.free_text(value)
        return self.person(text) if self.show_person_names and text else text

    def free_text(self, text: Any) -> str:
        """User-written text, with other units redacted in a scoped report."""
        if formatting.is_missing(text):
            return ""
        return str(self.scope.redact(str(text)))

    # --- KPI properties --------------------------------------------------------------------
    def unit_of(self, kpi_id: str) -> str:
        return str(self.kpi(kpi_id).get("unit") or "")

    def direction(self, kpi_id: str) -> str:
        return str(self.kpi(kpi_id).get("direction") or "higher_is_better")

    def measure_type(self, kpi_id: str) -> str:
        return str(self.kpi(kpi_id).get("measure_type") or "")

    def amber(self, kpi_id: str) -> float:
        value = formatting.to_float(self.kpi(kpi_id).get("amber_threshold"))
        return value if value is not None else 0.9

    def cap(self, kpi_id: str) -> float:
        value = formatting.to_float(self.kpi(kpi_id).get("score_cap"))
        return value if value is not None else 1.2

    def fmt(self, kpi_id: str, value: Any) -> str:
        return formatting.format_value(value, self.unit_of(kpi_id), self.lang)

    def fmt_delta(self, kpi_id: str, value: Any) -> str:
        return formatting.format_delta(value, self.unit_of(kpi_id), self.lang)

    def kpi_order(self, kpi_ids: Sequence[str]) -> list[str]:
        order = {k: i for i, k in enumerate(self.defs)}
        return sorted(set(kpi_ids), key=lambda k: (order.get(k, len(order)), k))

    def kpi_title(self, kpi_id: str) -> Html:
        return tag("span", self.kpi_name(kpi_id)) + Html(" ") + tag("span", kpi_id, class_="sub")


def load_context(
    con: duckdb.DuckDBPyConnection,
    on: date,
    org: str | None,
    lang: str,
    *,
    show_person_names: bool = False,
) -> Context:
    i18n = I18n(lang)
    scope = resolve_scope(con, on, org)
    defs_frame = marts.definitions_on(con, on)
    defs = {r["kpi_id"]: r for r in marts.records(defs_frame)}
    objectives = {r["objective_id"]: r for r in marts.records(marts.read(con, "kpi_objectives"))}
    return Context(con=con, scope=scope, i18n=i18n, on=on, defs=defs, objectives=objectives,
                   show_person_names=show_person_names)


def status_chip(ctx: Context, status: Any, verified: Any = True, *, title: str | None = None,
                explain: bool = True) -> Html:
    """A status chip; an unverified one explains itself on hover unless `explain=False` (where the
    reason is written beside it anyway)."""
    from reports.theme import status_class

    ok = bool(verified) if not formatting.is_missing(verified) else True
    cls = status_class(status if not formatting.is_missing(status) else None, ok)
    hover = title or (ctx.i18n("unverified_note") if not ok and explain else None)
    return tag("span", ctx.i18n.status(None if formatting.is_missing(status) else str(status), verified=ok),
               class_=f"chip st-{cls}", title=hover)


def esc_text(value: Any) -> Html:
    return esc("" if formatting.is_missing(value) else value)
