"""Finance planning workbooks (XLSX): plan targets and KPI weights per fiscal year and version.

Targets are derived from the generator's own expected volumes (the sales model, the workforce)
× the plan's growth assumption, so some units meet their plan and some miss it (actual growth
differs by team; TM-SS-2 is shrinking while its plan assumes growth).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.styles import Font

from .business_calendar import Calendar, Holiday
from .common import atomic_write_bytes, day_number, rng_for
from .company import (
    REORG_TEAM,
    REORG_TO,
    SALES_TEAMS,
    UNIT_BY_ID,
    UNITS,
    ancestors_on,
)
from .erp import SalesModel
from .hr import TRAININGS_PER_MONTH, Workforce

TARGET_COLUMNS = ["kpi_id", "org_unit_id", "period", "target_value", "target_low", "target_high", "comment"]
WEIGHT_COLUMNS = ["org_unit_id", "kpi_id", "weight"]
INFO_COLUMNS = ["key", "value"]

#: planned growth of each sales department (the plan's assumption, not the truth)
PLANNED_GROWTH = {"DEP-SALES-EAST": 0.15, "DEP-SALES-NORTH": 0.15, "DEP-SALES-SOUTH": 0.10,
                  "DEP-SALES-ONLINE": 0.20}
#: the mid-year revision (v2, valid from 07-01): Q3/Q4 net revenue raised for these departments
REVISION = {"DEP-SALES-EAST": 0.08, "DEP-SALES-ONLINE": 0.10}
EXPLICIT_TEAMS = ["TM-SE-1", "TM-SS-1", "TM-SS-2"]

WEIGHTS: dict[str, dict[str, int]] = {
    "ACME": {"net_revenue": 30, "nps": 15, "quality_pass_rate": 10, "on_time_delivery": 10, "bug_rate": 10,
             "first_response_p90": 10, "headcount": 5, "training_hours": 10},
    "DIV-SALES": {"net_revenue": 40, "new_contracts": 20, "repurchase_rate": 15, "avg_discount_rate": 10,
                  "active_customers": 15},
    "DIV-SERVICE": {"first_response_p90": 30, "complaint_rate": 25, "csat_avg": 20, "nps": 25},
    "DIV-OPS": {"quality_pass_rate": 35, "on_time_delivery": 35, "inventory_value": 30},
    "DIV-RND": {"bug_rate": 60, "test_cases_executed": 20, "training_hours_per_employee": 20},
    "DIV-CORP": {"headcount": 40, "training_hours": 60},
}


@dataclass(frozen=True)
class PlanVersion:
    fiscal_year: int
    version: int
    valid_from: date

    @property
    def name(self) -> str:
        return f"plan_FY{self.fiscal_year}_v{self.version}.xlsx"

    @property
    def label(self) -> str:
        return f"FY{self.fiscal_year}-v{self.version}"


def plan_versions(start: date, end: date) -> list[PlanVersion]:
    """v1 for every fiscal year in the window; a v2 (valid 07-01) for the last one once July is reached."""
    out = [PlanVersion(y, 1, date(y, 1, 1)) for y in range(start.year, end.year + 1)]
    mid = date(end.year, 7, 1)
    if start <= mid <= end:
        out.append(PlanVersion(end.year, 2, mid))
    return out


def _quarter(m: int) -> int:
    return (m - 1) // 3 + 1


def _round(x: float, step: float) -> float:
    return float(round(x / step) * step)


class Planner:
    def __init__(self, holidays: list[Holiday], model: SalesModel, workforce: Workforce, window: Calendar,
                 seed: int):
        self.holidays = holidays
        self.model = model
        self.workforce = workforce
        self.window = window
        self.seed = seed

    def _sales_expectation(self, year: int) -> dict[str, dict[int, float]]:
        """unit -> month -> expected net revenue under the plan's growth assumption."""
        cal = Calendar(date(year, 1, 1), date(year, 12, 31), self.holidays)
        growth = {}
        for t in SALES_TEAMS:
            dept = REORG_TO if t == REORG_TEAM else UNIT_BY_ID[t].parent
            growth[t] = PLANNED_GROWTH[dept]  # type: ignore[index]
        rev = self.model.expected_net_revenue(cal, growth)
        out: dict[str, dict[int, float]] = {}
        for ti, t in enumerate(SALES_TEAMS):
            for d in range(cal.n):
                month = int(cal.month[d])
                for u in ancestors_on(t, cal.date_of(d)):  # the structure valid that day (re-org)
                    out.setdefault(u, {}).setdefault(month, 0.0)
                    out[u][month] += rev[ti, d]
        return out

    def targets(self, pv: PlanVersion) -> list[list]:
        y = pv.fiscal_year
        rng = rng_for(self.seed, "finance", y)
        exp = self._sales_expectation(y)
        bias = {u: float(rng.uniform(-0.04, 0.08)) for u in PLANNED_GROWTH}
        dept_q = _department_quarters(pv, exp, bias)
        div_q = {k: sum(dept_q[d][k] for d in dept_q) for k in range(1, 5)}
        comment_rev = "年中调整：上调下半年目标" if pv.version >= 2 else "年度经营计划"
        rows: list[list] = []
        for unit, q in [("ACME", div_q), ("DIV-SALES", div_q), *dept_q.items()]:
            rows.extend(_year_and_quarters("net_revenue", unit, y, q, comment_rev))
        rows.extend(_monthly_phasing(y, exp, div_q))
        rows.extend(_team_revenue_targets(y, float(rng.uniform(0.0, 0.06)), exp, dept_q))
        rows.extend(_fixed_targets(y))
        rows.extend(self._people_targets(y))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        return rows

    def _people_targets(self, y: int) -> list[list]:
        """Headcount (±5 %) and quarterly training hours per division, from the mid-year headcount."""
        rows: list[list] = []
        hc = self._division_headcount(date(y, 6, 30))
        for div, n in hc.items():
            rows.append(["headcount", div, str(y), float(n), float(round(n * 0.95)), float(round(n * 1.05)),
                         "编制区间 ±5%"])
            hours = n * TRAININGS_PER_MONTH * 3 * self.workforce.mean_training_hours
            for k in range(1, 5):
                rows.append(["training_hours", div, f"{y}-Q{k}", _round(hours * 1.05, 10), None, None,
                             "季度培训总学时"])
        return rows

    def _division_headcount(self, day: date) -> dict[str, int]:
        d = min(max(day_number(day), self.window.day0), self.window.day0 + self.window.n - 1)
        leaf_counts = self.workforce.headcount_on(d)
        out: dict[str, int] = {}
        when = date.fromordinal(date(1970, 1, 1).toordinal() + d)
        for unit, n in leaf_counts.items():
            chain = ancestors_on(unit, when)
            div = chain[-2] if len(chain) >= 2 else chain[-1]
            out[div] = out.get(div, 0) + n
        return {u.org_unit_id: out.get(u.org_unit_id, 0) for u in UNITS if u.unit_type == "division"}


def _quarters(exp: dict[str, dict[int, float]], unit: str, factor: float) -> dict[int, float]:
    return {q: sum(exp[unit][m] for m in range(3 * q - 2, 3 * q + 1)) * factor for q in range(1, 5)}


def _year_and_quarters(kpi_id: str, unit: str, y: int, q: dict[int, float], comment: str) -> list[list]:
    """The year's target (the quarters' sum), then the four quarters'."""
    rows = [[kpi_id, unit, str(y), sum(q.values()), None, None, comment]]
    rows.extend([kpi_id, unit, f"{y}-Q{k}", q[k], None, None, comment] for k in range(1, 5))
    return rows


def _department_quarters(pv: PlanVersion, exp: dict[str, dict[int, float]],
                         bias: dict[str, float]) -> dict[str, dict[int, float]]:
    """Each sales department's quarterly net revenue target (v2 raises Q3/Q4 of the revised ones)."""
    dept_q: dict[str, dict[int, float]] = {}
    for dept in PLANNED_GROWTH:
        q = _quarters(exp, dept, 1.0 + bias[dept])
        if pv.version >= 2 and dept in REVISION:
            for k in (3, 4):
                q[k] *= 1.0 + REVISION[dept]
        dept_q[dept] = {k: _round(v, 10_000) for k, v in q.items()}
    return dept_q


def _monthly_phasing(y: int, exp: dict[str, dict[int, float]], div_q: dict[int, float]) -> list[list]:
    """ACME's monthly net revenue targets (the months add up to the quarter)."""
    rows: list[list] = []
    for k in range(1, 5):
        months = list(range(3 * k - 2, 3 * k + 1))
        weights = np.array([exp["ACME"][m] for m in months])
        vals = [_round(div_q[k] * w / weights.sum(), 10_000) for w in weights[:-1]]
        vals.append(div_q[k] - sum(vals))
        for mth, v in zip(months, vals, strict=True):
            rows.append(["net_revenue", "ACME", f"{y}-{mth:02d}", v, None, None, "按上年季节性分解"])
    return rows


def _team_revenue_targets(y: int, t_bias: float, exp: dict[str, dict[int, float]],
                          dept_q: dict[str, dict[int, float]]) -> list[list]:
    """A few teams set explicitly; South's two teams deliberately add up to more than the department."""
    se1 = {k: _round(v, 10_000) for k, v in _quarters(exp, "TM-SE-1", 1.0 + t_bias).items()}
    ss_total = {k: dept_q["DEP-SALES-SOUTH"][k] * 1.05 for k in range(1, 5)}
    share1 = {k: exp["TM-SS-1"][3 * k] / (exp["TM-SS-1"][3 * k] + exp["TM-SS-2"][3 * k]) for k in range(1, 5)}
    ss1 = {k: _round(ss_total[k] * share1[k], 10_000) for k in range(1, 5)}
    ss2 = {k: _round(ss_total[k] * (1 - share1[k]), 10_000) for k in range(1, 5)}
    rows: list[list] = []
    for unit, q in (("TM-SE-1", se1), ("TM-SS-1", ss1), ("TM-SS-2", ss2)):
        rows.extend(_year_and_quarters("net_revenue", unit, y, q, "团队承接目标"))
    return rows


def _fixed_targets(y: int) -> list[list]:
    """The targets the plan states as fixed numbers, the same every year."""
    rows: list[list] = []
    for t in SALES_TEAMS:
        for k in range(1, 5):
            rows.append(["new_contracts", t, f"{y}-Q{k}", 20, None, None, "新签约客户数量≥20"])
    rows.append(["nps", "ACME", str(y), 80, None, None, "客户净推荐值达到 80"])
    rows.append(["avg_discount_rate", "DIV-SALES", str(y), 0.11, 0.08, 0.15, "平均折扣率控制在 8%–15%"])
    for unit in ("DIV-RND", "DEP-RND-PLATFORM", "DEP-RND-PRODUCT"):
        rows.append(["bug_rate", unit, str(y), 0.005, None, None, "缺陷率 ≤ 0.5%"])
    rows.append(["first_response_p90", "DIV-SERVICE", str(y), 60, None, None, "90% 工单首次响应 ≤ 60 秒"])
    for k in range(1, 5):
        rows.append(["first_response_p90", "DIV-SERVICE", f"{y}-Q{k}", 60, None, None, None])
    for unit in ("DEP-SVC-HOTLINE", "DEP-SVC-FIELD"):
        rows.append(["first_response_p90", unit, str(y), 60, None, None, None])
    rows.append(["complaint_rate", "DIV-SERVICE", str(y), 0.04, None, None, "投诉率 ≤ 4%"])
    rows.append(["csat_avg", "DIV-SERVICE", str(y), 4.3, None, None, None])
    for unit in ("DIV-OPS", "DEP-MFG-PLANT1", "DEP-MFG-PLANT2"):
        rows.append(["quality_pass_rate", unit, str(y), 0.98, None, None, "一次合格率 ≥ 98%"])
        rows.append(["on_time_delivery", unit, str(y), 0.95, None, None, "准时交付率 ≥ 95%"])
        for k in range(1, 5):
            rows.append(["quality_pass_rate", unit, f"{y}-Q{k}", 0.98, None, None, None])
            rows.append(["on_time_delivery", unit, f"{y}-Q{k}", 0.95, None, None, None])
    return rows


def weights_rows() -> list[list]:
    rows = []
    for unit, w in WEIGHTS.items():
        assert sum(w.values()) == 100, unit
        for kpi, v in sorted(w.items()):
            rows.append([unit, kpi, v])
    return rows


def workbook_bytes(pv: PlanVersion, targets: list[list]) -> bytes:
    wb = Workbook()
    info = wb.active
    info.title = "Info"
    bold = Font(bold=True)
    info.append(INFO_COLUMNS)
    for key, value in (("plan_version", pv.label), ("fiscal_year", pv.fiscal_year),
                       ("valid_from", pv.valid_from.isoformat()), ("approved_by", "董事会 / Board of Directors")):
        info.append([key, value])
    ws = wb.create_sheet("Targets")
    ws.append(TARGET_COLUMNS)
    for r in targets:
        ws.append(r)
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        for cell in row:
            cell.data_type = "s"
    wsw = wb.create_sheet("Weights")
    wsw.append(WEIGHT_COLUMNS)
    for r in weights_rows():
        wsw.append(r)
    for sheet in (info, ws, wsw):
        for cell in sheet[1]:
            cell.font = bold
        sheet.column_dimensions["A"].width = 22
        sheet.column_dimensions["B"].width = 22
    fixed = datetime(pv.valid_from.year, pv.valid_from.month, pv.valid_from.day)
    wb.properties.creator = "ACME Finance"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    raw = io.BytesIO()
    wb.save(raw)
    return _normalise_zip(raw.getvalue(), fixed)


def _normalise_zip(data: bytes, fixed: datetime) -> bytes:
    """Same workbook, same bytes: fixed zip entry times and document timestamps."""
    stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>" + stamp + rb"\2",
                              body)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, body)
    return out.getvalue()


def write_plans(planner: Planner, start: date, end: date, landing: Path, rel_root: Path) -> dict[str, int]:
    files: dict[str, int] = {}
    for pv in plan_versions(start, end):
        rows = planner.targets(pv)
        atomic_write_bytes(landing / pv.name, workbook_bytes(pv, rows))
        files[(rel_root / pv.name).as_posix()] = len(rows)
    return files

