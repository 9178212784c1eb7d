"""The attainment report stays light and short on a warehouse of the scale-1 demo's size.

The synthetic marts are grown to about the demo's shape (`DEMO_SIZE`: 52 org units, 446 unit × KPI
tiles; the demo has 56 and 438). Before the report was made light, the same page was 9 MB here and
7.4 MB / 109,000 px tall on the demo. Sizes are asserted, never times.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import reports
from reports.html import PLOTLY_FILE
from tests.fixtures.synthetic_marts import AS_OF, DEMO_SIZE, build_synthetic_marts

from .conftest import CHROMIUM
from .test_browser import open_report

pytestmark = pytest.mark.slow

MAX_BYTES = 2_000_000


@pytest.fixture(scope="module")
def demo_sized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    db = build_synthetic_marts(tmp_path_factory.mktemp("demo_sized") / "kpi.duckdb", **DEMO_SIZE)
    out = tmp_path_factory.mktemp("demo_sized_reports")
    with duckdb.connect(str(db), read_only=True) as con:
        units, tiles = con.execute(
            "select count(distinct org_unit_id), count(*) from marts.kpi_attainment "
            "where grain = 'month' and period_start = ?", [AS_OF.replace(day=1)]).fetchone()
        assert units >= 50 and tiles >= 430, (units, tiles)  # the test must not shrink unnoticed
        paths = [reports.build_attainment_report(con, out, as_of=AS_OF, lang=lang) for lang in ("en", "zh")]
    return out, paths


def test_the_attainment_report_is_at_most_2_mb_at_the_demos_size(demo_sized):
    out, paths = demo_sized
    for path in paths:
        size = path.stat().st_size
        assert size <= MAX_BYTES, f"{path.name}: {size:,} bytes"
        text = path.read_text(encoding="utf-8")
        assert f'<script src="{PLOTLY_FILE}"></script>' in text  # the shared bundle, not a copy
        assert text.count('<article class="tile') >= 430  # every tile is still in the page
    assert (out / PLOTLY_FILE).exists()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_the_attainment_report_is_short_and_fits_a_phone_at_the_demos_size(demo_sized, browser):
    _, paths = demo_sized
    page, problems = open_report(browser, paths[0])
    try:
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 20_000, height  # folded unit sections (was 109,000 px on the demo)
        page.set_viewport_size({"width": 390, "height": 900})
        page.evaluate("async () => { await Promise.all(Array.from(document.querySelectorAll('.js-plotly-plot'))"
                      ".map(el => Plotly.Plots.resize(el))); }")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        assert not problems
    finally:
        page.close()
