"""The demo company 艾克美仪器 (ACME Instruments): its fixed structure and per-unit behaviour.

Structure is fixed; volumes scale. Each leaf unit carries the parameters that make its KPIs differ
from its siblings (share of the division's volume, yearly growth, service levels, quality...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: The HR history starts here (every unit exists from this date on).
FOUNDED = date(2020, 1, 1)
#: Team TM-SE-3 moves from DEP-SALES-EAST to DEP-SALES-NORTH on this date.
REORG_DATE = date(2024, 7, 1)
REORG_TEAM = "TM-SE-3"
REORG_FROM = "DEP-SALES-EAST"
REORG_TO = "DEP-SALES-NORTH"

#: The window the volume targets in the brief refer to (≈1M order lines × scale over it).
DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 11, 19)


@dataclass(frozen=True)
class Unit:
    org_unit_id: str
    name: str
    name_zh: str
    unit_type: str  # company | division | department | team
    parent: str | None
    kind: str | None = None  # sales | service | production | logistics | rnd | corp (leaf units)
    members: int = 0  # headcount of a leaf unit at scale 1 (excluding its manager)
    params: dict = field(default_factory=dict)


def _t(uid: str, name: str, zh: str, parent: str, kind: str, members: int, **params) -> Unit:
    return Unit(uid, name, zh, "team", parent, kind, members, params)


UNITS: list[Unit] = [
    Unit("ACME", "ACME Instruments", "艾克美仪器", "company", None),
    Unit("DIV-SALES", "Sales Division", "销售事业部", "division", "ACME"),
    Unit("DIV-SERVICE", "Customer Service Division", "客户服务事业部", "division", "ACME"),
    Unit("DIV-OPS", "Operations & Manufacturing Division", "运营制造事业部", "division", "ACME"),
    Unit("DIV-RND", "R&D Center", "研发中心", "division", "ACME"),
    Unit("DIV-CORP", "Corporate Functions", "职能平台", "division", "ACME"),
    # --- sales ---------------------------------------------------------------------------------
    Unit("DEP-SALES-EAST", "East China Sales", "华东销售部", "department", "DIV-SALES"),
    Unit("DEP-SALES-NORTH", "North China Sales", "华北销售部", "department", "DIV-SALES"),
    Unit("DEP-SALES-SOUTH", "South China Sales", "华南销售部", "department", "DIV-SALES"),
    Unit("DEP-SALES-ONLINE", "Online Sales", "线上销售部", "department", "DIV-SALES"),
    _t("TM-SE-1", "East Sales Team 1", "华东销售一组", "DEP-SALES-EAST", "sales", 42,
       share=0.13, growth=0.18, online=False, contracts=1.25, regions={"east": 0.8, "central": 0.2}),
    _t("TM-SE-2", "East Sales Team 2", "华东销售二组", "DEP-SALES-EAST", "sales", 38,
       share=0.11, growth=0.12, online=False, contracts=1.0, regions={"east": 0.85, "central": 0.15}),
    _t("TM-SE-3", "East Sales Team 3", "华东销售三组", "DEP-SALES-EAST", "sales", 30,
       share=0.09, growth=0.15, online=False, contracts=0.9, regions={"east": 0.6, "north": 0.4}),
    _t("TM-SN-1", "North Sales Team 1", "华北销售一组", "DEP-SALES-NORTH", "sales", 38,
       share=0.11, growth=0.10, online=False, contracts=1.1, regions={"north": 0.8, "west": 0.2}),
    _t("TM-SN-2", "North Sales Team 2", "华北销售二组", "DEP-SALES-NORTH", "sales", 32,
       share=0.09, growth=0.20, online=False, contracts=0.8, regions={"north": 0.85, "west": 0.15}),
    _t("TM-SN-3", "North Sales Team 3", "华北销售三组", "DEP-SALES-NORTH", "sales", 26,
       share=0.07, growth=0.14, online=False, contracts=0.7, regions={"north": 0.7, "west": 0.3}),
    _t("TM-SS-1", "South Sales Team 1", "华南销售一组", "DEP-SALES-SOUTH", "sales", 36,
       share=0.10, growth=0.08, online=False, contracts=1.0, regions={"south": 0.85, "west": 0.15}),
    _t("TM-SS-2", "South Sales Team 2", "华南销售二组", "DEP-SALES-SOUTH", "sales", 30,
       share=0.08, growth=-0.12, online=False, contracts=0.75, regions={"south": 0.9, "central": 0.1}),
    _t("TM-SO-1", "Online Sales Team 1", "线上销售一组", "DEP-SALES-ONLINE", "sales", 22,
       share=0.12, growth=0.25, online=True, contracts=1.15,
       regions={"east": 0.3, "north": 0.25, "south": 0.25, "west": 0.1, "central": 0.1}),
    _t("TM-SO-2", "Online Sales Team 2", "线上销售二组", "DEP-SALES-ONLINE", "sales", 20,
       share=0.10, growth=0.20, online=True, contracts=0.85,
       regions={"east": 0.25, "north": 0.25, "south": 0.25, "west": 0.15, "central": 0.1}),
    # --- service -------------------------------------------------------------------------------
    Unit("DEP-SVC-HOTLINE", "Service Hotline", "热线服务部", "department", "DIV-SERVICE"),
    Unit("DEP-SVC-FIELD", "Field Service", "现场服务部", "department", "DIV-SERVICE"),
    _t("TM-HL-1", "Hotline Team 1", "热线一组", "DEP-SVC-HOTLINE", "service", 45,
       share=0.22, growth=0.10, frt_median=22.0, complaint=0.035, resolve=1.0),
    _t("TM-HL-2", "Hotline Team 2", "热线二组", "DEP-SVC-HOTLINE", "service", 42,
       share=0.20, growth=0.12, frt_median=26.0, complaint=0.045, resolve=1.1),
    _t("TM-HL-3", "Hotline Team 3", "热线三组", "DEP-SVC-HOTLINE", "service", 36,
       share=0.16, growth=0.06, frt_median=30.5, complaint=0.055, resolve=1.3),
    _t("TM-FS-1", "Field Service Team 1", "现场服务一组", "DEP-SVC-FIELD", "service", 34,
       share=0.16, growth=0.05, frt_median=24.0, complaint=0.040, resolve=1.6),
    _t("TM-FS-2", "Field Service Team 2", "现场服务二组", "DEP-SVC-FIELD", "service", 30,
       share=0.14, growth=0.04, frt_median=27.5, complaint=0.050, resolve=1.8),
    _t("TM-FS-3", "Field Service Team 3", "现场服务三组", "DEP-SVC-FIELD", "service", 26,
       share=0.12, growth=0.08, frt_median=20.5, complaint=0.030, resolve=1.5),
    # --- operations ----------------------------------------------------------------------------
    Unit("DEP-MFG-PLANT1", "Plant 1 (Suzhou)", "苏州一厂", "department", "DIV-OPS"),
    Unit("DEP-MFG-PLANT2", "Plant 2 (Wuxi)", "无锡二厂", "department", "DIV-OPS"),
    Unit("DEP-LOGISTICS", "Logistics", "物流部", "department", "DIV-OPS"),
    _t("TM-PL1-A", "Plant 1 Line A", "一厂A线", "DEP-MFG-PLANT1", "production", 85,
       share=0.20, growth=0.10, pass_rate=0.985, on_time=0.96),
    _t("TM-PL1-B", "Plant 1 Line B", "一厂B线", "DEP-MFG-PLANT1", "production", 80,
       share=0.18, growth=0.08, pass_rate=0.978, on_time=0.93),
    _t("TM-PL1-C", "Plant 1 Line C", "一厂C线", "DEP-MFG-PLANT1", "production", 70,
       share=0.16, growth=0.12, pass_rate=0.990, on_time=0.97),
    _t("TM-PL2-A", "Plant 2 Line A", "二厂A线", "DEP-MFG-PLANT2", "production", 80,
       share=0.18, growth=0.15, pass_rate=0.972, on_time=0.91),
    _t("TM-PL2-B", "Plant 2 Line B", "二厂B线", "DEP-MFG-PLANT2", "production", 70,
       share=0.15, growth=0.06, pass_rate=0.981, on_time=0.95),
    _t("TM-PL2-C", "Plant 2 Line C", "二厂C线", "DEP-MFG-PLANT2", "production", 60,
       share=0.13, growth=0.09, pass_rate=0.976, on_time=0.90),
    _t("TM-WH-1", "Warehouse Shanghai", "上海仓", "DEP-LOGISTICS", "logistics", 32, stock=1.0),
    _t("TM-WH-2", "Warehouse Beijing", "北京仓", "DEP-LOGISTICS", "logistics", 28, stock=0.8),
    _t("TM-WH-3", "Warehouse Guangzhou", "广州仓", "DEP-LOGISTICS", "logistics", 26, stock=0.7),
    # --- R&D -----------------------------------------------------------------------------------
    Unit("DEP-RND-PLATFORM", "Platform Engineering", "平台研发部", "department", "DIV-RND"),
    Unit("DEP-RND-PRODUCT", "Product Engineering", "产品研发部", "department", "DIV-RND"),
    _t("TM-PF-1", "Platform Team 1 (Firmware)", "平台一组（固件）", "DEP-RND-PLATFORM", "rnd", 36,
       share=0.19, bug_rate=0.0045, components=["firmware", "bootloader", "drivers"]),
    _t("TM-PF-2", "Platform Team 2 (Cloud)", "平台二组（云平台）", "DEP-RND-PLATFORM", "rnd", 34,
       share=0.18, bug_rate=0.0060, components=["api", "data-pipeline", "auth"]),
    _t("TM-PF-3", "Platform Team 3 (DevOps)", "平台三组（运维）", "DEP-RND-PLATFORM", "rnd", 26,
       share=0.12, bug_rate=0.0035, components=["ci", "deployment", "monitoring"]),
    _t("TM-PD-1", "Product Team 1 (Analyzers)", "产品一组（分析仪）", "DEP-RND-PRODUCT", "rnd", 38,
       share=0.19, bug_rate=0.0075, components=["analyzer-ui", "calibration", "reports"]),
    _t("TM-PD-2", "Product Team 2 (Sensors)", "产品二组（传感器）", "DEP-RND-PRODUCT", "rnd", 32,
       share=0.17, bug_rate=0.0055, components=["sensor-sdk", "mobile-app", "pairing"]),
    _t("TM-PD-3", "Product Team 3 (Software)", "产品三组（软件）", "DEP-RND-PRODUCT", "rnd", 30,
       share=0.15, bug_rate=0.0065, components=["lims", "licensing", "installer"]),
    # --- corporate -----------------------------------------------------------------------------
    Unit("DEP-HR", "Human Resources", "人力资源部", "department", "DIV-CORP"),
    Unit("DEP-FIN", "Finance", "财务部", "department", "DIV-CORP"),
    Unit("DEP-STRATEGY", "Strategy Office", "战略规划部", "department", "DIV-CORP", "corp", 6),
    _t("TM-HR-1", "HR Business Partners", "人力资源业务伙伴组", "DEP-HR", "corp", 10),
    _t("TM-HR-2", "Talent & Training", "人才发展与培训组", "DEP-HR", "corp", 9),
    _t("TM-FIN-1", "Accounting", "会计核算组", "DEP-FIN", "corp", 12),
    _t("TM-FIN-2", "Planning & Controlling", "预算与经营分析组", "DEP-FIN", "corp", 10),
]

UNIT_BY_ID: dict[str, Unit] = {u.org_unit_id: u for u in UNITS}


def leaf_units(kind: str | None = None) -> list[Unit]:
    """Units that carry facts (teams, and departments without teams), optionally of one kind."""
    parents = {u.parent for u in UNITS}
    leaves = [u for u in UNITS if u.org_unit_id not in parents]
    return [u for u in leaves if kind is None or u.kind == kind]


def parent_on(unit_id: str, day: date) -> str | None:
    """Parent org unit valid on ``day`` (applies the re-organisation)."""
    if unit_id == REORG_TEAM:
        return REORG_TO if day >= REORG_DATE else REORG_FROM
    return UNIT_BY_ID[unit_id].parent


def ancestors_on(unit_id: str, day: date) -> list[str]:
    """``unit_id`` and its ancestors up to the company, on ``day``."""
    out = [unit_id]
    p = parent_on(unit_id, day)
    while p is not None:
        out.append(p)
        p = parent_on(p, day)
    return out


SALES_TEAMS = [u.org_unit_id for u in leaf_units("sales")]
SERVICE_TEAMS = [u.org_unit_id for u in leaf_units("service")]
PRODUCTION_TEAMS = [u.org_unit_id for u in leaf_units("production")]
WAREHOUSES = [u.org_unit_id for u in leaf_units("logistics")]
RND_TEAMS = [u.org_unit_id for u in leaf_units("rnd")]

# --- volumes at scale 1 over the default window -----------------------------------------------------
ORDERS_DEFAULT_WINDOW = 400_000  # ≈ 2.5 lines per order -> ≈ 1,000,000 order lines
CUSTOMERS_AT_START = 14_000  # customers existing before the window
CUSTOMERS_NEW_DEFAULT_WINDOW = 6_000  # acquired during the default window
TICKETS_PER_DAY = 300.0
SURVEYS_PER_DAY = 60.0
MES_RUNS_PER_DAY = 80.0
BUGS_PER_DAY = 15.0  # engineering volumes do not scale with the sales volume
RELEASES_PER_DAY = 2.0
EMPLOYEES = 1500
MIN_EMPLOYEES = 300
CONTRACTS_PER_QUARTER = 20.0  # per sales team, independent of scale (the plan's "新签约客户数量≥20")
