"""Owners' check-ins for the demo company: what a unit manager writes about a KPI for a period.

Written to ``landing/checkins/demo_checkins.csv`` — the folder and columns the pipeline reads
(`pipelines.checkins`: ``kpi_id, org_unit_id, grain, period_start, author, comment, created_at`` plus
the optional ``status_override``), so the nightly run snapshots them into the raw lake and dbt builds
``marts.kpi_checkins`` from them like any owner's file. The owners' own file of ``kpi checkin``
(``checkins.csv``) is never touched.

Deterministic: the same seed and window give the same bytes. The check-ins cover the last closed
month and quarter of the window and the month still running at its end, for a fixed set of KPI ×
unit pairs inside each KPI's scope; the author is the unit's manager (from the generated HR org
units); each is written one to five days after its period ends (during the period for the running
month) and never after the window's last day. Nothing else the generator writes depends on them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .business_calendar import Calendar
from .common import atomic_write_bytes, rng_for
from .writers import LoadedTable

FILE_NAME = "demo_checkins.csv"
COLUMNS = ["kpi_id", "org_unit_id", "grain", "period_start", "author", "comment", "created_at", "status_override"]

#: KPI × unit pairs that get check-ins (each unit lies in the KPI's catalog scope)
PAIRS: tuple[tuple[str, str], ...] = (
    ("net_revenue", "DIV-SALES"), ("net_revenue", "DEP-SALES-EAST"), ("net_revenue", "DEP-SALES-NORTH"),
    ("net_revenue", "DEP-SALES-SOUTH"), ("net_revenue", "DEP-SALES-ONLINE"), ("net_revenue", "TM-SE-1"),
    ("net_revenue", "TM-SS-2"), ("cogs", "DIV-SALES"), ("new_contracts", "DEP-SALES-EAST"),
    ("new_contracts", "TM-SN-2"), ("repurchase_rate", "DEP-SALES-ONLINE"), ("nps", "DIV-SALES"),
    ("complaint_rate", "DIV-SERVICE"), ("complaint_rate", "DEP-SVC-HOTLINE"), ("complaint_rate", "TM-HL-3"),
    ("first_response_p90", "DEP-SVC-HOTLINE"), ("first_response_p90", "TM-HL-2"), ("csat_avg", "DEP-SVC-FIELD"),
    ("quality_pass_rate", "DEP-MFG-PLANT2"), ("quality_pass_rate", "TM-PL2-A"), ("on_time_delivery", "TM-PL2-C"),
    ("inventory_value", "DEP-LOGISTICS"), ("bug_rate", "DEP-RND-PRODUCT"), ("bug_rate", "TM-PD-1"),
    ("training_hours", "ACME"), ("headcount", "ACME"),
)

#: what managers write, per KPI (Chinese and English, as in a Chinese company with foreign staff)
COMMENTS: dict[str, tuple[str, ...]] = {
    "net_revenue": (
        "两家重点客户的订单推迟到下月交付，pipeline 可覆盖缺口。",
        "渠道促销效果好于预期，经销商补货加快。",
        "Two key-account orders slipped to next month; the pipeline covers the gap.",
        "价格战影响毛利，已与财务确认折扣上限。",
        "Quarter-end push landed as planned; January is the next risk.",
    ),
    "cogs": ("原材料涨价 4%，已启动二供替代。", "Freight costs normalised after the port delays."),
    "new_contracts": ("两份框架合同待法务审核，预计下周签署。", "Tender season: three bids pending."),
    "repurchase_rate": ("会员复购活动上线，老客回流明显。", "Repeat orders dipped after the app update; fix shipped."),
    "nps": ("安装培训改为上门后，推荐者比例上升。", "Detractors cite delivery delays in the north."),
    "complaint_rate": ("新的分诊脚本上线，P1 投诉下降。", "Complaint spike traced to one firmware batch; recall done.",
                       "投诉集中在退换货流程，已简化审批。"),
    "first_response_p90": ("排班调整后高峰时段响应变快。", "Two agents on leave; overflow routed to team 1."),
    "csat_avg": ("现场工程师回访率提高到 90%。", "Spare-part shortages hurt satisfaction this period."),
    "quality_pass_rate": ("B 线治具更换后不良率回落。", "Supplier lot with loose connectors quarantined."),
    "on_time_delivery": ("关键物料到货延迟 3 天，已加班追回。", "New scheduling tool cut late orders."),
    "inventory_value": ("年底备货，库存金额按计划上升。", "Slow movers written down; stock back in band."),
    "bug_rate": ("回归测试覆盖率提升，缺陷率下降。", "Release 4.2 had a rushed freeze; hotfix planned."),
    "training_hours": ("安全生产培训集中在本季度完成。", "Training budget moved to Q1 after the audit."),
    "headcount": ("招聘冻结期间按计划控制编制。", "Two plant lines staffed up ahead of peak season."),
}
OVERRIDES = ("at_risk", "on_track", "off_track")


def _managers(hr_tables: Sequence[LoadedTable], on: date) -> dict[str, str]:
    """org_unit_id → manager employee id on `on` (from the generated HR org units)."""
    out: dict[str, str] = {}
    for table in hr_tables:
        if table.spec.name != "org_units":
            continue
        for chunk in table.chunks():
            rows = zip(chunk["org_unit_id"], chunk["manager_employee_id"], chunk["valid_from"], chunk["valid_to"],
                       strict=True)
            for uid, manager, valid_from, valid_to in rows:
                if str(valid_from) <= on.isoformat() and (not valid_to or str(valid_to) > on.isoformat()):
                    out[str(uid)] = str(manager)
    return out


def _month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _periods(end: date) -> list[tuple[str, date, date]]:
    """(grain, period start, period end) of the last closed month and quarter and the running month."""
    tomorrow = end + timedelta(days=1)
    month_closed = _month_start(tomorrow)
    last_month = _month_start(month_closed - timedelta(days=1))
    quarter_closed = _quarter_start(tomorrow)
    last_quarter = _quarter_start(quarter_closed - timedelta(days=1))
    out = [("month", last_month, month_closed - timedelta(days=1)),
           ("quarter", last_quarter, quarter_closed - timedelta(days=1))]
    if month_closed <= end:  # the month still running at the window's end
        out.append(("month", month_closed, end))
    return out


def generate_checkins(cal: Calendar, seed: int, timezone: str, hr_tables: Sequence[LoadedTable], out_dir: Path,
                      rel_dir: Path) -> dict[str, int]:
    """Write ``<out_dir>/demo_checkins.csv`` (always, header only when the window is too short);
    return {relative path: rows}."""
    rng = rng_for(seed, "checkins")
    start, end = cal.start, cal.end
    managers = _managers(hr_tables, end)
    tz = ZoneInfo(timezone)
    rows: list[list[str]] = []
    for grain, ps, pe in _periods(end):
        if ps < start:
            continue
        for kpi, unit in PAIRS:
            draw = rng.random(4)
            if draw[0] < 0.15 or unit not in managers:  # not every owner writes every period
                continue
            running = pe >= end
            day = ps + timedelta(days=int(draw[1] * max((end - ps).days, 0))) if running else \
                pe + timedelta(days=1 + int(draw[1] * 5))
            if day > end:
                continue
            local = datetime(day.year, day.month, day.day, 9 + int(draw[2] * 9), int(draw[3] * 60), tzinfo=tz)
            pool = COMMENTS[kpi]
            comment = pool[int(rng.integers(len(pool)))]
            override = OVERRIDES[int(rng.integers(len(OVERRIDES)))] if rng.random() < 0.1 and running else ""
            created = local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append([kpi, unit, grain, ps.isoformat(), managers[unit], comment, created, override])
    rows.sort(key=lambda r: (r[6], r[0], r[1]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(Path(out_dir) / FILE_NAME, buf.getvalue().encode("utf-8"))
    return {(Path(rel_dir) / FILE_NAME).as_posix(): len(rows)}
