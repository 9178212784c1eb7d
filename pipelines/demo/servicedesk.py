"""Service desk: one GB18030 CSV export per local day, tickets re-exported when they change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .anomalies import AnomalyPlan
from .business_calendar import Calendar
from .common import DAY, HOUR, NAT, Clock, atomic_write_bytes, choice_by_weights, fmt_ids, fmt_ts, rng_for
from .company import SERVICE_TEAMS, TICKETS_PER_DAY, UNIT_BY_ID
from .defects import DefectLog
from .erp import Customers
from .hr import Workforce
from .volumes import day_noise, team_lambda

COLUMNS = ["ticket_id", "opened_at", "first_response_at", "resolved_at", "priority", "channel", "category",
           "subject", "customer_id", "team_id", "agent_id", "csat", "is_complaint", "updated_at"]
#: the column the export renamed on the day the vendor changed the export format
RENAMED = ("csat", "satisfaction")
ENCODING = "gb18030"

HOUR_W = np.array([0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 5, 8, 9, 9, 7, 8, 9, 9, 8, 7, 5, 4, 3, 2.5, 2, 1.8])
PRIORITIES = np.array(["P1", "P2", "P3", "P4"])
PRIORITY_P = np.array([0.05, 0.20, 0.50, 0.25])
PRIORITY_FRT = np.array([0.75, 0.9, 1.0, 1.1])
PRIORITY_RES_H = np.array([4.0, 12.0, 24.0, 48.0])
CHANNELS = np.array(["phone", "email", "chat", "wechat"])
CHANNEL_P = np.array([0.35, 0.25, 0.20, 0.20])
CATEGORIES = {
    "安装调试": ["新购光谱仪安装预约", "传感器安装位置咨询", "软件安装失败，提示缺少组件", "现场调试时间确认"],
    "故障报修": ["仪器无法开机", "传感器读数漂移", "色谱仪基线噪声大", "设备报警 E-203，请协助处理",
             "示波器屏幕闪烁"],
    "账单咨询": ["发票抬头需要修改", "对账单金额与合同不一致", "付款后未收到发票"],
    "产品咨询": ["询问新款分析仪的技术参数", "耗材兼容性咨询", "软件授权续期流程"],
    "退换货": ["到货包装破损，申请换货", "型号发错，需要退货", "试剂过期，申请退换"],
    "投诉建议": ["维修响应太慢，投诉", "工程师未按约定时间上门", "多次报修问题仍未解决，要求升级处理",
             "对服务态度不满意"],
}
CATEGORY_NAMES = list(CATEGORIES)
CSAT_P = np.array([0.03, 0.05, 0.12, 0.35, 0.45])
CSAT_P_COMPLAINT = np.array([0.25, 0.25, 0.25, 0.15, 0.10])


@dataclass
class ServiceDeskResult:
    files: dict[str, int]  # relative path -> data rows
    tickets: int
    rows: int
    defects: DefectLog


def rejected_day_index(cal: Calendar) -> int | None:
    """The day whose export changed its column set (the whole file is expected to be rejected)."""
    if cal.n < 40:
        return None
    i = cal.n // 2
    while i < cal.n - 20 and not cal.is_workday[i]:
        i += 1
    return i


@dataclass
class _Tickets:
    """One row per ticket, in the order they were opened (local seconds; NAT = not yet)."""

    team: np.ndarray  # index into SERVICE_TEAMS
    day: np.ndarray  # calendar day index
    opened: np.ndarray
    prio: np.ndarray
    channel: np.ndarray
    customer: np.ndarray  # index into the customers
    agent: np.ndarray  # index into workforce.emp_ids
    complaint: np.ndarray
    first_resp: np.ndarray
    resolved: np.ndarray
    csat_given: np.ndarray
    csat: np.ndarray
    category: np.ndarray  # index into CATEGORY_NAMES
    subject: np.ndarray

    @property
    def m(self) -> int:
        return self.team.size


@dataclass
class _ExportRows:
    """One row per ticket and local day with an event, showing the state at the end of that day."""

    ticket: np.ndarray
    updated: np.ndarray
    day: np.ndarray  # day number
    show_first_response: np.ndarray
    show_resolved: np.ndarray


def generate_servicedesk(cal: Calendar, default_cal: Calendar, clock: Clock, seed: int, scale: float,
                         workforce: Workforce, customers: Customers, plan: AnomalyPlan, landing: Path,
                         rel_root: Path) -> ServiceDeskResult:
    rng = rng_for(seed, "servicedesk")
    tickets = _draw_tickets(rng, cal, default_cal, clock, scale, workforce, customers, plan)
    rej = rejected_day_index(cal)
    if rej is not None:
        _after_the_rejected_day(rng, cal.day0 + rej, tickets)
    # the export sees only what happened by the snapshot
    snapshot = (cal.day0 + cal.n) * DAY - 1  # local
    first_resp = np.where(tickets.first_resp > snapshot, NAT, tickets.first_resp)
    resolved = tickets.resolved
    tickets.resolved = np.where((resolved == NAT) | (resolved > snapshot) | (first_resp == NAT), NAT, resolved)
    tickets.first_resp = first_resp
    export = _export_rows(tickets)

    defects = DefectLog()
    bounds = np.searchsorted(export.day, cal.day_numbers[0] + np.arange(cal.n + 1))
    extra = _plan_defect_rows(rng_for(seed, "servicedesk", "defects"), cal, bounds, rej)
    files: dict[str, int] = {}
    for di in range(cal.n):
        d = cal.date_of(di)
        s, e = int(bounds[di]), int(bounds[di + 1])
        lists = _columns(tickets, export, slice(s, e), workforce, customers)
        rows = list(zip(*(lists[c] for c in COLUMNS), strict=True))
        name = f"tickets_{d:%Y%m%d}.csv"
        rel = (rel_root / name).as_posix()
        for j, src, field, defect in extra.get(di, []):
            row = _defect_row(rows[src], j, field, defect, cal.day_numbers[di])
            rows.append(tuple(row))
            defects.add("servicedesk", "tickets", d.isoformat(), rel, row[0] or f"row={len(rows)}", field, defect)
        header = list(COLUMNS)
        if di == rej:
            header[header.index(RENAMED[0])] = RENAMED[1]
            defects.add("servicedesk", "tickets", d.isoformat(), rel, "", RENAMED[0], "changed_columns",
                        "batch_rejected")
        atomic_write_bytes(landing / name, _csv(header, rows))
        files[rel] = len(rows)
    return ServiceDeskResult(files, tickets.m, int(export.ticket.size), defects)


def _draw_tickets(rng: np.random.Generator, cal: Calendar, default_cal: Calendar, clock: Clock, scale: float,
                  workforce: Workforce, customers: Customers, plan: AnomalyPlan) -> _Tickets:
    """Tickets per team and day, and everything about each (the planned anomalies included)."""
    teams = SERVICE_TEAMS
    nt = len(teams)
    lam = team_lambda(cal, default_cal, teams, "service", TICKETS_PER_DAY * scale)
    counts = rng.poisson(lam * day_noise(rng, lam.shape))
    team = np.repeat(np.repeat(np.arange(nt), cal.n), counts.ravel())
    day = np.repeat(np.tile(np.arange(cal.n), nt), counts.ravel())
    m = team.size
    opened = (cal.day0 + day) * DAY + choice_by_weights(rng, HOUR_W, m) * HOUR + rng.integers(0, HOUR, m)
    order = np.lexsort((team, opened))
    team, day, opened = team[order], day[order], opened[order]

    prio = choice_by_weights(rng, PRIORITY_P, m)
    channel = choice_by_weights(rng, CHANNEL_P, m)
    # customer: anyone who existed when the ticket was opened
    c_created = clock.to_local(customers.created_utc)
    elig = np.maximum(np.searchsorted(c_created, opened, side="right"), 1)
    customer = np.minimum((rng.random(m) * elig).astype(np.int64), elig - 1)
    agent = workforce.pick(cal, teams, team, day, rng.random(m))

    params = [UNIT_BY_ID[t].params for t in teams]
    frt_median = np.array([p["frt_median"] for p in params])
    frt = np.exp(rng.normal(np.log(frt_median[team] * PRIORITY_FRT[prio]), 0.72))
    frt_fac = plan.factors("first_response_p90", teams)[team, day]
    frt = np.where(np.isnan(frt_fac), frt, frt * np.nan_to_num(frt_fac))
    frt = np.maximum(1, np.round(frt)).astype(np.int64)

    p_complaint = np.array([p["complaint"] for p in params])
    complaint = rng.random(m) < p_complaint[team]
    _plant_complaint_anomalies(rng, plan, team, day, p_complaint, complaint)

    resolve = np.array([p["resolve"] for p in params])
    res_secs = np.exp(rng.normal(np.log(PRIORITY_RES_H[prio] * resolve[team] * HOUR), 0.9)).astype(np.int64)
    first_resp = opened + frt
    resolved = first_resp + np.maximum(res_secs, 300)
    never = rng.random(m) < 0.03
    resolved = np.where(never, NAT, resolved)
    csat_given = rng.random(m) < 0.6
    csat = np.where(complaint, choice_by_weights(rng, CSAT_P_COMPLAINT, m), choice_by_weights(rng, CSAT_P, m)) + 1
    cat, subject = _subjects(rng, complaint)
    return _Tickets(team, day, opened, prio, channel, customer, agent, complaint, first_resp, resolved,
                    csat_given, csat, cat, subject)


def _plant_complaint_anomalies(rng: np.random.Generator, plan: AnomalyPlan, team: np.ndarray, day: np.ndarray,
                               p_complaint: np.ndarray, complaint: np.ndarray) -> None:
    """Redraw the complaints of each team and day inside a complaint-rate anomaly at the anomaly's rate."""
    cfac = plan.factors("complaint_rate", SERVICE_TEAMS)
    for a in plan.anomalies:
        if a.kpi_id != "complaint_rate":
            continue
        ti = SERVICE_TEAMS.index(a.org_unit_id)
        for d in range(a.start, a.end + 1):
            rows = np.flatnonzero((team == ti) & (day == d))
            complaint[rows] = False
            x = len(rows) * p_complaint[ti] * cfac[ti, d]
            if a.kind == "level_shift":
                k = int(x + rng.random())  # unbiased over the window
            else:  # a single day on a few tickets: round in the anomaly's direction so it shows
                k = int(np.ceil(x)) if a.magnitude > 0 else int(np.floor(x))
            if k:
                complaint[rng.choice(rows, size=min(k, len(rows)), replace=False)] = True


def _subjects(rng: np.random.Generator, complaint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Category (most complaints file as 投诉建议) and a subject line of that category."""
    m = complaint.size
    cat = np.where(complaint & (rng.random(m) < 0.7), CATEGORY_NAMES.index("投诉建议"),
                   rng.integers(len(CATEGORY_NAMES), size=m))
    subj_u = rng.random(m)
    subject = np.empty(m, dtype=object)
    for ci, name in enumerate(CATEGORY_NAMES):
        mask = cat == ci
        opts = np.array(CATEGORIES[name], dtype=object)
        subject[mask] = opts[(subj_u[mask] * len(opts)).astype(np.int64)]
    return cat, subject


def _after_the_rejected_day(rng: np.random.Generator, rej_day: int, t: _Tickets) -> None:
    """The day whose file is rejected: every ticket with an event that day re-appears later (resolved the next day)."""
    resolved = t.resolved
    touched = (t.opened // DAY == rej_day) | (t.first_resp // DAY == rej_day) | (
        (resolved != NAT) & (resolved // DAY == rej_day))
    fix = touched & ((resolved == NAT) | (resolved // DAY <= rej_day))
    t.resolved = np.where(fix, (rej_day + 1) * DAY + 9 * HOUR + rng.integers(0, 8 * HOUR, t.m), resolved)


def _export_rows(t: _Tickets) -> _ExportRows:
    first_resp, resolved = t.first_resp, t.resolved
    t_idx = np.arange(t.m)
    ev_t = np.concatenate([t_idx, t_idx[first_resp != NAT], t_idx[resolved != NAT]])
    ev_ts = np.concatenate([t.opened, first_resp[first_resp != NAT], resolved[resolved != NAT]])
    ev_day = ev_ts // DAY
    o = np.lexsort((ev_ts, ev_day, ev_t))
    ev_t, ev_ts, ev_day = ev_t[o], ev_ts[o], ev_day[o]
    last = np.ones(ev_t.size, dtype=bool)
    last[:-1] = (ev_t[1:] != ev_t[:-1]) | (ev_day[1:] != ev_day[:-1])
    r_t, r_upd, r_day = ev_t[last], ev_ts[last], ev_day[last]
    show_fr = (first_resp[r_t] != NAT) & (first_resp[r_t] // DAY <= r_day)
    show_res = (resolved[r_t] != NAT) & (resolved[r_t] // DAY <= r_day)
    o = np.lexsort((r_t, r_upd, r_day))
    return _ExportRows(*(x[o] for x in (r_t, r_upd, r_day, show_fr, show_res)))


def _columns(tk: _Tickets, export: _ExportRows, sl: slice, workforce: Workforce,
             customers: Customers) -> dict[str, list]:
    t = export.ticket[sl]
    fr, rs = export.show_first_response[sl], export.show_resolved[sl]
    cols = {
        "ticket_id": fmt_ids("T", t + 1, 8),
        "opened_at": fmt_ts(tk.opened[t]),
        "first_response_at": fmt_ts(np.where(fr, tk.first_resp[t], NAT)),
        "resolved_at": fmt_ts(np.where(rs, tk.resolved[t], NAT)),
        "priority": PRIORITIES[tk.prio[t]],
        "channel": CHANNELS[tk.channel[t]],
        "category": np.array(CATEGORY_NAMES, dtype=object)[tk.category[t]],
        "subject": tk.subject[t],
        "customer_id": customers.ids[tk.customer[t]],
        "team_id": np.array(SERVICE_TEAMS)[tk.team[t]],
        "agent_id": workforce.emp_ids[tk.agent[t]],
        "csat": np.where(rs & tk.csat_given[t], tk.csat[t].astype(str), ""),
        "is_complaint": tk.complaint[t].astype(np.int64).astype(str),
        "updated_at": fmt_ts(export.updated[sl]),
    }
    return {c: v.tolist() for c, v in cols.items()}


# --- defects: extra rows appended to some files, and the renamed-column file ---------------------

_DEFECT_SPECS = [("duplicate", ""), ("duplicate", ""), ("null_key", "ticket_id"), ("wrong_type", "csat"),
                 ("orphan_fk", "team_id"), ("future_date", "opened_at"), ("wrong_type", "opened_at")]


def _plan_defect_rows(d_rng: np.random.Generator, cal: Calendar, bounds: np.ndarray,
                      rej: int | None) -> dict[int, list[tuple[int, int, str, str]]]:
    """Day index -> (defect number, the day's row it copies, field, defect), on days with rows."""
    extra: dict[int, list[tuple[int, int, str, str]]] = {}
    candidates = [i for i in range(min(3, cal.n - 1), cal.n) if i != rej and bounds[i + 1] > bounds[i]]
    for j, (defect, field) in enumerate(_DEFECT_SPECS):
        if not candidates:
            break
        di = candidates[int(d_rng.integers(len(candidates)))]
        src = int(d_rng.integers(bounds[di + 1] - bounds[di]))  # position inside the day's rows
        extra.setdefault(di, []).append((j, src, field, defect))
    return extra


def _defect_row(source: tuple, j: int, field: str, defect: str, day_number: int) -> list:
    """A copy of ``source`` with the defect (a duplicate is the copy itself)."""
    row = list(source)
    if defect != "duplicate":
        row[0] = f"T9{j + 1:07d}"
        row[2] = row[3] = row[11] = ""
    if defect == "null_key":
        row[0] = ""
    elif defect == "wrong_type" and field == "csat":
        row[3] = row[1]
        row[11] = "很好"
    elif defect == "orphan_fk":
        row[9] = "TM-XX-9"
    elif defect == "future_date":
        row[1] = fmt_ts(np.array([(day_number + 30) * DAY + 10 * HOUR]))[0]
    elif defect == "wrong_type":
        row[1] = "2024/13/45 25:61"
    return row


def _csv(header: list[str], rows: list[tuple]) -> bytes:
    from .writers import csv_bytes

    return csv_bytes(header, rows, ENCODING)
