"""HR: the org tree (SCD2), employees with hires and leaves, assignments, training records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from .business_calendar import Calendar
from .common import DAY, HOUR, NAT, Clock, day_number, fmt_date, fmt_ids, fmt_ts, rng_for, to_list
from .company import (
    EMPLOYEES,
    FOUNDED,
    MIN_EMPLOYEES,
    REORG_DATE,
    REORG_FROM,
    REORG_TEAM,
    REORG_TO,
    UNITS,
    Unit,
    leaf_units,
)
from .defects import DefectLog
from .writers import LoadedTable, TableSpec, single_chunk

ORG_UNITS = TableSpec(
    "org_units",
    (("org_unit_id", "text"), ("name", "text"), ("name_zh", "text"), ("unit_type", "text"),
     ("parent_org_unit_id", "text"), ("manager_employee_id", "text"), ("valid_from", "date"),
     ("valid_to", "date"), ("updated_at", "timestamp")),
    ("org_unit_id", "valid_from"),
)
EMPLOYEES_T = TableSpec(
    "employees",
    (("employee_id", "text"), ("full_name", "text"), ("full_name_zh", "text"), ("email", "text"),
     ("job_title", "text"), ("hire_date", "date"), ("termination_date", "date"), ("updated_at", "timestamp")),
    ("employee_id",),
)
ASSIGNMENTS = TableSpec(
    "employee_assignments",
    (("assignment_id", "text"), ("employee_id", "text"), ("org_unit_id", "text"), ("role", "text"),
     ("valid_from", "date"), ("valid_to", "date"), ("updated_at", "timestamp")),
    ("assignment_id",),
)
TRAINING = TableSpec(
    "training_records",
    (("training_id", "text"), ("employee_id", "text"), ("training_date", "date"), ("course", "text"),
     ("hours", "real"), ("updated_at", "timestamp")),
    ("training_id",),
)

SURNAMES = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
            ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
            ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("高", "Gao"),
            ("林", "Lin"), ("罗", "Luo"), ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"),
            ("唐", "Tang"), ("许", "Xu"), ("韩", "Han"), ("冯", "Feng"), ("邓", "Deng"), ("曹", "Cao")]
GIVEN = [("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"),
         ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"), ("艳", "Yan"),
         ("杰", "Jie"), ("娟", "Juan"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀", "Xiu"),
         ("霞", "Xia"), ("平", "Ping"), ("刚", "Gang"), ("桂", "Gui"), ("文", "Wen"), ("华", "Hua"),
         ("建", "Jian"), ("国", "Guo"), ("玲", "Ling"), ("鹏", "Peng"), ("婷", "Ting"), ("宇", "Yu"),
         ("浩", "Hao"), ("欣", "Xin"), ("晨", "Chen"), ("思", "Si"), ("佳", "Jia"), ("雪", "Xue")]
TITLES = {
    "sales": ["Sales Representative", "Senior Sales Representative", "Key Account Manager", "Sales Engineer"],
    "service": ["Service Agent", "Senior Service Agent", "Field Service Engineer", "Support Specialist"],
    "production": ["Production Operator", "Quality Inspector", "Process Technician", "Shift Supervisor"],
    "logistics": ["Warehouse Operator", "Logistics Coordinator", "Inventory Controller"],
    "rnd": ["Software Engineer", "Senior Software Engineer", "Test Engineer", "Hardware Engineer"],
    "corp": ["HR Specialist", "Accountant", "Financial Analyst", "Strategy Analyst"],
}
MANAGER_TITLES = {"company": "Chief Executive Officer", "division": "Division Head",
                  "department": "Department Head", "team": "Team Lead"}
COURSES = ["安全生产培训", "产品知识：光谱仪系列", "客户沟通技巧", "精益生产入门", "质量管理体系 ISO 9001",
           "数据分析基础", "Python 编程入门", "领导力发展项目", "反商业贿赂合规培训", "信息安全意识",
           "大客户销售方法论", "现场服务规范", "财务基础知识", "项目管理实务", "新员工入职培训"]
HOURS = np.array([1, 2, 3, 4, 6, 8, 16, 24, 40], dtype=float)
HOURS_P = np.array([0.15, 0.20, 0.15, 0.20, 0.08, 0.12, 0.05, 0.03, 0.02])
TRAININGS_PER_MONTH = 1.0
ANNUAL_ATTRITION = 0.12


@dataclass
class Workforce:
    """Assignments in array form, for picking the employee behind a fact and counting heads."""

    emp_ids: np.ndarray  # employee id strings, index = person number
    a_person: np.ndarray
    a_unit: np.ndarray  # org unit id strings
    a_from: np.ndarray  # day numbers
    a_to: np.ndarray  # day numbers, exclusive; NAT = open
    mean_training_hours: float

    def pick(self, cal: Calendar, units: list[str], unit_idx: np.ndarray, day_idx: np.ndarray,
             u: np.ndarray) -> np.ndarray:
        """An employee of ``units[unit_idx]`` active on calendar day ``day_idx`` for each row."""
        out = np.empty(len(unit_idx), dtype=np.int64)
        to = np.where(self.a_to == NAT, np.iinfo(np.int64).max, self.a_to)
        for i, unit in enumerate(units):
            rows = np.flatnonzero(unit_idx == i)
            if rows.size == 0:
                continue
            sel = np.flatnonzero(self.a_unit == unit)
            people = self.a_person[sel]
            active = (self.a_from[sel][None, :] <= cal.day_numbers[:, None]) & (
                to[sel][None, :] > cal.day_numbers[:, None])
            count = active.sum(axis=1)
            order = np.argsort(~active, axis=1, kind="stable")
            d = day_idx[rows]
            k = np.minimum((u[rows] * count[d]).astype(np.int64), np.maximum(count[d] - 1, 0))
            out[rows] = people[order[d, k]]
        return out

    def headcount_on(self, day: int) -> dict[str, int]:
        to = np.where(self.a_to == NAT, np.iinfo(np.int64).max, self.a_to)
        active = (self.a_from <= day) & (to > day)
        units, counts = np.unique(self.a_unit[active], return_counts=True)
        return dict(zip(units.tolist(), counts.tolist(), strict=True))


@dataclass
class HRResult:
    tables: list[LoadedTable]
    workforce: Workforce
    defects: DefectLog


def _stamp(clock: Clock, day: np.ndarray, hour: int, lo: int, hi: int) -> np.ndarray:
    """UTC seconds of local ``hour`` o'clock on each day number, clamped to [lo, hi]."""
    local = np.asarray(day, dtype=np.int64) * DAY + hour * HOUR
    return np.clip(clock.to_utc(local), lo, hi)


@dataclass(frozen=True)
class _Window:
    """The generated window: its days, and the watermarks every row's updated_at stays between."""

    cal: Calendar
    clock: Clock
    lo: int  # initial load (UTC seconds)
    hi: int  # snapshot (UTC seconds)

    @property
    def start_d(self) -> int:
        return self.cal.day0

    @property
    def end_d(self) -> int:
        return self.cal.day0 + self.cal.n - 1

    def stamp(self, day: np.ndarray, hour: int) -> np.ndarray:
        return _stamp(self.clock, day, hour, self.lo, self.hi)


@dataclass
class _People:
    """One row per employee, in employee-id order."""

    unit: np.ndarray  # org unit id of the first assignment
    hire: np.ndarray  # day numbers
    term: np.ndarray  # day numbers; NAT = still employed
    mgr: np.ndarray  # bool: the unit's manager
    emp_ids: np.ndarray

    @property
    def n(self) -> int:
        return len(self.unit)


@dataclass
class _Assignments:
    person: np.ndarray
    unit: np.ndarray
    start: np.ndarray  # day numbers
    end: np.ndarray  # day numbers, exclusive; NAT = open
    role: np.ndarray


def generate_hr(cal: Calendar, clock: Clock, seed: int, scale: float, initial_utc: int, snapshot_utc: int,
                hr_file: str) -> HRResult:
    rng = rng_for(seed, "hr")
    w = _Window(cal, clock, initial_utc, snapshot_utc)
    people = _draw_people(rng, w, scale)
    full, full_zh, email = _names(rng, people.emp_ids)
    titles = _titles(rng, people)
    asg = _draw_assignments(rng, w, people)

    defects = DefectLog()
    d_rng = rng_for(seed, "hr", "defects")
    emp_chunk, emp_earlier = _employee_chunks(w, people, full, full_zh, email, titles)
    asg_chunk, asg_earlier = _assignment_chunks(w, people, asg)
    _plant_orphan_assignment(d_rng, w, people, asg_chunk, defects, hr_file)
    tr_chunk = _training_chunk(rng_for(seed, "hr", "training"), w, people)
    _plant_training_out_of_range(d_rng, w, people, tr_chunk, defects, hr_file)
    org_chunk, org_earlier_chunk = _org_unit_chunks(w, people)

    workforce = Workforce(people.emp_ids, asg.person, asg.unit, asg.start, asg.end, float(HOURS @ HOURS_P))
    tables = [
        LoadedTable(ORG_UNITS, single_chunk(org_chunk), single_chunk(org_earlier_chunk)),
        LoadedTable(EMPLOYEES_T, single_chunk(emp_chunk), single_chunk(emp_earlier)),
        LoadedTable(ASSIGNMENTS, single_chunk(asg_chunk), single_chunk(asg_earlier)),
        LoadedTable(TRAINING, single_chunk(tr_chunk)),
    ]
    return HRResult(tables, workforce, defects)


# --- people: (unit, hire day, termination day, is_manager) ---------------------------------------


def _draw_people(rng: np.random.Generator, w: _Window, scale: float) -> _People:
    """The managers of every unit, then the staff of every leaf unit, numbered by hire date."""
    founded = day_number(FOUNDED)
    leaves = leaf_units()
    base_total = sum(u.members for u in leaves) + len(UNITS)
    factor = max(MIN_EMPLOYEES, EMPLOYEES * scale) / base_total
    cohorts = _managers(rng, w.start_d, founded)
    for u in leaves:
        cohorts.extend(_leaf_staff(rng, w, u, factor))
    unit = np.concatenate([c[0] for c in cohorts])
    hire = np.concatenate([c[1] for c in cohorts]).astype(np.int64)
    term = np.concatenate([c[2] for c in cohorts]).astype(np.int64)
    mgr = np.concatenate([c[3] for c in cohorts])
    n = len(unit)
    unit_pos = {u.org_unit_id: i for i, u in enumerate(UNITS)}
    types_of = {u.org_unit_id: u.unit_type for u in UNITS}
    executive = np.array([types_of[x] in ("company", "division") for x in unit]) & mgr
    # ids by hire date, the executives first in org order (the catalog names E00001 … E00005 as owners)
    order = np.lexsort((rng.random(n), np.array([unit_pos[x] for x in unit]), hire, ~executive))
    return _People(unit[order], hire[order], term[order], mgr[order], fmt_ids("E", np.arange(1, n + 1), 5))


_Cohort = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # unit, hire, term, is_manager


def _managers(rng: np.random.Generator, start_d: int, founded: int) -> list[_Cohort]:
    """One manager per unit, hired before the window, staying."""
    out: list[_Cohort] = []
    for i, u in enumerate(UNITS):
        if u.unit_type in ("company", "division"):
            hire = min(founded, start_d) - 4000 + 31 * i  # the executives: E00001 (CEO), E00002..E00006
        elif u.unit_type == "department":
            hire = founded - int(rng.integers(0, 6 * 365))
        else:
            hire = start_d - int(rng.integers(200, 3000))
        out.append((np.array([u.org_unit_id], dtype=object), np.array([hire]), np.array([NAT]), np.array([True])))
    return out


def _leaf_staff(rng: np.random.Generator, w: _Window, u: Unit, factor: float) -> list[_Cohort]:
    """A leaf unit's members: the staff at the start, hires for growth, and a replacement for each leaver."""
    start_d, end_d = w.start_d, w.end_d
    m = max(2, int(round(u.members * factor)))
    hires = start_d - np.minimum(rng.exponential(4 * 365, m).astype(np.int64), 14 * 365) - 1
    growth = u.params.get("growth", 0.04)
    hc_growth = growth * 0.3 if u.kind == "sales" else 0.04
    if hc_growth > 0:
        extra = int(rng.poisson(m * hc_growth * (w.cal.n / 365.25)))
        hires = np.concatenate([hires, rng.integers(start_d, end_d + 1, extra)])
    out: list[_Cohort] = []
    cohort = hires
    while cohort.size:
        exposure = np.maximum(cohort, start_d)
        leave = exposure + rng.exponential(365.25 / ANNUAL_ATTRITION, cohort.size).astype(np.int64) + 1
        term = np.where(leave <= end_d, leave, NAT)
        out.append((np.full(cohort.size, u.org_unit_id, dtype=object), cohort, term,
                    np.zeros(cohort.size, dtype=bool)))
        left = term[term != NAT]
        if growth < 0:
            left = left[rng.random(left.size) < 0.5]
        cohort = left + rng.integers(14, 61, left.size)
        cohort = cohort[cohort <= end_d]
    return out


# --- names, titles -------------------------------------------------------------------------------


def _names(rng: np.random.Generator, emp_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full name (pinyin, given name first), full name in Chinese, e-mail address."""
    n = len(emp_ids)
    sur = rng.integers(len(SURNAMES), size=n)
    g1 = rng.integers(len(GIVEN), size=n)
    g2 = rng.integers(len(GIVEN), size=n)
    two = rng.random(n) < 0.6
    sur_zh = np.array([s[0] for s in SURNAMES])[sur]
    sur_py = np.array([s[1] for s in SURNAMES])[sur]
    giv_zh = np.strings.add(np.array([g[0] for g in GIVEN])[g1], np.where(two, np.array([g[0] for g in GIVEN])[g2], ""))
    giv_py = np.strings.add(np.array([g[1] for g in GIVEN])[g1],
                            np.where(two, np.strings.lower(np.array([g[1] for g in GIVEN])[g2]), ""))
    full_zh = np.strings.add(sur_zh, giv_zh)
    full = np.strings.add(np.strings.add(giv_py, " "), sur_py)
    email = np.strings.add(np.strings.add(np.strings.add(np.strings.lower(giv_py), "."),
                                          np.strings.lower(sur_py)),
                           np.strings.add(np.strings.add(".", np.strings.slice(emp_ids, 1, None)),
                                          "@acme-instruments.example"))
    return full, full_zh, email


def _titles(rng: np.random.Generator, people: _People) -> np.ndarray:
    kinds = {u.org_unit_id: u.kind for u in UNITS}
    types = {u.org_unit_id: u.unit_type for u in UNITS}
    title_draw = rng.random(people.n)
    titles = np.empty(people.n, dtype=object)
    for i in range(people.n):
        if people.mgr[i]:
            titles[i] = MANAGER_TITLES[types[people.unit[i]]]
        else:
            options = TITLES[kinds[people.unit[i]] or "corp"]
            titles[i] = options[min(int(title_draw[i] ** 1.6 * len(options)), len(options) - 1)]
    return titles


# --- assignments (with transfers between sibling teams) ------------------------------------------


def _draw_assignments(rng: np.random.Generator, w: _Window, people: _People) -> _Assignments:
    n, unit, mgr, term = people.n, people.unit, people.mgr, people.term
    a_from_first = np.maximum(people.hire, day_number(FOUNDED))
    a_to_last = np.where(term == NAT, NAT, term + 1)
    leaves = leaf_units()
    siblings: dict[str, list[str]] = {}
    for u in leaves:
        sib = [v.org_unit_id for v in leaves if v.parent == u.parent and v.kind == u.kind
               and v.org_unit_id != u.org_unit_id]
        siblings[u.org_unit_id] = sib
    act_lo = np.maximum(a_from_first, w.start_d)
    act_hi = np.where(term == NAT, w.end_d, np.minimum(term, w.end_d))
    movable = (~mgr) & (act_hi - act_lo > 60) & np.array([bool(siblings.get(x)) for x in unit])
    movers = np.flatnonzero(movable & (rng.random(n) < 0.04))
    move_day = np.zeros(n, dtype=np.int64)
    move_to = np.empty(n, dtype=object)
    draw = rng.random((n, 2))
    for i in movers:
        move_day[i] = act_lo[i] + 20 + int(draw[i, 0] * (act_hi[i] - act_lo[i] - 40))
        sib = siblings[unit[i]]
        move_to[i] = sib[int(draw[i, 1] * len(sib))]
    is_mover = np.zeros(n, dtype=bool)
    is_mover[movers] = True
    a_person = np.concatenate([np.arange(n), movers])
    a_unit = np.concatenate([unit, move_to[movers]]).astype(object)
    a_from = np.concatenate([a_from_first, move_day[movers]])
    a_to = np.concatenate([np.where(is_mover, move_day, a_to_last), a_to_last[movers]])
    a_role = np.where(np.concatenate([mgr, np.zeros(len(movers), dtype=bool)]), "manager", "member")
    a_order = np.lexsort((a_person, a_from))
    return _Assignments(*(x[a_order] for x in (a_person, a_unit, a_from, a_to, a_role)))


# --- table chunks (now, and the earlier versions of changed rows) --------------------------------


def _org_unit_chunks(w: _Window, people: _People) -> tuple[dict, dict]:
    """The org tree (SCD2): the re-organised team's two rows once the re-organisation is in the window."""
    manager_of = {people.unit[i]: people.emp_ids[i] for i in np.flatnonzero(people.mgr)}
    parent = {u.org_unit_id: u.parent for u in UNITS}
    org_rows: list[list] = []
    org_earlier: list[list] = []
    reorg = day_number(REORG_DATE) <= w.end_d
    init_ts = fmt_ts(np.array([w.lo]))[0]
    reorg_ts = fmt_ts(w.stamp(np.array([day_number(REORG_DATE) - 1]), 18))[0]
    for u in UNITS:
        base = [u.org_unit_id, u.name, u.name_zh, u.unit_type]
        if reorg and u.org_unit_id == REORG_TEAM:
            org_rows.append(base + [REORG_FROM, manager_of[u.org_unit_id], FOUNDED.isoformat(),
                                    REORG_DATE.isoformat(), reorg_ts])
            org_rows.append(base + [REORG_TO, manager_of[u.org_unit_id], REORG_DATE.isoformat(), None,
                                    reorg_ts])
            if reorg_ts > init_ts:  # before the re-organisation was entered: one open row
                org_earlier.append(base + [REORG_FROM, manager_of[u.org_unit_id], FOUNDED.isoformat(), None,
                                           init_ts])
        else:
            org_rows.append(base + [parent[u.org_unit_id], manager_of[u.org_unit_id], FOUNDED.isoformat(), None,
                                    init_ts])
    org_rows.sort(key=lambda r: (r[0], r[6]))
    org_chunk = {c: [r[i] for r in org_rows] for i, c in enumerate(ORG_UNITS.column_names)}
    org_earlier_chunk = {c: [r[i] for r in org_earlier] for i, c in enumerate(ORG_UNITS.column_names)}
    return org_chunk, org_earlier_chunk


def _employee_chunks(w: _Window, people: _People, full: np.ndarray, full_zh: np.ndarray, email: np.ndarray,
                     titles: np.ndarray) -> tuple[dict, dict]:
    """The employees; earlier: an employee before the termination was entered."""
    hire, term = people.hire, people.term
    emp_hired = w.stamp(hire, 9)
    emp_upd = np.maximum(emp_hired, np.where(term == NAT, w.lo, w.stamp(np.where(term == NAT, 0, term), 18)))
    emp_chunk = {
        "employee_id": people.emp_ids.tolist(),
        "full_name": full.tolist(),
        "full_name_zh": full_zh.tolist(),
        "email": email.tolist(),
        "job_title": titles.tolist(),
        "hire_date": fmt_date(hire).tolist(),
        "termination_date": to_list(fmt_date(term), term == NAT),
        "updated_at": fmt_ts(emp_upd).tolist(),
    }
    left = np.flatnonzero(emp_upd > emp_hired)
    emp_earlier = {c: [v[i] for i in left.tolist()] for c, v in emp_chunk.items()}
    emp_earlier["termination_date"] = [None] * left.size
    emp_earlier["updated_at"] = fmt_ts(emp_hired[left]).tolist()
    return emp_chunk, emp_earlier


def _assignment_chunks(w: _Window, people: _People, asg: _Assignments) -> tuple[dict, dict]:
    """The assignments; earlier: an assignment before it was closed."""
    closed = (asg.end != NAT) & (asg.end - 1 <= w.end_d)
    a_opened = w.stamp(asg.start, 9)
    a_upd = np.where(closed, w.stamp(np.where(closed, asg.end - 1, 0), 18), a_opened)
    asg_ids = fmt_ids("AS", np.arange(1, len(asg.person) + 1), 6)
    asg_chunk = {
        "assignment_id": asg_ids.tolist(),
        "employee_id": people.emp_ids[asg.person].tolist(),
        "org_unit_id": asg.unit.tolist(),
        "role": asg.role.tolist(),
        "valid_from": fmt_date(asg.start).tolist(),
        "valid_to": to_list(fmt_date(asg.end), asg.end == NAT),
        "updated_at": fmt_ts(a_upd).tolist(),
    }
    ended = np.flatnonzero(a_upd > a_opened)
    asg_earlier = {c: [v[i] for i in ended.tolist()] for c, v in asg_chunk.items()}
    asg_earlier["valid_to"] = [None] * ended.size
    asg_earlier["updated_at"] = fmt_ts(a_opened[ended]).tolist()
    return asg_chunk, asg_earlier


def _training_chunk(t_rng: np.random.Generator, w: _Window, people: _People) -> dict:
    """Training records: about one a month per employee, on workdays while employed."""
    cal, start_d, end_d = w.cal, w.start_d, w.end_d
    hire, term, n = people.hire, people.term, people.n
    lo_d = np.maximum(hire, start_d)
    hi_d = np.where(term == NAT, end_d, np.minimum(term, end_d))
    span = np.maximum(hi_d - lo_d + 1, 0)
    counts = t_rng.poisson(span / 30.44 * TRAININGS_PER_MONTH)
    person = np.repeat(np.arange(n), counts)
    day = lo_d[person] + (t_rng.random(person.size) * span[person]).astype(np.int64)
    nxt = cal.next_workday_index()
    day = cal.day0 + nxt[day - cal.day0]
    keep = day <= hi_d[person]
    person, day = person[keep], day[keep]
    hours = HOURS[t_rng.choice(len(HOURS), size=person.size, p=HOURS_P)]
    course = np.array(COURSES, dtype=object)[t_rng.integers(len(COURSES), size=person.size)]
    upd = w.stamp(day + t_rng.integers(0, 3, person.size), 17) + t_rng.integers(0, 3 * HOUR, person.size)
    upd = np.minimum(upd, w.hi)
    t_order = np.lexsort((person, day))
    person, day, hours, course, upd = (x[t_order] for x in (person, day, hours, course, upd))
    nt = person.size
    return {
        "training_id": fmt_ids("TR", np.arange(1, nt + 1), 7).tolist(),
        "employee_id": people.emp_ids[person].tolist(),
        "training_date": fmt_date(day).tolist(),
        "course": course.tolist(),
        "hours": hours.tolist(),
        "updated_at": fmt_ts(upd).tolist(),
    }


# --- defects (extra rows) ------------------------------------------------------------------------


def _plant_orphan_assignment(d_rng: np.random.Generator, w: _Window, people: _People, asg_chunk: dict,
                             defects: DefectLog, hr_file: str) -> None:
    """An assignment to an org unit that does not exist."""
    cal = w.cal
    bad_day = w.start_d + int(d_rng.integers(min(10, cal.n - 1), max(11, cal.n - 5)))
    bad_day = min(bad_day, w.end_d)
    bad_ts = w.stamp(np.array([bad_day]), 11)
    extra = {
        "assignment_id": "AS999001", "employee_id": people.emp_ids[int(d_rng.integers(people.n))],
        "org_unit_id": "TM-XX-9", "role": "member", "valid_from": fmt_date(np.array([bad_day]))[0],
        "valid_to": None, "updated_at": fmt_ts(bad_ts)[0],
    }
    for c, v in extra.items():
        asg_chunk[c].append(v)
    defects.add("hr", "employee_assignments", _local_date(w.clock, bad_ts), hr_file, "AS999001", "org_unit_id",
                "orphan_fk")


def _plant_training_out_of_range(d_rng: np.random.Generator, w: _Window, people: _People, tr_chunk: dict,
                                 defects: DefectLog, hr_file: str) -> None:
    """A training record with hours outside (0, 40]."""
    cal = w.cal
    bad_day2 = min(w.start_d + int(d_rng.integers(min(5, cal.n - 1), max(6, cal.n - 3))), w.end_d)
    bad_ts2 = w.stamp(np.array([bad_day2]), 15)
    extra = {"training_id": "TR9900001", "employee_id": people.emp_ids[int(d_rng.integers(people.n))],
             "training_date": fmt_date(np.array([bad_day2]))[0], "course": "安全生产培训", "hours": 60.0,
             "updated_at": fmt_ts(bad_ts2)[0]}
    for c, v in extra.items():
        tr_chunk[c].append(v)
    defects.add("hr", "training_records", _local_date(w.clock, bad_ts2), hr_file, "TR9900001", "hours",
                "out_of_range")


def _local_date(clock: Clock, utc: np.ndarray) -> str:
    return date.fromisoformat(fmt_date(clock.to_local(utc) // DAY)[0]).isoformat()
