"""ERP/CRM: products, customers, orders, order lines, returns, inventory snapshots.

Vectorised over orders and lines (numpy); the database is written in chunks so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from .anomalies import AnomalyPlan
from .business_calendar import Calendar, Holiday
from .common import (
    DAY,
    HOUR,
    Clock,
    choice_by_weights,
    day_number,
    fmt_date,
    fmt_ids,
    fmt_ts,
    rng_for,
)
from .company import (
    CONTRACTS_PER_QUARTER,
    CUSTOMERS_AT_START,
    CUSTOMERS_NEW_DEFAULT_WINDOW,
    DEFAULT_END,
    DEFAULT_START,
    ORDERS_DEFAULT_WINDOW,
    SALES_TEAMS,
    UNIT_BY_ID,
    WAREHOUSES,
)
from .defects import DefectLog
from .hr import Workforce
from .writers import Chunk, LoadedTable, TableSpec

CHUNK_ROWS = 250_000

PRODUCTS_T = TableSpec(
    "products",
    (("product_id", "text"), ("name", "text"), ("name_zh", "text"), ("category", "text"),
     ("product_line", "text"), ("list_price", "real"), ("unit_cost", "real"), ("is_active", "int"),
     ("created_at", "timestamp"), ("updated_at", "timestamp")),
    ("product_id",),
)
CUSTOMERS_T = TableSpec(
    "customers",
    (("customer_id", "text"), ("name", "text"), ("segment", "text"), ("region", "text"), ("city", "text"),
     ("account_team_id", "text"), ("created_at", "timestamp"), ("updated_at", "timestamp")),
    ("customer_id",),
)
ORDERS_T = TableSpec(
    "orders",
    (("order_id", "text"), ("customer_id", "text"), ("sales_rep_id", "text"), ("org_unit_id", "text"),
     ("order_ts", "timestamp"), ("channel", "text"), ("order_type", "text"), ("status", "text"),
     ("currency", "text"), ("created_at", "timestamp"), ("updated_at", "timestamp")),
    ("order_id",),
)
LINES_T = TableSpec(
    "order_lines",
    (("order_line_id", "text"), ("order_id", "text"), ("line_no", "int"), ("product_id", "text"),
     ("quantity", "int"), ("unit_price", "real"), ("discount_pct", "real"), ("unit_cost", "real"),
     ("is_cancelled", "int"), ("created_at", "timestamp"), ("updated_at", "timestamp")),
    ("order_line_id",),
)
RETURNS_T = TableSpec(
    "returns",
    (("return_id", "text"), ("order_line_id", "text"), ("return_ts", "timestamp"), ("quantity", "int"),
     ("refund_amount", "real"), ("reason", "text"), ("created_at", "timestamp"), ("updated_at", "timestamp")),
    ("return_id",),
)
INVENTORY_T = TableSpec(
    "inventory_snapshots",
    (("snapshot_date", "date"), ("warehouse_id", "text"), ("product_id", "text"), ("quantity_on_hand", "int"),
     ("inventory_value", "real"), ("updated_at", "timestamp")),
    ("snapshot_date", "warehouse_id", "product_id"),
)

# --- products ------------------------------------------------------------------------------------

CATEGORIES = ["instruments", "sensors", "software", "services", "consumables"]
#: category -> (count, median list price, price sigma, cost ratio, [(line, line_zh, noun, noun_zh)])
CATEGORY_SPEC = {
    "instruments": (30, 30_000.0, 0.6, 0.55, [("Spectrometers", "光谱仪", "Spectrometer", "光谱仪"),
                                              ("Chromatographs", "色谱仪", "Chromatograph", "色谱仪"),
                                              ("Oscilloscopes", "示波器", "Oscilloscope", "示波器"),
                                              ("Analyzers", "分析仪", "Analyzer", "分析仪")]),
    "sensors": (50, 1_200.0, 0.55, 0.45, [("Temperature", "温度传感器", "Temperature Sensor", "温度传感器"),
                                          ("Pressure", "压力传感器", "Pressure Sensor", "压力传感器"),
                                          ("Flow", "流量传感器", "Flow Sensor", "流量传感器"),
                                          ("Gas", "气体传感器", "Gas Detector", "气体检测器")]),
    "software": (25, 8_000.0, 0.7, 0.12, [("LIMS", "实验室信息管理", "LIMS License", "LIMS 授权"),
                                          ("Analytics", "数据分析软件", "Analytics Suite", "数据分析套件"),
                                          ("Firmware", "固件", "Firmware Pack", "固件升级包")]),
    "services": (20, 3_000.0, 0.6, 0.40, [("Calibration", "校准服务", "Calibration Service", "校准服务"),
                                          ("Maintenance", "维保服务", "Maintenance Plan", "维保计划"),
                                          ("Training", "培训服务", "Operator Training", "操作培训")]),
    "consumables": (75, 120.0, 0.8, 0.35, [("Reagents", "试剂", "Reagent Kit", "试剂盒"),
                                           ("Filters", "滤芯", "Filter Cartridge", "滤芯"),
                                           ("Columns", "色谱柱", "HPLC Column", "色谱柱"),
                                           ("Spare Parts", "备件", "Spare Part Kit", "备件包")]),
}
CAT_P_B2B = np.array([0.07, 0.30, 0.10, 0.10, 0.43])
CAT_P_ONLINE = np.array([0.02, 0.30, 0.12, 0.04, 0.52])
PHYSICAL = {"instruments", "sensors", "consumables"}

CHANNELS = np.array(["direct", "distributor", "online", "partner"])
CH_P_B2B = np.array([0.55, 0.30, 0.0, 0.15])
CH_P_ONLINE = np.array([0.10, 0.0, 0.90, 0.0])
#: discount range per channel (low, high)
DISCOUNT = np.array([[0.0, 0.18], [0.15, 0.32], [0.0, 0.08], [0.08, 0.22]])

HOUR_W_B2B = np.array([0.25, 0.12, 0.06, 0.05, 0.05, 0.1, 0.3, 1, 3, 8, 10, 10, 7, 8, 10, 10, 9, 7, 4, 3,
                       2, 1.5, 1, 0.5])
HOUR_W_ONLINE = np.array([2.5, 1.4, 0.7, 0.35, 0.25, 0.3, 0.6, 1.5, 3, 5, 6, 6, 5, 5, 6, 6, 6, 6, 6, 7, 9,
                          10, 9, 5])

RETURN_REASONS = np.array(["质量问题", "发错货", "不再需要", "运输损坏", "规格不符", "重复下单"])
CANCEL_RATE = 0.02
LATE_ORDER_RATE = 0.03
LATE_LINE_RATE = 0.02
RETURN_RATE = 0.03


@dataclass
class Products:
    ids: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    list_price: np.ndarray  # current
    old_price: np.ndarray  # before the price change (== list_price when unchanged)
    change_utc: np.ndarray  # when the price changed (int64 max when never)
    unit_cost: np.ndarray
    popularity: np.ndarray
    active: np.ndarray
    launch_utc: np.ndarray  # created_at
    updated_utc: np.ndarray
    name: np.ndarray
    name_zh: np.ndarray
    line: np.ndarray
    updated_before_change: np.ndarray | None = None  # updated_at before the price change

    def table(self) -> Chunk:
        return {
            "product_id": self.ids.tolist(),
            "name": self.name.tolist(),
            "name_zh": self.name_zh.tolist(),
            "category": np.array(CATEGORIES)[self.category].tolist(),
            "product_line": self.line.tolist(),
            "list_price": self.list_price.tolist(),
            "unit_cost": self.unit_cost.tolist(),
            "is_active": self.active.astype(int).tolist(),
            "created_at": fmt_ts(self.launch_utc).tolist(),
            "updated_at": fmt_ts(self.updated_utc).tolist(),
        }

    def earlier(self) -> Chunk:
        """The rows as they stood before their price change (the old price, the earlier watermark)."""
        rows = np.flatnonzero(self.updated_before_change < self.updated_utc)
        chunk = _take(self.table(), rows)
        chunk["list_price"] = self.old_price[rows].tolist()
        chunk["updated_at"] = fmt_ts(self.updated_before_change[rows]).tolist()
        return chunk


def _take(chunk: Chunk, rows: np.ndarray) -> Chunk:
    """The rows ``rows`` of a chunk."""
    return {c: [v[i] for i in rows.tolist()] for c, v in chunk.items()}


def make_products(seed: int, clock: Clock, cal: Calendar, initial_utc: int, snapshot_utc: int) -> Products:
    rng = rng_for(seed, "erp", "products")
    cats, prices, costs, pops, names, names_zh, lines = [], [], [], [], [], [], []
    for ci, cat in enumerate(CATEGORIES):
        count, median, sigma, cost_ratio, plines = CATEGORY_SPEC[cat]
        price = np.round(median * np.exp(rng.normal(0, sigma, count)), -1 if median > 1000 else 0)
        price = np.maximum(price, 10.0)
        cost = np.round(price * cost_ratio * rng.uniform(0.85, 1.15, count), 2)
        pop = 1.0 / (rng.permutation(count) + 2.0) ** 0.9
        for k in range(count):
            line, line_zh, noun, noun_zh = plines[k % len(plines)]
            model = f"{cat[:2].upper()}-{100 + 10 * (k // len(plines)) + k % len(plines)}"
            names.append(f"{model} {noun}")
            names_zh.append(f"{model} {noun_zh}")
            lines.append(line)
        cats.append(np.full(count, ci))
        prices.append(price)
        costs.append(cost)
        pops.append(pop)
    category = np.concatenate(cats)
    list_price = np.concatenate(prices)
    unit_cost = np.concatenate(costs)
    popularity = np.concatenate(pops)
    n = len(category)
    created = clock.to_utc((day_number(date(2015, 1, 1)) + rng.integers(0, 3000, n)) * DAY + 10 * HOUR)
    updated = np.full(n, initial_utc, dtype=np.int64)
    active = rng.random(n) >= 0.06
    launch = np.full(n, created.min(), dtype=np.int64)
    launch[:] = created
    # two launches per category inside the window
    window_secs = max(cal.n - 1, 1) * DAY
    launches = []
    for ci in range(len(CATEGORIES)):
        idx = np.flatnonzero((category == ci) & active)
        launches.extend(rng.choice(idx, size=min(2, len(idx)), replace=False).tolist())
    launches = np.array(sorted(launches))
    t0 = clock.to_utc(np.array([cal.day0 * DAY + 10 * HOUR]))[0]
    launch[launches] = t0 + (rng.random(len(launches)) * 0.8 * window_secs).astype(np.int64)
    updated[launches] = launch[launches]
    # price changes inside the window (the row keeps the latest price)
    before_change = updated.copy()
    changed = rng.choice(np.setdiff1d(np.flatnonzero(active), launches), size=12, replace=False)
    change_utc = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    change_utc[changed] = t0 + (rng.random(len(changed)) * window_secs).astype(np.int64)
    old_price = list_price.copy()
    list_price = list_price.copy()
    list_price[changed] = np.round(old_price[changed] * rng.uniform(1.03, 1.10, len(changed)), 0)
    updated[changed] = np.maximum(updated[changed], change_utc[changed])
    updated = np.minimum(updated, snapshot_utc)
    # a price change after the snapshot has not happened yet
    late = change_utc > snapshot_utc
    list_price[late] = old_price[late]
    ids = fmt_ids("P", np.arange(1, n + 1), 4)
    before_change = np.where(late, updated, np.minimum(before_change, snapshot_utc))
    return Products(ids, category, list_price, old_price, change_utc, unit_cost, popularity, active, launch,
                    updated, np.array(names), np.array(names_zh), np.array(lines), before_change)


# --- the sales model -----------------------------------------------------------------------------


class SalesModel:
    """Expected orders per sales team and day, and expected net revenue per order."""

    def __init__(self, holidays: list[Holiday], scale: float, products: Products, seed: int):
        self.holidays = holidays
        self.scale = scale
        self.teams = SALES_TEAMS
        self.online = np.array([UNIT_BY_ID[t].params["online"] for t in self.teams])
        default = Calendar(DEFAULT_START, DEFAULT_END, holidays)
        self.k = ORDERS_DEFAULT_WINDOW * scale / self._shape(default).sum()
        self.products = products
        self._seed = seed
        self._net_per_order: dict[tuple[bool, bool], float] = {}

    def _shape(self, cal: Calendar, growth: dict[str, float] | None = None) -> np.ndarray:
        years = cal.years_since_anchor()
        b2b, online = cal.profile("b2b_sales"), cal.profile("online_sales")
        rows = []
        for t in self.teams:
            p = UNIT_BY_ID[t].params
            g = (growth or {}).get(t, p["growth"])
            rows.append(p["share"] * (online if p["online"] else b2b) * (1.0 + g) ** years)
        return np.array(rows)

    def orders_lambda(self, cal: Calendar, growth: dict[str, float] | None = None) -> np.ndarray:
        """(teams, days) expected order counts."""
        return self.k * self._shape(cal, growth)

    def contract_prob(self, lam: np.ndarray) -> np.ndarray:
        per_quarter = lam.mean(axis=1) * 91.31
        factor = np.array([UNIT_BY_ID[t].params["contracts"] for t in self.teams])
        return np.clip(CONTRACTS_PER_QUARTER * factor / np.maximum(per_quarter, 1e-9), 0.0, 0.5)

    def net_per_order(self, online: bool, contract: bool) -> float:
        """Monte-Carlo expected net revenue of one order (after cancellations and returns)."""
        key = (online, contract)
        if key not in self._net_per_order:
            rng = rng_for(self._seed, "erp", "expected", int(online), int(contract))
            m = 20_000
            ch = choice_by_weights(rng, CH_P_ONLINE if online else CH_P_B2B, m)
            lines = draw_lines(rng, self.products, np.full(m, online), np.full(m, contract), ch, None)
            net = lines["quantity"] * lines["unit_price"] * (1 - lines["discount_pct"])
            per_order = net.sum() / m
            self._net_per_order[key] = per_order * (1 - CANCEL_RATE) * (1 - RETURN_RATE * 0.9)
        return self._net_per_order[key]

    def expected_net_revenue(self, cal: Calendar, growth: dict[str, float] | None = None) -> np.ndarray:
        """(teams, days) expected net revenue."""
        lam = self.orders_lambda(cal, growth)
        pc = self.contract_prob(self.orders_lambda(cal))
        per_order = np.array([(1 - pc[i]) * self.net_per_order(bool(o), False) + pc[i] * self.net_per_order(
            bool(o), True) for i, o in enumerate(self.online)])
        return lam * per_order[:, None]


def draw_lines(rng: np.random.Generator, products: Products, online: np.ndarray, contract: np.ndarray,
               channel: np.ndarray, order_utc: np.ndarray | None) -> dict[str, np.ndarray]:
    """Order lines for the given orders (arrays indexed by order)."""
    m = len(online)
    n_lines = np.where(contract, 3 + rng.poisson(3.0, m), 1 + rng.poisson(1.45, m))
    order = np.repeat(np.arange(m), n_lines)
    total = order.size
    starts = np.cumsum(n_lines) - n_lines
    line_no = np.arange(total) - np.repeat(starts, n_lines) + 1
    o_online = online[order]
    u = rng.random(total)
    cat = np.where(o_online, np.searchsorted(np.cumsum(CAT_P_ONLINE), u * CAT_P_ONLINE.sum(), side="right"),
                   np.searchsorted(np.cumsum(CAT_P_B2B), u * CAT_P_B2B.sum(), side="right"))
    cat = np.minimum(cat, len(CATEGORIES) - 1)
    product = np.empty(total, dtype=np.int64)
    for ci in range(len(CATEGORIES)):
        mask = cat == ci
        cand = np.flatnonzero((products.category == ci) & products.active)
        pick = cand[choice_by_weights(rng, products.popularity[cand], int(mask.sum()))]
        if order_utc is not None and mask.any():
            top = cand[np.argsort(-products.popularity[cand] - 1e6 * (products.launch_utc[cand] > order_utc.min()))[0]]
            not_yet = products.launch_utc[pick] > order_utc[order[mask]]
            pick = np.where(not_yet, top, pick)
        product[mask] = pick
    qty = np.ones(total, dtype=np.int64)
    pc = products.category[product]
    g = rng.random(total)
    qty = np.where(pc == 0, 1 + (g < 0.25) + (g < 0.06), qty)
    qty = np.where(pc == 1, rng.geometric(0.2, total), qty)
    qty = np.where(pc == 2, rng.geometric(0.3, total), qty)
    qty = np.where(pc == 3, rng.geometric(0.6, total), qty)
    qty = np.where(pc == 4, np.maximum(1, np.round(np.exp(rng.normal(np.log(20), 0.8, total)))).astype(np.int64),
                   qty)
    qty = np.where(contract[order], np.ceil(qty * 2.5).astype(np.int64), qty)
    if order_utc is None:
        price = products.list_price[product]
    else:
        price = np.where(order_utc[order] < products.change_utc[product], products.old_price[product],
                         products.list_price[product])
    ch = channel[order]
    disc = DISCOUNT[ch, 0] + rng.random(total) * (DISCOUNT[ch, 1] - DISCOUNT[ch, 0])
    disc = disc + np.where(contract[order], rng.uniform(0.03, 0.10, total), 0.0)
    disc = np.round(np.clip(disc, 0.0, 0.6), 3)
    return {"order": order, "line_no": line_no, "product": product, "quantity": qty, "unit_price": price,
            "discount_pct": disc, "unit_cost": products.unit_cost[product]}


# --- customers -----------------------------------------------------------------------------------

CITIES = {
    "east": ["上海", "杭州", "南京", "苏州", "宁波", "合肥"],
    "north": ["北京", "天津", "石家庄", "济南", "青岛", "太原"],
    "south": ["广州", "深圳", "厦门", "福州", "南宁", "东莞"],
    "west": ["成都", "重庆", "西安", "昆明", "兰州"],
    "central": ["武汉", "长沙", "郑州", "南昌"],
}
REGIONS = list(CITIES)
NAME_CORE = ["华信", "恒通", "中科", "精测", "博远", "天成", "瑞丰", "鼎新", "联创", "海纳", "正泰", "永安",
             "睿智", "东方", "金桥", "同德", "启明", "安捷", "远航", "新源"]
NAME_TRADE = ["精密仪器", "环境科技", "生物医药", "检测技术", "电子", "化工", "新材料", "能源", "食品", "制药"]
PUBLIC_NAMES = ["环境监测中心", "疾病预防控制中心", "第一人民医院", "质量技术监督局", "大学分析测试中心",
                "计量测试研究院", "水务集团检测站"]
SEGMENTS = np.array(["enterprise", "smb", "public_sector"])


@dataclass
class Customers:
    ids: np.ndarray  # sorted by created
    team: np.ndarray  # index into SALES_TEAMS
    created_utc: np.ndarray
    updated_utc: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    city: np.ndarray
    name: np.ndarray
    updated_before_change: np.ndarray | None = None  # updated_at before the row's later update

    def table(self) -> Chunk:
        return {
            "customer_id": self.ids.tolist(),
            "name": self.name.tolist(),
            "segment": self.segment.tolist(),
            "region": self.region.tolist(),
            "city": self.city.tolist(),
            "account_team_id": np.array(SALES_TEAMS)[self.team].tolist(),
            "created_at": fmt_ts(self.created_utc).tolist(),
            "updated_at": fmt_ts(self.updated_utc).tolist(),
        }

    def earlier(self) -> Chunk:
        rows = np.flatnonzero(self.updated_before_change < self.updated_utc)
        chunk = _take(self.table(), rows)
        chunk["updated_at"] = fmt_ts(self.updated_before_change[rows]).tolist()
        return chunk


def _customer_attributes(rng: np.random.Generator, team: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(team)
    online = np.array([UNIT_BY_ID[t].params["online"] for t in SALES_TEAMS])[team]
    seg = np.where(online, choice_by_weights(rng, np.array([0.1, 0.8, 0.1]), n),
                   choice_by_weights(rng, np.array([0.3, 0.5, 0.2]), n))
    region = np.empty(n, dtype=object)
    for ti, t in enumerate(SALES_TEAMS):
        mask = team == ti
        regs = UNIT_BY_ID[t].params["regions"]
        keys = list(regs)
        region[mask] = np.array(keys, dtype=object)[choice_by_weights(rng, np.array(list(regs.values())),
                                                                       int(mask.sum()))]
    city = np.empty(n, dtype=object)
    for r in REGIONS:
        mask = region == r
        city[mask] = np.array(CITIES[r], dtype=object)[rng.integers(len(CITIES[r]), size=int(mask.sum()))]
    core = np.array(NAME_CORE)[rng.integers(len(NAME_CORE), size=n)]
    trade = np.array(NAME_TRADE)[rng.integers(len(NAME_TRADE), size=n)]
    pub = np.array(PUBLIC_NAMES)[rng.integers(len(PUBLIC_NAMES), size=n)]
    city_s = city.astype(str)
    company = np.strings.add(np.strings.add(np.strings.add(city_s, core), trade), "有限公司")
    public = np.strings.add(np.strings.add(city_s, "市"), pub)
    name = np.where(seg == 2, public, company)
    return SEGMENTS[seg], region.astype(str), city_s, name


# --- orders --------------------------------------------------------------------------------------


@dataclass
class ERPResult:
    tables: list[LoadedTable]
    customers: Customers
    products: Products
    defects: DefectLog
    counts: dict[str, int]


@dataclass(frozen=True)
class ErpParams:
    """Everything the ERP generation reads."""

    cal: Calendar
    clock: Clock
    seed: int
    scale: float
    model: SalesModel
    products: Products
    workforce: Workforce
    plan: AnomalyPlan
    initial_utc: int  # the initial load: rows that existed before the window carry this watermark
    snapshot_utc: int  # the end of the window: nothing happens after it
    loose_types: bool  # the target database takes a text in an integer column (a wrong_type defect)
    erp_file: str  # the database as the defect log names it


@dataclass
class _Orders:
    """One row per order, sorted by order time."""

    team: np.ndarray  # index into SALES_TEAMS
    day: np.ndarray  # calendar day index
    utc: np.ndarray  # order_ts
    channel: np.ndarray  # index into CHANNELS
    contract: np.ndarray  # bool

    @property
    def m(self) -> int:
        return self.team.size


@dataclass
class _Lifecycle:
    """When each order arrived in the ERP, and whether it was cancelled or shipped by the snapshot."""

    late: np.ndarray  # entered days after the order time
    created: np.ndarray
    cancel_at: np.ndarray
    cancelled: np.ndarray
    ship_at: np.ndarray
    shipped: np.ndarray
    status: np.ndarray  # 0 open, 1 shipped, 2 cancelled
    updated: np.ndarray


@dataclass
class _Lines:
    drawn: dict[str, np.ndarray]  # draw_lines' columns
    created: np.ndarray
    cancelled: np.ndarray
    updated: np.ndarray

    @property
    def order(self) -> np.ndarray:
        return self.drawn["order"]

    @property
    def n(self) -> int:
        return self.order.size


@dataclass
class _Returns:
    line: np.ndarray  # index into the lines, sorted by return time
    ts: np.ndarray
    quantity: np.ndarray
    refund: np.ndarray
    reason: np.ndarray
    updated: np.ndarray

    @property
    def n(self) -> int:
        return self.line.size


@dataclass
class _DefectRows:
    """The extra, broken rows the demo plants in the ERP, and their log."""

    lines: list[dict]
    orders: list[dict]
    returns: list[dict]
    log: DefectLog


def generate_erp(p: ErpParams) -> ERPResult:
    rng = rng_for(p.seed, "erp", "orders")
    orders = _draw_orders(p, rng)
    customer, customers = _draw_customers(p, orders)
    # sales rep: a member of the booking team active that day
    rep = p.workforce.pick(p.cal, SALES_TEAMS, orders.team, orders.day, rng.random(orders.m))
    life = _draw_lifecycle(rng, orders.utc, p.snapshot_utc)
    lines = _draw_order_lines(p, orders, life)
    returns = _draw_returns(p, orders, life, lines)
    planted = _defect_rows(p, orders, life, lines, customers, rep)
    sources = _ErpSources(p, orders, customer, customers, rep, life, lines, returns, planted)
    inv_chunks, n_inv = inventory_source(p.cal, p.clock, p.seed, p.scale, p.products, p.initial_utc,
                                         p.snapshot_utc)
    counts_out = {"products": len(p.products.ids), "customers": len(customers.ids),
                  "orders": orders.m + len(planted.orders), "order_lines": lines.n + len(planted.lines),
                  "returns": returns.n + len(planted.returns), "inventory_snapshots": n_inv}
    return ERPResult(sources.tables(inv_chunks), customers, p.products, planted.log, counts_out)


def _draw_orders(p: ErpParams, rng: np.random.Generator) -> _Orders:
    """Order counts per team and day (the planned anomalies included), then each order's time and kind."""
    nt = len(SALES_TEAMS)
    lam = p.model.orders_lambda(p.cal)
    noise = np.exp(rng.normal(0.0, 0.08, lam.shape) - 0.0032)
    counts = rng.poisson(lam * noise)
    fac = p.plan.factors("net_revenue", SALES_TEAMS)
    in_anom = ~np.isnan(fac)
    counts = np.where(in_anom, np.round(lam * np.nan_to_num(fac)), counts).astype(np.int64)

    flat = counts.ravel()
    team = np.repeat(np.repeat(np.arange(nt), p.cal.n), flat)
    day = np.repeat(np.tile(np.arange(p.cal.n), nt), flat)
    m = team.size
    online_t = p.model.online
    hour = np.where(online_t[team], choice_by_weights(rng, HOUR_W_ONLINE, m), choice_by_weights(rng, HOUR_W_B2B, m))
    tod = hour * HOUR + rng.integers(0, HOUR, m)
    local = (p.cal.day0 + day) * DAY + tod
    utc = p.clock.to_utc(local)
    order = np.lexsort((team, utc))
    team, day, utc = team[order], day[order], utc[order]

    channel = np.where(online_t[team], choice_by_weights(rng, CH_P_ONLINE, m), choice_by_weights(rng, CH_P_B2B, m))
    pc = p.model.contract_prob(lam)
    contract = rng.random(m) < pc[team]
    return _Orders(team, day, utc, channel, contract)


def _draw_customers(p: ErpParams, orders: _Orders) -> tuple[np.ndarray, Customers]:
    """The customer of each order, and the customers table.

    Pools per account team; new customers are created by their first order.
    """
    c_rng = rng_for(p.seed, "erp", "customers")
    share = np.array([UNIT_BY_ID[t].params["share"] for t in SALES_TEAMS])
    n_pre = np.maximum(5, np.round(CUSTOMERS_AT_START * p.scale * share / share.sum())).astype(np.int64)
    window_frac = p.cal.n / ((DEFAULT_END - DEFAULT_START).days + 1)
    n_new_target = np.round(CUSTOMERS_NEW_DEFAULT_WINDOW * p.scale * window_frac * share / share.sum())
    customer = np.empty(orders.m, dtype=np.int64)
    c_team, c_created = [], []
    next_id = 0
    for ti in range(len(SALES_TEAMS)):
        pool_created = _team_customer_pool(p, orders, c_rng, customer, ti, int(n_pre[ti]), n_new_target[ti],
                                           next_id)
        next_id += len(pool_created)
        c_team.append(np.full(len(pool_created), ti))
        c_created.append(pool_created)
    cust_team = np.concatenate(c_team)
    cust_created = np.concatenate(c_created)
    # global ids in creation order
    c_order = np.lexsort((np.arange(len(cust_created)), cust_created))
    rank = np.empty_like(c_order)
    rank[c_order] = np.arange(len(c_order))
    customer = rank[customer]
    cust_team, cust_created = cust_team[c_order], cust_created[c_order]
    nc = len(cust_team)
    seg, region, city, cname = _customer_attributes(c_rng, cust_team)
    cust_updated = np.maximum(cust_created, p.initial_utc)
    changed = c_rng.random(nc) < 0.02
    later = cust_updated + (c_rng.random(nc) * np.maximum(p.snapshot_utc - cust_updated, 0)).astype(np.int64)
    cust_base = cust_updated
    cust_updated = np.where(changed, later, cust_updated)
    customers = Customers(fmt_ids("C", np.arange(1, nc + 1), 6), cust_team, cust_created, cust_updated,
                          seg, region, city, cname, cust_base)
    return customer, customers


def _team_customer_pool(p: ErpParams, orders: _Orders, c_rng: np.random.Generator, customer: np.ndarray, ti: int,
                        n_pre: int, n_new_target: float, first_id: int) -> np.ndarray:
    """One account team's customers (creation times; ids from ``first_id``); fills in ``customer`` for its orders.

    The pool is the customers that existed before the window and the new ones, each created shortly
    before its first order; every other order goes to a customer that exists by then, skewed to the oldest.
    """
    rows = np.flatnonzero(orders.team == ti)
    utc = orders.utc
    k_new = int(min(n_new_target, len(rows) // 3))
    hist_lo = day_number(date(2012, 1, 1))
    pre_created = np.sort(p.clock.to_utc(
        (hist_lo + c_rng.integers(0, p.cal.day0 - hist_lo, n_pre)) * DAY + c_rng.integers(8, 18, n_pre) * HOUR))
    first_rows = np.sort(c_rng.choice(rows, size=k_new, replace=False)) if k_new else np.zeros(0, np.int64)
    start_utc = p.clock.to_utc(np.array([p.cal.day0 * DAY]))[0]
    new_created = np.maximum(utc[first_rows] - c_rng.integers(HOUR, 72 * HOUR, k_new), start_utc)
    new_created = np.minimum(new_created, utc[first_rows])
    new_created = np.maximum.accumulate(new_created) if k_new else new_created
    pool_created = np.concatenate([pre_created, new_created])
    pool_ids = first_id + np.arange(len(pool_created))
    # first orders
    customer[first_rows] = pool_ids[n_pre:]
    others = np.setdiff1d(rows, first_rows, assume_unique=True)
    elig = np.searchsorted(pool_created, utc[others], side="left")
    elig = np.maximum(elig, 1)
    u = c_rng.random(len(others))
    skew = c_rng.random(len(others)) < 0.75
    idx = np.where(skew, (elig * u ** 2.5).astype(np.int64), (elig * u).astype(np.int64))
    customer[others] = pool_ids[np.minimum(idx, elig - 1)]
    return pool_created


def _draw_lifecycle(rng: np.random.Generator, utc: np.ndarray, snapshot_utc: int) -> _Lifecycle:
    """Late arrival, cancellation, shipping."""
    m = utc.size
    late = rng.random(m) < LATE_ORDER_RATE
    created = np.where(late, utc + rng.integers(DAY, 5 * DAY, m), utc)
    created = np.minimum(created, snapshot_utc)
    cancel_at = created + rng.integers(2 * HOUR, 10 * DAY, m)
    cancelled = (rng.random(m) < CANCEL_RATE) & (cancel_at <= snapshot_utc)
    ship_at = created + rng.integers(DAY // 2, 7 * DAY, m)
    shipped = ~cancelled & (ship_at <= snapshot_utc)
    status = np.where(cancelled, 2, np.where(shipped, 1, 0))
    updated = np.where(cancelled, cancel_at, np.where(shipped, ship_at, created))
    return _Lifecycle(late, created, cancel_at, cancelled, ship_at, shipped, status, updated)


def _draw_order_lines(p: ErpParams, orders: _Orders, life: _Lifecycle) -> _Lines:
    """The lines of every order; a few entered days after their order, cancelled with their order."""
    l_rng = rng_for(p.seed, "erp", "lines")
    lines = draw_lines(l_rng, p.products, p.model.online[orders.team], orders.contract, orders.channel, orders.utc)
    lo = lines["order"]
    nl = lo.size
    l_created = life.created[lo].copy()
    late_line = (l_rng.random(nl) < LATE_LINE_RATE) & ~life.cancelled[lo] & ~life.late[lo] & (lines["line_no"] > 1)
    l_created = np.where(late_line, np.minimum(l_created + l_rng.integers(DAY, 5 * DAY, nl), p.snapshot_utc),
                         l_created)
    l_cancel = life.cancelled[lo]
    l_updated = np.where(l_cancel, life.cancel_at[lo], l_created)
    return _Lines(lines, l_created, l_cancel, l_updated)


def _draw_returns(p: ErpParams, orders: _Orders, life: _Lifecycle, lines: _Lines) -> _Returns:
    """Returns of lines of shipped, not cancelled orders, booked by the snapshot."""
    r_rng = rng_for(p.seed, "erp", "returns")
    lo, nl = lines.order, lines.n
    cand = life.shipped[lo]
    p_ret = RETURN_RATE * nl / max(int(cand.sum()), 1)
    ret = np.flatnonzero(cand & (r_rng.random(nl) < p_ret))
    r_ts = life.ship_at[lo[ret]] + r_rng.integers(2 * DAY, 30 * DAY, ret.size)
    r_ts = _after_dropouts(p, orders.team[lo[ret]], r_ts)
    keep = r_ts <= p.snapshot_utc
    ret, r_ts = ret[keep], r_ts[keep]
    r_order = np.argsort(r_ts, kind="stable")
    ret, r_ts = ret[r_order], r_ts[r_order]
    nr = ret.size
    lq = lines.drawn["quantity"][ret]
    r_qty = np.where((lq > 1) & (r_rng.random(nr) < 0.4), 1 + (r_rng.random(nr) * (lq - 1)).astype(np.int64), lq)
    refund = np.round(r_qty * lines.drawn["unit_price"][ret] * (1 - lines.drawn["discount_pct"][ret])
                      * r_rng.uniform(0.85, 1.0, nr), 2)
    r_reason = RETURN_REASONS[r_rng.integers(len(RETURN_REASONS), size=nr)]
    r_updated = np.where(r_rng.random(nr) < 0.1,
                         np.minimum(r_ts + r_rng.integers(DAY, 3 * DAY, nr), p.snapshot_utc), r_ts)
    return _Returns(ret, r_ts, r_qty, refund, r_reason, r_updated)


def _after_dropouts(p: ErpParams, r_team: np.ndarray, r_ts: np.ndarray) -> np.ndarray:
    """Return times moved out of a team's dropout windows (no revenue booked at all on those days)."""
    r_day = p.clock.to_local(r_ts) // DAY - p.cal.day0
    for a in p.plan.anomalies:
        if a.kpi_id == "net_revenue" and a.kind == "dropout":
            ti = SALES_TEAMS.index(a.org_unit_id)
            hit = (r_team == ti) & (r_day >= a.start) & (r_day <= a.end)
            r_ts = np.where(hit, r_ts + (a.end - r_day + 1) * DAY, r_ts)
    return r_ts


# --- defects (extra rows) ------------------------------------------------------------------------


def _oid(i: int) -> str:
    return f"O{i + 1:08d}"


def _local_date(clock: Clock, ts: int) -> str:
    return fmt_date(np.array([clock.to_local(np.array([ts]))[0] // DAY]))[0]


def _defect_rows(p: ErpParams, orders: _Orders, life: _Lifecycle, lines: _Lines, customers: Customers,
                 rep: np.ndarray) -> _DefectRows:
    log = DefectLog()
    d_rng = rng_for(p.seed, "erp", "defects")
    extra_lines = _defect_lines(p, life, d_rng, log)
    extra_orders = _defect_orders(p, customers, rep, d_rng, log)
    extra_returns = _defect_return(p, orders, log) if lines.n else []
    return _DefectRows(extra_lines, extra_orders, extra_returns, log)


def _defect_lines(p: ErpParams, life: _Lifecycle, d_rng: np.random.Generator, log: DefectLog) -> list[dict]:
    """Lines with a null key, an unknown product, a negative quantity (and a text quantity where it fits)."""
    hosts = np.flatnonzero(~life.cancelled)
    extra_lines: list[dict] = []
    kinds = [("null_key", "order_line_id"), ("null_key", "order_line_id"), ("orphan_fk", "product_id"),
             ("orphan_fk", "product_id"), ("negative_quantity", "quantity"), ("negative_quantity", "quantity")]
    if p.loose_types:
        kinds.append(("wrong_type", "quantity"))
    if not hosts.size:
        return extra_lines
    for defect, field in kinds:
        h = int(hosts[int(d_rng.integers(hosts.size))])
        ts = int(min(life.created[h] + d_rng.integers(HOUR, 3 * DAY), p.snapshot_utc))
        line_no = 90 + len(extra_lines)
        row = {"order_line_id": f"{_oid(h)}-{line_no}", "order_id": _oid(h), "line_no": line_no,
               "product_id": p.products.ids[int(d_rng.integers(len(p.products.ids)))], "quantity": 2,
               "unit_price": 100.0, "discount_pct": 0.0, "unit_cost": 50.0, "is_cancelled": 0,
               "created_at": fmt_ts(np.array([ts]))[0], "updated_at": fmt_ts(np.array([ts]))[0]}
        key = row["order_line_id"]
        if defect == "null_key":
            row["order_line_id"] = None
            key = f"order_id={_oid(h)},line_no={line_no}"
        elif defect == "orphan_fk":
            row["product_id"] = "P9999"
        elif defect == "negative_quantity":
            row["quantity"] = -int(d_rng.integers(1, 20))
        elif defect == "wrong_type":
            row["quantity"] = "N/A"
        extra_lines.append(row)
        log.add("erp", "order_lines", _local_date(p.clock, ts), p.erp_file, key, field, defect)
    return extra_lines


def _defect_orders(p: ErpParams, customers: Customers, rep: np.ndarray, d_rng: np.random.Generator,
                   log: DefectLog) -> list[dict]:
    """An order dated years ahead and one of an unknown customer."""
    extra_orders: list[dict] = []
    nc = len(customers.ids)
    cal, clock = p.cal, p.clock
    for j, (defect, field) in enumerate([("future_date", "order_ts"), ("orphan_fk", "customer_id")]):
        day_i = int(d_rng.integers(min(3, cal.n - 1), cal.n))
        ts = int(min(clock.to_utc(np.array([(cal.day0 + day_i) * DAY + 11 * HOUR]))[0], p.snapshot_utc))
        order_ts = ts
        cust = customers.ids[int(d_rng.integers(nc))] if nc else "C000001"
        if defect == "future_date":
            order_ts = ts + int(d_rng.integers(5 * 365, 7 * 365)) * DAY
        else:
            cust = "C9999999"
        oid_x = f"O9{j + 1:07d}"
        extra_orders.append({"order_id": oid_x, "customer_id": cust,
                             "sales_rep_id": p.workforce.emp_ids[int(rep[0])] if rep.size else "E00001",
                             "org_unit_id": SALES_TEAMS[0], "order_ts": fmt_ts(np.array([order_ts]))[0],
                             "channel": "direct", "order_type": "spot", "status": "open", "currency": "CNY",
                             "created_at": fmt_ts(np.array([ts]))[0], "updated_at": fmt_ts(np.array([ts]))[0]})
        log.add("erp", "orders", _local_date(clock, ts), p.erp_file, oid_x, field, defect)
    return extra_orders


def _defect_return(p: ErpParams, orders: _Orders, log: DefectLog) -> list[dict]:
    """A return of a line that does not exist."""
    ts = int(min(orders.utc[-1], p.snapshot_utc))
    log.add("erp", "returns", _local_date(p.clock, ts), p.erp_file, "RT99000001", "order_line_id", "orphan_fk")
    return [{"return_id": "RT99000001", "order_line_id": "O99999999-1", "return_ts": fmt_ts(np.array([ts]))[0],
             "quantity": 1, "refund_amount": 10.0, "reason": "质量问题", "created_at": fmt_ts(np.array([ts]))[0],
             "updated_at": fmt_ts(np.array([ts]))[0]}]


# --- chunked table sources -----------------------------------------------------------------------

_STATUS_NAMES = np.array(["open", "shipped", "cancelled"])
_ORDER_TYPES = np.array(["spot", "contract"])


def _positions(ix: np.ndarray | slice) -> np.ndarray:
    return np.arange(ix.start, ix.stop) if isinstance(ix, slice) else ix


@dataclass
class _ErpSources:
    """The ERP tables as chunk sources: the rows as they are now, and the earlier versions of changed rows."""

    p: ErpParams
    orders: _Orders
    customer: np.ndarray  # per order, index into customers
    customers: Customers
    rep: np.ndarray  # per order, index into workforce.emp_ids
    life: _Lifecycle
    lines: _Lines
    returns: _Returns
    planted: _DefectRows

    def tables(self, inventory_chunks: Callable[[], Iterator[Chunk]]) -> list[LoadedTable]:
        products, customers = self.p.products, self.customers
        return [
            LoadedTable(PRODUCTS_T, lambda: iter([products.table()]), lambda: iter([products.earlier()])),
            LoadedTable(CUSTOMERS_T, lambda: iter([customers.table()]), lambda: iter([customers.earlier()])),
            LoadedTable(ORDERS_T, self.order_chunks, self.earlier_orders),
            LoadedTable(LINES_T, self.line_chunks, self.earlier_lines),
            LoadedTable(RETURNS_T, self.return_chunks, self.earlier_returns),
            LoadedTable(INVENTORY_T, inventory_chunks),
        ]

    def order_rows(self, ix: np.ndarray | slice, o_status: np.ndarray, updated: np.ndarray) -> Chunk:
        ids = _positions(ix)
        o = self.orders
        return {
            "order_id": fmt_ids("O", ids + 1, 8).tolist(),
            "customer_id": self.customers.ids[self.customer[ix]].tolist(),
            "sales_rep_id": self.p.workforce.emp_ids[self.rep[ix]].tolist(),
            "org_unit_id": np.array(SALES_TEAMS)[o.team[ix]].tolist(),
            "order_ts": fmt_ts(o.utc[ix]).tolist(),
            "channel": CHANNELS[o.channel[ix]].tolist(),
            "order_type": _ORDER_TYPES[o.contract[ix].astype(int)].tolist(),
            "status": _STATUS_NAMES[o_status[ix]].tolist(),
            "currency": ["CNY"] * ids.size,
            "created_at": fmt_ts(self.life.created[ix]).tolist(),
            "updated_at": fmt_ts(updated[ix]).tolist(),
        }

    def order_chunks(self) -> Iterator[Chunk]:
        m = self.orders.m
        for s in range(0, m, CHUNK_ROWS):
            yield self.order_rows(slice(s, min(s + CHUNK_ROWS, m)), self.life.status, self.life.updated)
        if self.planted.orders:
            yield {c: [r[c] for r in self.planted.orders] for c in ORDERS_T.column_names}

    def earlier_orders(self) -> Iterator[Chunk]:
        """Shipped and cancelled orders as they stood before: open, watermark = creation."""
        changed = np.flatnonzero(self.life.updated > self.life.created)
        for s in range(0, changed.size, CHUNK_ROWS):
            yield self.order_rows(changed[s:s + CHUNK_ROWS], np.zeros(self.orders.m, dtype=np.int64),
                                  self.life.created)

    def line_rows(self, ix: np.ndarray | slice, cancelled_now: np.ndarray, updated: np.ndarray) -> Chunk:
        drawn = self.lines.drawn
        o_ids = fmt_ids("O", self.lines.order[ix] + 1, 8)
        return {
            "order_line_id": np.strings.add(np.strings.add(o_ids, "-"), drawn["line_no"][ix].astype(str)).tolist(),
            "order_id": o_ids.tolist(),
            "line_no": drawn["line_no"][ix].tolist(),
            "product_id": self.p.products.ids[drawn["product"][ix]].tolist(),
            "quantity": drawn["quantity"][ix].tolist(),
            "unit_price": drawn["unit_price"][ix].tolist(),
            "discount_pct": drawn["discount_pct"][ix].tolist(),
            "unit_cost": drawn["unit_cost"][ix].tolist(),
            "is_cancelled": cancelled_now[ix].astype(np.int64).tolist(),
            **_created_updated(self.lines.created[ix], updated[ix]),
        }

    def line_chunks(self) -> Iterator[Chunk]:
        nl = self.lines.n
        for s in range(0, nl, CHUNK_ROWS):
            yield self.line_rows(slice(s, min(s + CHUNK_ROWS, nl)), self.lines.cancelled, self.lines.updated)
        if self.planted.lines:
            yield {c: [r[c] for r in self.planted.lines] for c in LINES_T.column_names}

    def earlier_lines(self) -> Iterator[Chunk]:
        """Cancelled lines as they stood before the cancellation."""
        changed = np.flatnonzero(self.lines.updated > self.lines.created)
        for s in range(0, changed.size, CHUNK_ROWS):
            yield self.line_rows(changed[s:s + CHUNK_ROWS], np.zeros(self.lines.n, dtype=bool), self.lines.created)

    def return_rows(self, ix: np.ndarray | slice, updated: np.ndarray) -> Chunk:
        r = self.returns
        r_lines = self.lines.order[r.line[ix]]
        r_line_ids = np.strings.add(np.strings.add(fmt_ids("O", r_lines + 1, 8), "-"),
                                    self.lines.drawn["line_no"][r.line[ix]].astype(str))
        return {
            "return_id": fmt_ids("RT", _positions(ix) + 1, 8).tolist(),
            "order_line_id": r_line_ids.tolist(),
            "return_ts": fmt_ts(r.ts[ix]).tolist(),
            "quantity": r.quantity[ix].tolist(),
            "refund_amount": r.refund[ix].tolist(),
            "reason": r.reason[ix].tolist(),
            "created_at": fmt_ts(r.ts[ix]).tolist(),
            "updated_at": fmt_ts(updated[ix]).tolist(),
        }

    def return_chunks(self) -> Iterator[Chunk]:
        yield self.return_rows(slice(0, self.returns.n), self.returns.updated)
        if self.planted.returns:
            yield {c: [r[c] for r in self.planted.returns] for c in RETURNS_T.column_names}

    def earlier_returns(self) -> Iterator[Chunk]:
        """Returns updated after they were booked, as booked."""
        yield self.return_rows(np.flatnonzero(self.returns.updated > self.returns.ts), self.returns.ts)


def _created_updated(created: np.ndarray, updated: np.ndarray) -> Chunk:
    """Both timestamp columns, formatting each distinct value once (most lines never change)."""
    created_s = fmt_ts(created).tolist()
    updated_s = list(created_s)
    diff = np.flatnonzero(updated != created)
    for i, v in zip(diff.tolist(), fmt_ts(updated[diff]).tolist(), strict=True):
        updated_s[i] = v
    return {"created_at": created_s, "updated_at": updated_s}


# --- inventory -----------------------------------------------------------------------------------


def inventory_source(cal: Calendar, clock: Clock, seed: int, scale: float, products: Products, initial_utc: int,
                     snapshot_utc: int):
    """Daily end-of-day stock per warehouse × physical product (rows do not grow with scale)."""
    rng = rng_for(seed, "erp", "inventory")
    phys = np.flatnonzero(np.isin(np.array(CATEGORIES)[products.category], list(PHYSICAL)))
    nw, npr = len(WAREHOUSES), len(phys)
    stock = np.array([UNIT_BY_ID[w].params["stock"] for w in WAREHOUSES])
    # typical stock: proportional to popularity, more units of cheap items
    typical = (products.popularity[phys] / products.popularity[phys].mean()) * 4000.0 / np.sqrt(
        products.unit_cost[phys])
    base = np.maximum(1.0, scale * stock[:, None] * typical[None, :] * rng.uniform(0.6, 1.4, (nw, npr)))
    cycle = rng.integers(10, 31, (nw, npr))
    phase = rng.integers(0, 30, (nw, npr))
    years = cal.years_since_anchor()
    eod_utc = clock.to_utc((cal.day_numbers * DAY) + 23 * HOUR + 30 * 60)
    upd = np.minimum(np.maximum(eod_utc, initial_utc), snapshot_utc)
    dates = fmt_date(cal.day_numbers)
    w_ids = np.array(WAREHOUSES)
    p_ids = products.ids[phys]
    cost = products.unit_cost[phys]
    launch_day = clock.to_local(products.launch_utc[phys]) // DAY
    total = cal.n * nw * npr
    days_per_chunk = max(1, CHUNK_ROWS // (nw * npr))

    def chunks() -> Iterator[Chunk]:
        for d0 in range(0, cal.n, days_per_chunk):
            d = np.arange(d0, min(d0 + days_per_chunk, cal.n))
            c_rng = rng_for(seed, "erp", "inventory", int(cal.day_numbers[d[0]]))
            t = (d[:, None, None] + phase[None]) % cycle[None]
            saw = 0.3 + 0.7 * (1.0 - t / cycle[None])
            trend = (1.08 ** years[d])[:, None, None]
            q = base[None] * saw * trend * c_rng.normal(1.0, 0.05, saw.shape)
            q = np.where(c_rng.random(saw.shape) < 0.01, 0.0, q)
            q = np.maximum(np.round(q), 0).astype(np.int64)
            q = np.where(launch_day[None, None, :] > cal.day_numbers[d][:, None, None], 0, q)
            nd = len(d)
            yield {
                "snapshot_date": np.repeat(dates[d], nw * npr).tolist(),
                "warehouse_id": np.tile(np.repeat(w_ids, npr), nd).tolist(),
                "product_id": np.tile(p_ids, nd * nw).tolist(),
                "quantity_on_hand": q.ravel().tolist(),
                "inventory_value": np.round(q * cost[None, None, :], 2).ravel().tolist(),
                "updated_at": np.repeat(fmt_ts(upd[d]), nw * npr).tolist(),
            }

    return chunks, total
