"""Retention from settings: reports of the last KPI_REPORTS_KEEP as-of dates, the last run logs."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pipelines.orchestration.runner import RUN_LOGS_KEEP, run_log_file
from pipelines.reporting import prune_reports
from pipelines.settings import Settings


def test_reports_of_older_nights_are_removed(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    days = [date(2025, 10, 1) + timedelta(days=i) for i in range(40)]
    for day in days:
        (reports / day.isoformat() / "org-DEP-X").mkdir(parents=True)
        (reports / day.isoformat() / "attainment.html").write_text("x", encoding="utf-8")
    (reports / "notes").mkdir()  # not a night: left alone

    removed = prune_reports(reports, keep=30, protect=days[2])  # a back-fill just wrote an old night

    kept = sorted(p.name for p in reports.iterdir())
    assert kept == sorted([d.isoformat() for d in days[10:]] + [days[2].isoformat(), "notes"])
    assert removed == sorted(d.isoformat() for d in days[:10] if d != days[2])
    assert prune_reports(reports, keep=30, protect=days[2]) == []  # idempotent


def test_run_logs_are_kept_to_a_number(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(RUN_LOGS_KEEP + 5):
        (logs / f"run-20250101T{i:06d}-1.log").write_text("x", encoding="utf-8")
    new = run_log_file(settings)
    assert new.parent == logs and not new.exists()
    remaining = sorted(p.name for p in logs.glob("run-*.log"))
    assert len(remaining) == RUN_LOGS_KEEP - 1  # with the new one: RUN_LOGS_KEEP
    assert remaining[0] == f"run-20250101T{6:06d}-1.log"
