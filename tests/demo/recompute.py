"""Recompute daily team KPIs straight from the generated sources (independently of the generator).

Clean rows only: defect rows (see ground_truth/defects.csv) are dropped the way the pipeline would.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

TZ = "Asia/Shanghai"


def _local_day_from_utc_text(values: pd.Series) -> pd.Series:
    ts = pd.to_datetime(values, errors="coerce").dt.tz_localize("UTC").dt.tz_convert(TZ)
    return ts.dt.tz_localize(None).dt.normalize()


def org_units(root: Path) -> set[str]:
    con = sqlite3.connect(root / "sources" / "hr.sqlite")
    try:
        return set(pd.read_sql("select org_unit_id from org_units", con)["org_unit_id"])
    finally:
        con.close()


def net_revenue_daily(root: Path) -> pd.Series:
    """(org_unit_id, day) -> net revenue: sales lines by local order date minus refunds by local return date."""
    con = sqlite3.connect(root / "sources" / "erp.sqlite")
    try:
        orders = pd.read_sql("select order_id, org_unit_id, order_ts from orders", con)
        lines = pd.read_sql("select order_line_id, order_id, product_id, quantity, unit_price, discount_pct, "
                            "is_cancelled from order_lines", con)
        returns = pd.read_sql("select order_line_id, return_ts, refund_amount from returns", con)
        products = set(pd.read_sql("select product_id from products", con)["product_id"])
    finally:
        con.close()
    qty = pd.to_numeric(lines["quantity"], errors="coerce")
    clean = lines["order_line_id"].notna() & (qty > 0) & lines["product_id"].isin(products)
    lines = lines[clean].assign(quantity=qty[clean])
    orders["day"] = _local_day_from_utc_text(orders["order_ts"])
    m = lines.merge(orders, on="order_id")
    m["net"] = np.where(m["is_cancelled"] == 0, m["quantity"] * m["unit_price"] * (1 - m["discount_pct"]), 0.0)
    sales = m.groupby(["org_unit_id", "day"])["net"].sum()
    r = returns.merge(m[["order_line_id", "org_unit_id"]], on="order_line_id")
    r["day"] = _local_day_from_utc_text(r["return_ts"])
    refunds = r.groupby(["org_unit_id", "day"])["refund_amount"].sum()
    return sales.sub(refunds, fill_value=0.0)


def tickets(root: Path) -> pd.DataFrame:
    """Latest version of every clean ticket, with first-response seconds and the local opened day."""
    frames = [pd.read_csv(p, encoding="gb18030", dtype=str, keep_default_na=False)
              for p in sorted((root / "landing" / "servicedesk").glob("tickets_*.csv"))]
    frames = [f for f in frames if "csat" in f.columns]  # the renamed-column file is rejected
    t = pd.concat(frames, ignore_index=True)
    opened = pd.to_datetime(t["opened_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    ok = (t["ticket_id"] != "") & t["team_id"].isin(org_units(root)) & opened.notna()
    ok &= t["csat"].isin(["", "1", "2", "3", "4", "5"])
    t = t[ok].sort_values("updated_at").drop_duplicates("ticket_id", keep="last")
    t["opened"] = pd.to_datetime(t["opened_at"])
    t = t[t["opened"] <= pd.to_datetime(t["updated_at"]) + pd.Timedelta(days=1)]
    t["day"] = t["opened"].dt.normalize()
    first = pd.to_datetime(t["first_response_at"].replace("", None))
    t["frt"] = (first - t["opened"]).dt.total_seconds()
    t["complaint"] = t["is_complaint"].astype(int)
    return t


def production_runs(root: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((root / "landing" / "mes").glob("production_runs_*.parquet"))]
    runs = pd.concat([f for f in frames if len(f)], ignore_index=True)
    runs = runs[(runs["produced_qty"] > 0) & (runs["defective_qty"] <= runs["produced_qty"])
                & runs["line_id"].isin(org_units(root))]
    runs = runs.assign(day=runs["finished_at"].dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize())
    return runs


def _jsonl(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for p in paths:
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return pd.DataFrame(rows)


def bugs(root: Path) -> pd.DataFrame:
    b = _jsonl(sorted((root / "landing" / "engineering").glob("bugs_*.jsonl")))
    b = b.drop_duplicates("bug_id", keep="last")
    b["day"] = pd.to_datetime(b["created_at"]).dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    return b


def releases(root: Path) -> pd.DataFrame:
    r = _jsonl(sorted((root / "landing" / "engineering").glob("releases_*.jsonl")))
    return r[r["test_cases_failed"] <= r["test_cases_executed"]]


def survey(root: Path) -> pd.DataFrame:
    s = _jsonl(sorted((root / "landing" / "survey").glob("nps_*.jsonl")))
    return s[s["response_id"].notna() & s["score"].between(0, 10)]
