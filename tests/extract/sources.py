"""Small hand-made source systems for the extraction tests: a tiny ERP and HR database (SQLite or
PostgreSQL through the same helper), GB18030 CSV, JSON lines, Parquet and XLSX landing files.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from pipelines.extract import ExtractConfig
from quality.contracts import get_contract

TZ = "Asia/Shanghai"
DAY = date(2025, 3, 1)
RUN_DATE = date(2025, 3, 10)

TICKET_HEADER = ["ticket_id", "opened_at", "first_response_at", "resolved_at", "priority", "channel",
                 "category", "subject", "customer_id", "team_id", "agent_id", "csat", "is_complaint",
                 "updated_at"]

# --- rows -------------------------------------------------------------------------------------------


def org_units() -> list[dict]:
    base = {"name_zh": None, "manager_employee_id": None, "valid_from": "2024-01-01", "valid_to": None,
            "updated_at": "2025-02-27 02:00:00"}
    rows = [
        ("ACME", "Acme", "company", None),
        ("DIV-SALES", "Sales", "division", "ACME"),
        ("DEP-SALES-EAST", "Sales East", "department", "DIV-SALES"),
        ("TM-SE-1", "Sales East 1", "team", "DEP-SALES-EAST"),
        ("TM-SVC-1", "Service 1", "team", "ACME"),
        ("TM-MFG-1", "Line 1", "team", "ACME"),
        ("TM-ENG-1", "Platform", "team", "ACME"),
    ]
    return [{**base, "org_unit_id": i, "name": n, "unit_type": t, "parent_org_unit_id": p}
            for i, n, t, p in rows]


def employees() -> list[dict]:
    return [
        {"employee_id": f"E0000{i}", "full_name": f"Person {i}", "full_name_zh": f"员工{i}",
         "email": f"p{i}@acme.example", "job_title": "Rep", "hire_date": "2023-05-01",
         "termination_date": None, "updated_at": "2025-02-27 02:00:00"}
        for i in (1, 2, 3)
    ]


def products() -> list[dict]:
    return [
        {"product_id": "P0001", "name": "Gauge", "name_zh": "压力表", "category": "instruments",
         "product_line": "core", "list_price": 100.0, "unit_cost": 60.0, "is_active": 1,
         "created_at": "2024-01-01 00:00:00", "updated_at": "2025-02-28 01:00:00"},
        {"product_id": "P0002", "name": "Sensor", "name_zh": "传感器", "category": "sensors",
         "product_line": "core", "list_price": 50.0, "unit_cost": 20.0, "is_active": 1,
         "created_at": "2024-01-01 00:00:00", "updated_at": "2025-02-28 01:00:00"},
    ]


def customers() -> list[dict]:
    return [
        {"customer_id": f"C00000{i}", "name": f"Customer {i}", "segment": "smb", "region": "east",
         "city": "上海", "account_team_id": "TM-SE-1", "created_at": "2024-01-01 00:00:00",
         "updated_at": "2025-02-28 01:00:00"}
        for i in (1, 2)
    ]


def orders() -> list[dict]:
    return [
        {"order_id": f"O0000000{i}", "customer_id": "C000001", "sales_rep_id": "E00001",
         "org_unit_id": "TM-SE-1", "order_ts": ts, "channel": "direct", "order_type": "spot",
         "status": "open", "currency": "CNY", "created_at": ts, "updated_at": ts}
        for i, ts in ((1, "2025-03-01 02:00:00"), (2, "2025-03-01 08:00:00"), (3, "2025-03-01 16:30:00"))
    ]


def order_lines() -> list[dict]:
    """Lines of the orders above; the last one is updated at 16:30 UTC = 00:30 local next day."""
    rows = []
    for order, line, product, qty, ts in (
        ("O00000001", 1, "P0001", 2, "2025-03-01 02:00:00"),
        ("O00000001", 2, "P0002", 1, "2025-03-01 02:00:00"),
        ("O00000002", 1, "P0001", 5, "2025-03-01 08:00:00"),
        ("O00000003", 1, "P0002", 3, "2025-03-01 16:30:00"),
    ):
        rows.append({"order_line_id": f"{order}-{line}", "order_id": order, "line_no": line,
                     "product_id": product, "quantity": qty, "unit_price": 100.0, "discount_pct": 0.1,
                     "unit_cost": 60.0, "is_cancelled": 0, "created_at": ts, "updated_at": ts})
    return rows


ERP = {"products": products, "customers": customers, "orders": orders, "order_lines": order_lines}
HR = {"org_units": org_units, "employees": employees}

# --- databases --------------------------------------------------------------------------------------


def _sa_type(kind: str, sqlite: bool) -> sa.types.TypeEngine:
    if kind in ("date", "timestamp") and sqlite:
        return sa.Text()  # SQLite keeps them as text 'YYYY-MM-DD HH:MM:SS' (docs/sources.md)
    return {"string": sa.Text(), "int": sa.BigInteger(), "flag": sa.BigInteger(), "float": sa.Float(53),
            "date": sa.Date(), "timestamp": sa.DateTime()}[kind]


def _value(kind: str, v: object, sqlite: bool) -> object:
    if v is None or sqlite or not isinstance(v, str):
        return v
    if kind == "date":
        return date.fromisoformat(v)
    if kind == "timestamp":
        return datetime.fromisoformat(v)
    return v


def build_database(url: str, source: str, tables: dict[str, list[dict]], *, replace: bool = True,
                   loose: bool = False) -> None:
    """Create ``tables`` (columns from the contract) and insert ``rows``. ``loose``: all columns TEXT."""
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    meta = sa.MetaData()
    try:
        with engine.begin() as conn:
            for name, rows in tables.items():
                contract = get_contract(source, name)
                cols = [sa.Column(c.name, sa.Text() if loose else _sa_type(c.type, sqlite))
                        for c in contract.columns]
                t = sa.Table(name, meta, *cols)
                if replace:
                    t.drop(conn, checkfirst=True)
                t.create(conn)
                if rows:
                    kinds = {c.name: c.type for c in contract.columns}
                    conn.execute(t.insert(), [{k: _value(kinds[k], v, sqlite or loose) for k, v in r.items()}
                                              for r in rows])
    finally:
        engine.dispose()


def insert_rows(url: str, table: str, rows: list[dict]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            conn.execute(t.insert(), rows)
    finally:
        engine.dispose()


def execute(url: str, sql: str, params: dict | None = None) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()


# --- landing files ------------------------------------------------------------------------------------


def ticket_row(ticket_id: str, opened: str = "2025-03-01 09:15:00", **over: object) -> dict:
    row = {"ticket_id": ticket_id, "opened_at": opened, "first_response_at": "2025-03-01 09:30:00",
           "resolved_at": "", "priority": "P2", "channel": "wechat", "category": "安装调试",
           "subject": "设备无法开机，请尽快处理", "customer_id": "C000001", "team_id": "TM-SVC-1",
           "agent_id": "E00002", "csat": "", "is_complaint": "0", "updated_at": opened}
    row.update({k: ("" if v is None else str(v)) for k, v in over.items()})
    return row


def tickets_csv_bytes(rows: list[dict], *, header: list[str] | None = None, encoding: str = "gb18030",
                      delimiter: str = ",") -> bytes:
    header = header or TICKET_HEADER
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", delimiter=delimiter)
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue().encode(encoding)


def write_tickets(landing: Path, day: date, rows: list[dict], **kwargs: object) -> Path:
    path = landing / "servicedesk" / f"tickets_{day:%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tickets_csv_bytes(rows, **kwargs))  # type: ignore[arg-type]
    return path


def nps_record(response_id: str, **over: object) -> dict:
    rec = {"response_id": response_id, "submitted_at": "2025-03-01T10:22:33+08:00", "customer_id": "C000001",
           "account_team_id": "TM-SE-1", "score": 9, "touchpoint": "delivery", "comment": "很好"}
    rec.update(over)
    return rec


def write_jsonl(landing: Path, rel: str, lines: list[dict | str]) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                   for line in lines)
    path.write_bytes(text.encode("utf-8"))
    return path


def run_record(run_id: str, **over: object) -> dict:
    rec = {"run_id": run_id, "line_id": "TM-MFG-1", "product_id": "P0001",
           "started_at": datetime(2025, 3, 1, 1, 0), "finished_at": datetime(2025, 3, 1, 5, 0),
           "planned_qty": 100, "produced_qty": 98, "defective_qty": 2, "promised_date": date(2025, 3, 5),
           "delivered_date": date(2025, 3, 1)}
    rec.update(over)
    return rec


RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("line_id", pa.string()), ("product_id", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("planned_qty", pa.int64()), ("produced_qty", pa.int64()), ("defective_qty", pa.int64()),
    ("promised_date", pa.date32()), ("delivered_date", pa.date32()),
])


def write_runs(landing: Path, day: date, records: list[dict], schema: pa.Schema | None = None) -> Path:
    path = landing / "mes" / f"production_runs_{day:%Y%m%d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=schema or RUN_SCHEMA), path)
    return path


def write_workbook(landing: Path, name: str, *, valid_from: object = date(2025, 1, 1),
                   plan_version: str = "FY2025-v1", targets: list[list] | None = None,
                   weights: list[list] | None = None, sheet_names: dict[str, str] | None = None,
                   target_header: list[str] | None = None) -> Path:
    import openpyxl

    names = {"Info": "Info", "Targets": "Targets", "Weights": "Weights", **(sheet_names or {})}
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = names["Info"]
    info.append(["key", "value"])
    for row in (["plan_version", plan_version], ["fiscal_year", 2025], ["valid_from", valid_from],
                ["approved_by", "CFO 王"]):
        info.append(row)
    t = wb.create_sheet(names["Targets"])
    t.append(target_header or ["kpi_id", "org_unit_id", "period", "target_value", "target_low", "target_high",
                               "comment"])
    for row in targets if targets is not None else [
        ["net_revenue", "ACME", 2025, 1_000_000, None, None, "全年目标"],
        ["net_revenue", "DIV-SALES", "2025-Q1", 200_000, None, None, None],
        ["avg_discount_rate", "ACME", "2025", None, 0.05, 0.12, None],
    ]:
        t.append(row)
    w = wb.create_sheet(names["Weights"])
    w.append(["org_unit_id", "kpi_id", "weight"])
    for row in weights if weights is not None else [["ACME", "net_revenue", 60], ["ACME", "nps", 40]]:
        w.append(row)
    path = landing / "finance" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# --- a tiny company -----------------------------------------------------------------------------------


@dataclass
class TinyCompany:
    root: Path
    erp_url: str
    hr_url: str

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def config(self, **over: object) -> ExtractConfig:
        kwargs: dict = {"lake_dir": self.lake, "landing_dir": self.landing, "erp_url": self.erp_url,
                        "hr_url": self.hr_url, "timezone": TZ, "run_date": RUN_DATE}
        kwargs.update(over)
        return ExtractConfig(**kwargs)


def tiny_company(root: Path, erp_url: str | None = None, hr_url: str | None = None) -> TinyCompany:
    """HR + ERP databases (SQLite files unless URLs are given) and an empty landing folder."""
    root.mkdir(parents=True, exist_ok=True)
    erp_url = erp_url or f"sqlite:///{root / 'erp.sqlite'}"
    hr_url = hr_url or f"sqlite:///{root / 'hr.sqlite'}"
    build_database(hr_url, "hr", {name: make() for name, make in HR.items()})
    build_database(erp_url, "erp", {name: make() for name, make in ERP.items()})
    (root / "landing").mkdir(exist_ok=True)
    return TinyCompany(root, erp_url, hr_url)
