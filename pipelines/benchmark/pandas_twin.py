"""The pandas twin: the floor's four KPIs from the same Parquet files, the way an analyst writes them
(read, de-duplicate, merge, group) — the same numbers, to compare time and memory with our engine."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.extract.lake import table_dir

from .floor import COMPLAINT_RATE_V2_FROM


def pandas_actuals(lake_dir: Path, start: date, as_of: date, timezone: str) -> tuple[pd.DataFrame, float]:
    """The floor's actuals in pandas; returns (data frame, seconds of the computation)."""
    started = time.perf_counter()
    order = ["updated_at", "date", "_loaded_at", "_row_number"]

    def latest(source: str, table: str, key: list[str], columns: list[str]) -> pd.DataFrame:
        frame = pd.read_parquet(table_dir(lake_dir, source, table), columns=columns + order)
        frame["date"] = pd.to_datetime(frame["date"].astype(str))
        frame = frame.sort_values(order, na_position="first", kind="stable")
        return frame.drop_duplicates(key, keep="last").drop(columns=order)

    def local_day(ts: pd.Series) -> pd.Series:
        return ts.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")

    # org closure per day
    org = latest("hr", "org_units", ["org_unit_id", "valid_from"],
                 ["org_unit_id", "parent_org_unit_id", "valid_from", "valid_to"])
    closure = _org_closure(org, start, as_of)

    orders = latest("erp", "orders", ["order_id"],
                    ["order_id", "customer_id", "org_unit_id", "order_type", "status", "order_ts"])
    orders["d"] = local_day(orders["order_ts"])
    orders["is_cancelled"] = orders["status"] == "cancelled"
    lines = latest("erp", "order_lines", ["order_line_id"],
                   ["order_line_id", "order_id", "quantity", "unit_price", "discount_pct", "is_cancelled"])
    returns = latest("erp", "returns", ["return_id"], ["return_id", "order_line_id", "refund_amount", "return_ts"])
    tickets = latest("servicedesk", "tickets", ["ticket_id"],
                     ["ticket_id", "team_id", "is_complaint", "priority", "opened_at"])

    sales = lines.merge(orders[["order_id", "org_unit_id", "d", "is_cancelled"]], on="order_id",
                        suffixes=("_line", ""))
    cancelled = (sales["is_cancelled_line"] == 1) | sales["is_cancelled"]
    sales["amount"] = np.where(cancelled, 0.0,
                               (sales["quantity"] * sales["unit_price"] * (1 - sales["discount_pct"])).round(2))
    refunds = returns.merge(sales[["order_line_id", "org_unit_id"]], on="order_line_id")
    refunds["d"] = local_day(refunds["return_ts"])
    refunds["amount"] = -refunds["refund_amount"].round(2)
    events = pd.concat([sales[["org_unit_id", "d", "amount"]], refunds[["org_unit_id", "d", "amount"]]])
    revenue = events.groupby(["org_unit_id", "d"], as_index=False)["amount"].sum()
    revenue = revenue.rename(columns={"amount": "num"}).assign(kpi_id="net_revenue")

    orders["contract"] = (orders["order_type"] == "contract") & ~orders["is_cancelled"]
    contracts = orders.groupby(["org_unit_id", "d"], as_index=False)["contract"].sum()
    contracts = contracts.rename(columns={"contract": "num"}).assign(kpi_id="new_contracts")

    tickets["d"] = local_day(tickets["opened_at"])
    tickets["complaint"] = tickets["is_complaint"] == 1
    tickets["den_v2"] = (tickets["priority"] != "P4") | tickets["complaint"]
    complaints = tickets.groupby(["team_id", "d"], as_index=False).agg(
        num=("complaint", "sum"), den=("complaint", "size"), den_v2=("den_v2", "sum"))
    complaints = complaints.rename(columns={"team_id": "org_unit_id"}).assign(kpi_id="complaint_rate")

    additive = pd.concat([revenue, contracts, complaints], ignore_index=True)
    additive = additive.merge(closure, left_on=["d", "org_unit_id"], right_on=["d", "descendant_id"])
    additive["period_start"] = additive["d"].dt.to_period("M").dt.start_time
    monthly = additive.groupby(["kpi_id", "ancestor_id", "period_start"], as_index=False)[["num", "den", "den_v2"]] \
        .sum(min_count=1)
    _monthly_values(monthly)

    active = orders[~orders["is_cancelled"]][["org_unit_id", "d", "customer_id"]].drop_duplicates()
    active = active.merge(closure, left_on=["d", "org_unit_id"], right_on=["d", "descendant_id"])
    active["period_start"] = active["d"].dt.to_period("M").dt.start_time
    customers = active.groupby(["ancestor_id", "period_start"], as_index=False)["customer_id"].nunique()
    customers = customers.rename(columns={"customer_id": "actual_value"}).assign(
        kpi_id="active_customers", numerator=np.nan, denominator=np.nan)

    result = pd.concat([
        monthly[["kpi_id", "ancestor_id", "period_start", "actual_value", "numerator", "denominator"]],
        customers[["kpi_id", "ancestor_id", "period_start", "actual_value", "numerator", "denominator"]],
    ], ignore_index=True).rename(columns={"ancestor_id": "org_unit_id"})
    result["period_start"] = result["period_start"].dt.date
    result["actual_value"] = result["actual_value"].astype(float)
    return result, time.perf_counter() - started


def _org_closure(org: pd.DataFrame, start: date, as_of: date) -> pd.DataFrame:
    """(d, descendant_id, ancestor_id) for every day: each unit is its own ancestor, then its parents up."""
    org["valid_from"] = pd.to_datetime(org["valid_from"])
    org["valid_to"] = pd.to_datetime(org["valid_to"])
    days = pd.DataFrame({"d": pd.date_range(start, as_of, freq="D").astype("datetime64[ns]")})
    daily = days.merge(org, how="cross")
    daily = daily[(daily["valid_from"] <= daily["d"]) & (daily["valid_to"].isna() | (daily["d"] < daily["valid_to"]))]
    daily = daily[["d", "org_unit_id", "parent_org_unit_id"]]
    level = daily.rename(columns={"org_unit_id": "descendant_id"}).assign(ancestor_id=lambda f: f["descendant_id"])
    parts = [level[["d", "descendant_id", "ancestor_id"]]]
    current = daily.rename(columns={"org_unit_id": "descendant_id", "parent_org_unit_id": "ancestor_id"})
    while True:
        current = current.dropna(subset=["ancestor_id"])
        if current.empty:
            break
        parts.append(current[["d", "descendant_id", "ancestor_id"]])
        current = current.merge(daily, left_on=["d", "ancestor_id"], right_on=["d", "org_unit_id"])[
            ["d", "descendant_id", "parent_org_unit_id"]].rename(columns={"parent_org_unit_id": "ancestor_id"})
    return pd.concat(parts, ignore_index=True)


def _monthly_values(monthly: pd.DataFrame) -> None:
    """The month's actual value (and the complaint rate's numerator and denominator, v2's from
    COMPLAINT_RATE_V2_FROM), in place."""
    is_rate = monthly["kpi_id"] == "complaint_rate"
    v2 = monthly["period_start"] >= pd.Timestamp(COMPLAINT_RATE_V2_FROM)
    denominator = np.where(v2, monthly["den_v2"], monthly["den"])
    monthly["numerator"] = np.where(is_rate, monthly["num"], np.nan)
    monthly["denominator"] = np.where(is_rate, denominator, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = monthly["num"] / pd.Series(denominator, index=monthly.index).replace(0, np.nan)
    monthly["actual_value"] = np.where(is_rate, ratio, monthly["num"])
