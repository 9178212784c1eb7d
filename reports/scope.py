"""`--org` scoping: the org units a report may show, and redaction of everyone else in free text.

A report scoped to a unit contains that unit's subtree (as the hierarchy stands on the report's
date) and nothing else. Guaranteed by construction: every mart read by a report is filtered to
`Scope.ids`, parents outside the scope are dropped (no rank among siblings, no parent's numbers),
and free text written by people (check-in comments, KPI descriptions, check messages) has other
units' ids and names replaced by `…` before it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from reports import marts

REDACTED = "…"


class UnknownOrgUnit(ValueError):
    """The requested org unit does not exist on the report's date."""


@dataclass(frozen=True)
class Scope:
    """The org units of a report, in tree order (depth first), as of `on`."""

    on: date
    org: str | None
    units: tuple[dict[str, Any], ...]
    excluded_ids: frozenset[str] = field(default_factory=frozenset)
    excluded_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_scoped(self) -> bool:
        return self.org is not None

    @property
    def ids(self) -> list[str]:
        return [u["org_unit_id"] for u in self.units]

    @property
    def roots(self) -> list[str]:
        return [u["org_unit_id"] for u in self.units if u["parent_org_unit_id"] is None]

    def unit(self, org_unit_id: str) -> Mapping[str, Any]:
        return self._by_id[org_unit_id]

    def __contains__(self, org_unit_id: object) -> bool:
        return org_unit_id in self._by_id

    @property
    def _by_id(self) -> dict[str, dict[str, Any]]:
        cached = self.__dict__.get("_by_id_cache")
        if cached is None:
            cached = {u["org_unit_id"]: u for u in self.units}
            object.__setattr__(self, "_by_id_cache", cached)
        return cached

    def children(self, org_unit_id: str) -> list[str]:
        return [u["org_unit_id"] for u in self.units if u["parent_org_unit_id"] == org_unit_id]

    def ancestors(self, org_unit_id: str) -> list[str]:
        """In-scope ancestors, root first (never beyond the scope's root)."""
        chain: list[str] = []
        parent = self._by_id[org_unit_id]["parent_org_unit_id"]
        while parent is not None and parent in self._by_id:
            chain.append(parent)
            parent = self._by_id[parent]["parent_org_unit_id"]
        return chain[::-1]

    def depth(self, org_unit_id: str) -> int:
        return len(self.ancestors(org_unit_id))

    def filter(self, frame: pd.DataFrame, column: str = "org_unit_id") -> pd.DataFrame:
        """Rows of `frame` whose `column` is in scope."""
        if frame.empty:
            return frame
        return frame[frame[column].isin(self._by_id)].reset_index(drop=True)

    def redact(self, text: Any) -> Any:
        """Free text with out-of-scope units' ids and names replaced by `…` (scoped reports only)."""
        if not self.is_scoped or not isinstance(text, str) or not text:
            return text
        pattern = self.__dict__.get("_redact_re")
        if pattern is None:
            ids = sorted(self.excluded_ids, key=len, reverse=True)
            names = sorted((n for n in self.excluded_names if len(n) >= 2), key=len, reverse=True)
            alternatives = [rf"(?<![A-Za-z0-9_-]){re.escape(i)}(?![A-Za-z0-9_-])" for i in ids]
            alternatives += [re.escape(n) for n in names]
            pattern = re.compile("|".join(alternatives)) if alternatives else False
            object.__setattr__(self, "_redact_re", pattern)
        return pattern.sub(REDACTED, text) if pattern else text


def resolve_scope(con: duckdb.DuckDBPyConnection, on: date, org: str | None = None) -> Scope:
    """The units valid on `on` under `org` (or the whole company), depth first."""
    every = marts.normalise_dates(marts.read(con, "dim_org_unit"), "valid_from", "valid_to")
    if every.empty:
        raise UnknownOrgUnit("marts.dim_org_unit is empty: no org units to report on")
    valid_mask = [
        (vf is None or vf <= on) and (vt is None or vt > on)
        for vf, vt in zip(every["valid_from"], every["valid_to"], strict=True)
    ]
    valid = every[valid_mask]
    if valid.empty:
        valid = every[every["is_current"].fillna(False).astype(bool)]
    valid = valid.sort_values(["org_unit_id", "valid_from"], na_position="first").drop_duplicates(
        "org_unit_id", keep="last"
    )
    rows = {r["org_unit_id"]: r for r in marts.records(valid)}
    kids: dict[str | None, list[str]] = {}
    for uid, row in rows.items():
        parent = row["parent_org_unit_id"] if row["parent_org_unit_id"] in rows else None
        kids.setdefault(parent, []).append(uid)
    for ids in kids.values():
        ids.sort()
    if org is not None:
        if org not in rows:
            raise UnknownOrgUnit(f"org unit {org!r} does not exist on {on.isoformat()} (marts.dim_org_unit)")
        roots = [org]
    else:
        roots = kids.get(None, [])
    ordered: list[dict[str, Any]] = []

    def visit(uid: str, parent: str | None) -> None:
        row = dict(rows[uid])
        row["parent_org_unit_id"] = parent
        ordered.append(row)
        for child in kids.get(uid, []):
            visit(child, uid)

    for root in roots:
        visit(root, None)
    in_scope = {u["org_unit_id"] for u in ordered}
    in_names = {str(n) for u in ordered for n in (u.get("name"), u.get("name_zh")) if n}
    excluded_ids = frozenset(str(i) for i in every["org_unit_id"] if i not in in_scope)
    excluded_names = frozenset(
        str(n)
        for _, r in every.iterrows()
        if r["org_unit_id"] not in in_scope
        for n in (r.get("name"), r.get("name_zh"))
        if isinstance(n, str) and n and n not in in_names
    )
    return Scope(on=on, org=org, units=tuple(ordered), excluded_ids=excluded_ids, excluded_names=excluded_names)
