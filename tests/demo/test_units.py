"""Small pure pieces of the generator."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from pipelines.demo.anomalies import plan_anomalies
from pipelines.demo.business_calendar import Calendar, default_holidays_path, load_holidays
from pipelines.demo.common import DAY, NAT, Clock, day_number, fmt_date, fmt_ts, rng_for
from pipelines.demo.company import UNITS, ancestors_on, leaf_units
from pipelines.demo.finance import WEIGHTS, plan_versions


@pytest.fixture(scope="module")
def holidays():
    return load_holidays(default_holidays_path())


def test_clock_round_trip_and_offsets():
    clock = Clock("Asia/Shanghai")
    local = np.array([day_number(date(2024, 6, 10)) * DAY + 23 * 3600 + 30 * 60])
    utc = clock.to_utc(local)
    assert fmt_ts(utc)[0] == "2024-06-10 15:30:00"
    assert (clock.to_local(utc) == local).all()
    berlin = Clock("Europe/Berlin")  # DST: +02:00 in summer, +01:00 in winter
    summer = np.array([day_number(date(2024, 7, 1)) * DAY + 12 * 3600])
    winter = np.array([day_number(date(2024, 1, 1)) * DAY + 12 * 3600])
    assert (summer - berlin.to_utc(summer))[0] == 7200 and (winter - berlin.to_utc(winter))[0] == 3600


def test_formatting_handles_missing_values():
    out = fmt_ts(np.array([0, NAT, 86_399]))
    assert out.tolist() == ["1970-01-01 00:00:00", "", "1970-01-01 23:59:59"]
    assert fmt_ts(np.array([0]), sep="T", suffix="Z").tolist() == ["1970-01-01T00:00:00Z"]
    assert fmt_date(np.array([day_number(date(2025, 3, 1)), NAT])).tolist() == ["2025-03-01", ""]


def test_random_streams_are_keyed_by_name():
    a = rng_for(42, "erp", "orders").random(3)
    assert (a == rng_for(42, "erp", "orders").random(3)).all()
    assert not (a == rng_for(42, "erp", "lines").random(3)).any()
    assert not (a == rng_for(43, "erp", "orders").random(3)).any()


def test_calendar_profiles_follow_holidays_and_month_end(holidays):
    cal = Calendar(date(2025, 1, 1), date(2025, 12, 31), holidays)
    sales = cal.profile("b2b_sales")
    spring = cal.index_of(date(2025, 1, 30))  # Spring Festival
    adjusted = cal.index_of(date(2025, 1, 26))  # a Sunday people work (调休上班)
    assert cal.is_day_off[spring] and not cal.is_workday[spring]
    assert cal.is_adjusted_workday[adjusted] and cal.is_workday[adjusted]
    assert sales[spring] < 0.1 < 0.2 < sales[adjusted]
    month_end = cal.index_of(date(2025, 4, 29))
    mid_month = cal.index_of(date(2025, 4, 15))
    assert sales[month_end] > 1.3 * sales[mid_month]
    quarter_end = cal.index_of(date(2025, 9, 29))
    assert sales[quarter_end] > sales[month_end]
    assert cal.profile("rnd_release")[cal.index_of(date(2025, 10, 3))] == 0.0  # National Day


def test_holiday_seed_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("date,name,name_zh,is_day_off\n2025-01-01,New Year,元旦,true\n2025-13-01,x,x,true\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"h\.csv, line 3, field 'date'"):
        load_holidays(bad)


def test_org_tree_has_four_levels_and_the_reorganisation():
    teams = [u for u in UNITS if u.unit_type == "team"]
    assert 32 <= len(teams) <= 38
    assert all(len(ancestors_on(u.org_unit_id, date(2025, 1, 1))) <= 4 for u in UNITS)
    assert ancestors_on("TM-SE-3", date(2024, 6, 30))[1] == "DEP-SALES-EAST"
    assert ancestors_on("TM-SE-3", date(2024, 7, 1))[1] == "DEP-SALES-NORTH"
    assert {u.org_unit_id for u in leaf_units()} >= {"DEP-STRATEGY", "TM-SE-1", "TM-WH-1"}
    assert all(sum(w.values()) == 100 for w in WEIGHTS.values())


def test_plan_versions_for_the_default_window():
    names = [pv.name for pv in plan_versions(date(2024, 1, 1), date(2025, 11, 19))]
    assert names == ["plan_FY2024_v1.xlsx", "plan_FY2025_v1.xlsx", "plan_FY2025_v2.xlsx"]


def test_anomaly_plan_is_deterministic_and_sized_by_window(holidays):
    cal = Calendar(date(2024, 1, 1), date(2025, 11, 19), holidays)
    a, b = plan_anomalies(cal, 42), plan_anomalies(cal, 42)
    assert a.to_csv() == b.to_csv()
    assert len(a.anomalies) == 40
    assert a.to_csv() != plan_anomalies(cal, 43).to_csv()
    short = Calendar(date(2024, 1, 1), date(2024, 3, 31), holidays)
    assert plan_anomalies(short, 42).anomalies == []
    f = a.factors("net_revenue", ["TM-SE-1"])
    assert f.shape == (1, cal.n) and (np.isnan(f) | (f >= 0)).all()
