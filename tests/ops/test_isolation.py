"""One bad file or source fails its own asset, named, once — and the night goes on for the others.

- A finance workbook whose sheet XML is cut short (openpyxl raised ElementTree's ParseError out of
  the reader: 3 retries, "Exceeded max_retries", no file named, every other source lost its night) and
  a 5 MB JSON-lines file of text junk land on the same night: `kpi run` publishes the night with both
  named as missing sources, exits 5, retries nothing, and the warehouse records the rejections in
  marts.dq_source_problems (which marks the KPI values that need them unverified).
- An extract asset whose source fails in a way no reader foresaw records the rejection with the
  reason and does not retry (Dagster, real lake, the failure forced in the engine entry point).
"""

from __future__ import annotations

import random
import re
import string
import zipfile
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.ops.conftest import WEEK, BaseEnv

JUNK_DAY = WEEK[0]


def cut_sheet_short(workbook: Path, sheet_xml: str) -> None:
    """Rewrite ``workbook`` with the XML of one sheet cut in half (a transfer that stopped)."""
    tmp = workbook.with_suffix(".tmp")
    with zipfile.ZipFile(workbook) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, data[: len(data) // 2] if item.filename == sheet_xml else data)
    tmp.replace(workbook)


def write_junk(path: Path, megabytes: int) -> int:
    rnd = random.Random(7)
    words = ["".join(rnd.choice(string.ascii_letters) for _ in range(rnd.randint(3, 9))) for _ in range(2000)]
    lines = 0
    with open(path, "w", encoding="utf-8") as fh:
        while fh.tell() < megabytes * 1024 * 1024:
            fh.write(" ".join(rnd.choice(words) for _ in range(14)) + "\n")
            lines += 1
    return lines


def _targets_sheet(workbook: Path) -> str:
    """The XML part of sheet 'Targets' (workbook.xml names sheets; its rels map them to parts)."""
    with zipfile.ZipFile(workbook) as z:
        book = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(r'<sheet[^>]*name="Targets"[^>]*r:id="(rId\d+)"', book).group(1)
    target = re.search(rf'<Relationship[^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship[^>]*Target="([^"]+)"[^>]*Id="{rid}"', rels)
    return "xl/" + target.group(1).removeprefix("/xl/")


@pytest.mark.slow
def test_a_cut_short_workbook_and_a_junk_file_do_not_stop_the_night(
        ops_base: BaseEnv, tmp_path_factory: pytest.TempPathFactory) -> None:
    env = ops_base.env.copy(tmp_path_factory.mktemp("isolation"))
    landing = env.data_dir / "landing"
    workbook = sorted(landing.glob("finance/plan_FY*.xlsx"))[-1]
    cut_sheet_short(workbook, _targets_sheet(workbook))
    junk = landing / "survey" / f"nps_{JUNK_DAY:%Y%m%d}.jsonl"
    junk_lines = write_junk(junk, 5)

    proc = env.run("cli", "run", "--date", JUNK_DAY.isoformat())

    out = proc.stdout
    assert proc.returncode == 5, out[-4000:] + proc.stderr[-3000:]
    assert len(out.splitlines()) <= 40, out
    assert "Traceback" not in out + proc.stderr
    assert "Exceeded max_retries" not in out and "retried" not in out, out
    assert re.search(r"run (\S+) succeeded — published with 2 source\(s\) missing \(exit 5\)", out), out
    ref = workbook.relative_to(landing).as_posix()
    assert re.search(rf"raw_finance/targets: 1 partition\(s\) rejected — .*{re.escape(ref)}: sheet 'Targets' is "
                     r"corrupt or cut short \(ParseError: ", out), out
    assert re.search(rf"raw_survey/nps_responses: 1 partition\(s\) rejected — .*survey/{junk.name}: not a "
                     r"JSON-lines export: 1000 of the first 1000 lines", out), out
    assert "step " not in out, out  # no step failed: every other source, the build and the publish ran
    run_id = re.search(r"run (\S+) succeeded", out).group(1)
    with duckdb.connect(str(env.serving_file), read_only=True) as con:
        assert con.execute("select distinct run_id from marts._publish_info").fetchall() == [(run_id,)]
        problems = con.execute(
            "select source, \"table\", partition_date, message from marts.dq_source_problems "
            "where problem = 'rejected_partition' and (source, \"table\") in (('finance', 'targets'), "
            "('survey', 'nps_responses'))").fetchall()
    found = {(p[0], p[1]) for p in problems if ref in p[3] or junk.name in p[3]}
    assert found == {("finance", "targets"), ("survey", "nps_responses")}, problems
    assert [p[2] for p in problems if p[0] == "survey" and junk.name in p[3]] == [JUNK_DAY]
    # rejected whole: the junk's lines never reached the quarantine one by one
    quarantine = env.data_dir / "lake" / "quarantine" / "survey" / "nps_responses" / f"date={JUNK_DAY}"
    quarantined = duckdb.execute("select count(*) from read_parquet(?)", [str(quarantine / "*.parquet")]).fetchone()[0] \
        if list(quarantine.glob("*.parquet")) else 0
    assert quarantined < 1000 < junk_lines


def test_an_unforeseen_source_failure_is_a_rejection_not_a_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.orchestration.assets.extract as extract_assets
    from pipelines.extract.lake import read_load_log
    from pipelines.extract.registry import get_source_table
    from pipelines.orchestration.resources import LakeResource

    calls: list[int] = []

    def broken(*_: object, **__: object) -> list:
        calls.append(1)
        raise RuntimeError("the survey API dump has a shape nobody planned for")

    monkeypatch.setattr(extract_assets, "extract_partitions", broken)
    table = get_source_table("survey", "nps_responses")
    asset = extract_assets.build_extract_asset(table, extract_assets.daily_partitions(date(2024, 1, 1), "Asia/Shanghai"))
    lake = LakeResource(lake_dir=str(tmp_path / "lake"), landing_dir=str(tmp_path / "landing"),
                        erp_url="sqlite://", hr_url="sqlite://")
    result = dg.materialize([asset], partition_key="2024-07-24", instance=dg.DagsterInstance.ephemeral(),
                            resources={"lake": lake}, raise_on_error=False)
    log = read_load_log(tmp_path / "lake", "survey", "nps_responses")
    assert result.success and calls == [1]  # once: no retry for what is not transient
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    [check] = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
               and e.event_specific_data.check_name == "batches_accepted"]
    assert not check.passed
    assert check.description == ("batch rejected: survey/nps_20240724.jsonl: extraction failed: RuntimeError: the "
                                 "survey API dump has a shape nobody planned for (rule: source)")
    assert list(log["status"]) == ["rejected"] and list(log["partition_date"]) == [date(2024, 7, 24)]
