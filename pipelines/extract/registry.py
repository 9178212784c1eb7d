"""Every source table the warehouse extracts, where it comes from and how it is partitioned.

The column list, key and rules of each table live in its contract (``quality.contracts``); this
registry says how to reach the table: a database table (``database`` names the ERP or HR URL) or a
landing file pattern. ``SOURCE_TABLES`` is ordered so that a table comes after the tables it
references: extracting in this order lets every reference check find its dimension in the lake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from quality.contracts import Contract, get_contract

SourceKind = Literal["database", "csv", "jsonl", "parquet", "xlsx"]


@dataclass(frozen=True)
class SourceTable:
    source: str
    table: str
    kind: SourceKind
    partitioned: bool
    description: str
    key: tuple[str, ...]
    database: Literal["erp", "hr"] | None = None
    #: Landing file pattern relative to the landing folder; ``{date:%Y%m%d}`` stands for the
    #: partition date (daily files) and ``*`` for any text (finance workbooks).
    landing_pattern: str | None = None
    #: Workbook sheet holding the table (finance tables).
    sheet: str | None = None

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def contract(self) -> Contract:
        return get_contract(self.source, self.table)

    @property
    def landing_glob(self) -> str | None:
        """Glob of the table's landing files relative to the landing folder (None for databases)."""
        if self.landing_pattern is None:
            return None
        return re.sub(r"\{date:[^}]*\}", "*", self.landing_pattern)

    @property
    def references(self) -> tuple[str, ...]:
        """Other source tables (``source.table``) this table's reference checks read from the lake."""
        refs = {f"{r.source}.{r.table}" for _, r in self.contract.references}
        refs.discard(self.name)
        return tuple(sorted(refs))

    def landing_path(self, landing_dir: Path, day: date) -> Path:
        if self.landing_pattern is None or "{date" not in self.landing_pattern:
            raise ValueError(f"{self.name} has no daily landing file")
        return Path(landing_dir) / self.landing_pattern.format(date=day)

    def landing_date(self, path: Path) -> date | None:
        """The partition date in a landing file's name (None when the name does not match)."""
        if self.landing_pattern is None or "{date" not in self.landing_pattern:
            return None
        name_pattern = Path(self.landing_pattern).name
        prefix, rest = name_pattern.split("{date", 1)
        suffix = rest.split("}", 1)[1]
        name = Path(path).name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            return None
        stamp = name[len(prefix): len(name) - len(suffix)]
        try:
            return datetime.strptime(stamp, "%Y%m%d").date()
        except ValueError:
            return None


def _db(database: Literal["erp", "hr"], table: str, description: str) -> SourceTable:
    contract = get_contract(database, table)
    return SourceTable(database, table, "database", True, description, contract.key, database=database)


def _file(source: str, table: str, kind: SourceKind, pattern: str, description: str) -> SourceTable:
    return SourceTable(source, table, kind, True, description, get_contract(source, table).key,
                       landing_pattern=pattern)


def _finance(table: str, sheet: str, description: str) -> SourceTable:
    return SourceTable("finance", table, "xlsx", False, description, get_contract("finance", table).key,
                       landing_pattern="finance/plan_FY*_v*.xlsx", sheet=sheet)


SOURCE_TABLES: tuple[SourceTable, ...] = (
    _db("hr", "org_units", "HR org units (SCD2), partitioned by local date of updated_at."),
    _db("hr", "employees", "HR employees, partitioned by local date of updated_at."),
    _db("hr", "employee_assignments", "HR assignments of employees to org units."),
    _db("hr", "training_records", "HR training records."),
    _db("erp", "products", "ERP product master."),
    _db("erp", "customers", "CRM customer master."),
    _db("erp", "orders", "ERP sales orders."),
    _db("erp", "order_lines", "ERP sales order lines."),
    _db("erp", "returns", "ERP returns."),
    _db("erp", "inventory_snapshots", "ERP end-of-day inventory snapshots."),
    _file("servicedesk", "tickets", "csv", "servicedesk/tickets_{date:%Y%m%d}.csv",
          "Service desk tickets: daily GB18030 CSV export, local wall-clock timestamps."),
    _file("survey", "nps_responses", "jsonl", "survey/nps_{date:%Y%m%d}.jsonl",
          "Customer survey responses: daily JSON lines."),
    _file("mes", "production_runs", "parquet", "mes/production_runs_{date:%Y%m%d}.parquet",
          "Manufacturing runs finished that local day: daily Parquet."),
    _file("engineering", "releases", "jsonl", "engineering/releases_{date:%Y%m%d}.jsonl",
          "CI releases: daily JSON lines."),
    _file("engineering", "bugs", "jsonl", "engineering/bugs_{date:%Y%m%d}.jsonl",
          "Issue tracker bugs: daily JSON lines."),
    _finance("plan_info", "Info", "One row per finance plan workbook (sheet Info)."),
    _finance("targets", "Targets", "Finance plan targets (sheet Targets); partition = plan valid_from."),
    _finance("weights", "Weights", "Finance plan KPI weights (sheet Weights); partition = plan valid_from."),
)

_BY_NAME = {t.name: t for t in SOURCE_TABLES}


def get_source_table(source: str, table: str | None = None) -> SourceTable:
    """The registry entry of ``source.table`` (or of ``"source.table"`` as one argument)."""
    name = source if table is None else f"{source}.{table}"
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown source table {name!r}; known: {', '.join(_BY_NAME)}") from None


def landing_dates(table: SourceTable, landing_dir: Path) -> list[date]:
    """Partition dates of the daily landing files present for ``table`` (sorted)."""
    glob = table.landing_glob
    if glob is None or not table.partitioned:
        return []
    found = {table.landing_date(p) for p in Path(landing_dir).glob(glob)}
    return sorted(d for d in found if d is not None)
