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


def generate_servicedesk(cal: Calendar, default_cal: Calendar, clock: Clock, seed: int, scale: float,
                         workforce: Workforce, customers: Customers, plan: AnomalyPlan, landing: Path,
                         rel_root: Path) -> ServiceDeskResult:
    rng = rng_for(seed, "servicedesk")
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
    snapshot = (cal.day0 + cal.n) * DAY - 1  # local

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
    cfac = plan.factors("complaint_rate", teams)
    for a in plan.anomalies:
        if a.kpi_id != "complaint_rate":
            continue
        ti = teams.index(a.org_unit_id)
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

    resolve = np.array([p["resolve"] for p in params])
    res_secs = np.exp(rng.normal(np.log(PRIORITY_RES_H[prio] * resolve[team] * HOUR), 0.9)).astype(np.int64)
    first_resp = opened + frt
    resolved = first_resp + np.maximum(res_secs, 300)
    never = rng.random(m) < 0.03
    resolved = np.where(never, NAT, resolved)
    csat_given = rng.random(m) < 0.6
    csat = np.where(complaint, choice_by_weights(rng, CSAT_P_COMPLAINT, m), choice_by_weights(rng, CSAT_P, m)) + 1

    cat = np.where(complaint & (rng.random(m) < 0.7), CATEGORY_NAMES.index("投诉建议"),
                   rng.integers(len(CATEGORY_NAMES), size=m))
    subj_u = rng.random(m)
    subject = np.empty(m, dtype=object)
    cat_arr = np.array(CATEGORY_NAMES, dtype=object)
    for ci, name in enumerate(CATEGORY_NAMES):
        mask = cat == ci
        opts = np.array(CATEGORIES[name], dtype=object)
        subject[mask] = opts[(subj_u[mask] * len(opts)).astype(np.int64)]

    # the day whose file is rejected: every ticket with an event that day re-appears later
    rej = rejected_day_index(cal)
    if rej is not None:
        rej_day = cal.day0 + rej
        touched = (opened // DAY == rej_day) | (first_resp // DAY == rej_day) | (
            (resolved != NAT) & (resolved // DAY == rej_day))
        fix = touched & ((resolved == NAT) | (resolved // DAY <= rej_day))
        resolved = np.where(fix, (rej_day + 1) * DAY + 9 * HOUR + rng.integers(0, 8 * HOUR, m), resolved)

    # the export sees only what happened by the snapshot
    first_resp = np.where(first_resp > snapshot, NAT, first_resp)
    resolved = np.where((resolved == NAT) | (resolved > snapshot) | (first_resp == NAT), NAT, resolved)

    # rows: one per ticket and local day with an event, showing the state at the end of that day
    t_idx = np.arange(m)
    ev_t = np.concatenate([t_idx, t_idx[first_resp != NAT], t_idx[resolved != NAT]])
    ev_ts = np.concatenate([opened, first_resp[first_resp != NAT], resolved[resolved != NAT]])
    ev_day = ev_ts // DAY
    o = np.lexsort((ev_ts, ev_day, ev_t))
    ev_t, ev_ts, ev_day = ev_t[o], ev_ts[o], ev_day[o]
    last = np.ones(ev_t.size, dtype=bool)
    last[:-1] = (ev_t[1:] != ev_t[:-1]) | (ev_day[1:] != ev_day[:-1])
    r_t, r_upd, r_day = ev_t[last], ev_ts[last], ev_day[last]
    show_fr = (first_resp[r_t] != NAT) & (first_resp[r_t] // DAY <= r_day)
    show_res = (resolved[r_t] != NAT) & (resolved[r_t] // DAY <= r_day)
    o = np.lexsort((r_t, r_upd, r_day))
    r_t, r_upd, r_day, show_fr, show_res = (x[o] for x in (r_t, r_upd, r_day, show_fr, show_res))

    team_names = np.array(teams)

    def columns(sl: slice) -> dict[str, list]:
        t = r_t[sl]
        fr, rs = show_fr[sl], show_res[sl]
        cols = {
            "ticket_id": fmt_ids("T", t + 1, 8),
            "opened_at": fmt_ts(opened[t]),
            "first_response_at": fmt_ts(np.where(fr, first_resp[t], NAT)),
            "resolved_at": fmt_ts(np.where(rs, resolved[t], NAT)),
            "priority": PRIORITIES[prio[t]],
            "channel": CHANNELS[channel[t]],
            "category": cat_arr[cat[t]],
            "subject": subject[t],
            "customer_id": customers.ids[customer[t]],
            "team_id": team_names[team[t]],
            "agent_id": workforce.emp_ids[agent[t]],
            "csat": np.where(rs & csat_given[t], csat[t].astype(str), ""),
            "is_complaint": complaint[t].astype(np.int64).astype(str),
            "updated_at": fmt_ts(r_upd[sl]),
        }
        return {c: v.tolist() for c, v in cols.items()}

    # --- defects: extra rows appended to some files, and the renamed-column file ----------------
    defects = DefectLog()
    d_rng = rng_for(seed, "servicedesk", "defects")
    bounds = np.searchsorted(r_day, cal.day_numbers[0] + np.arange(cal.n + 1))
    extra: dict[int, list[tuple[int, str, str]]] = {}
    candidates = [i for i in range(min(3, cal.n - 1), cal.n) if i != rej and bounds[i + 1] > bounds[i]]
    specs = [("duplicate", ""), ("duplicate", ""), ("null_key", "ticket_id"), ("wrong_type", "csat"),
             ("orphan_fk", "team_id"), ("future_date", "opened_at"), ("wrong_type", "opened_at")]
    for j, (defect, field) in enumerate(specs):
        if not candidates:
            break
        di = candidates[int(d_rng.integers(len(candidates)))]
        src = int(d_rng.integers(bounds[di + 1] - bounds[di]))  # position inside the day's rows
        extra.setdefault(di, []).append((j, src, field, defect))

    files: dict[str, int] = {}
    for di in range(cal.n):
        d = cal.date_of(di)
        s, e = int(bounds[di]), int(bounds[di + 1])
        lists = columns(slice(s, e))
        rows = list(zip(*(lists[c] for c in COLUMNS), strict=True))
        name = f"tickets_{d:%Y%m%d}.csv"
        rel = (rel_root / name).as_posix()
        for j, src, field, defect in extra.get(di, []):
            row = list(rows[src])
            if defect != "duplicate":
                row[0] = f"T9{j + 1:07d}"
                row[2] = row[3] = row[11] = ""
            key = row[0]
            if defect == "null_key":
                row[0] = key = ""
            elif defect == "wrong_type" and field == "csat":
                row[3] = row[1]
                row[11] = "很好"
            elif defect == "orphan_fk":
                row[9] = "TM-XX-9"
            elif defect == "future_date":
                row[1] = fmt_ts(np.array([(cal.day_numbers[di] + 30) * DAY + 10 * HOUR]))[0]
            elif defect == "wrong_type":
                row[1] = "2024/13/45 25:61"
            rows.append(tuple(row))
            defects.add("servicedesk", "tickets", d.isoformat(), rel, key or f"row={len(rows)}", field, defect)
        header = list(COLUMNS)
        if di == rej:
            header[header.index(RENAMED[0])] = RENAMED[1]
            defects.add("servicedesk", "tickets", d.isoformat(), rel, "", RENAMED[0], "changed_columns",
                        "batch_rejected")
        atomic_write_bytes(landing / name, _csv(header, rows))
        files[rel] = len(rows)
    return ServiceDeskResult(files, m, int(r_t.size), defects)


def _csv(header: list[str], rows: list[tuple]) -> bytes:
    from .writers import csv_bytes

    return csv_bytes(header, rows, ENCODING)
