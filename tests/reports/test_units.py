"""Small pure pieces: escaping, figure JSON, number formats, labels, periods, redaction."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from reports.formatting import compact, format_delta, format_pct, format_value
from reports.html import Html, esc, script_json, tag
from reports.i18n import I18n
from reports.periods import latest_complete_period, period_end, previous_period, same_period_last_year
from reports.scope import Scope
from reports.svg import Step, bullet, waterfall


def test_esc_and_tag_escape_text_and_attributes_but_not_trusted_markup():
    assert esc("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc('" onmouseover="x') == "&#34; onmouseover=&#34;x"
    assert esc(Html("<b>ok</b>")) == "<b>ok</b>"
    assert tag("td", "<i>", title='"q"') == '<td title="&#34;q&#34;">&lt;i&gt;</td>'
    assert Html("<p>") + "<x>" == "<p>&lt;x&gt;"
    assert esc(None) == "" and esc(float("nan")) == ""


def test_figure_json_cannot_close_its_script_element():
    text = script_json({"name": "</script><script>alert(1)</script>", "amp": "R&D", "ls": "a\u2028b"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "amp": "R&D", "ls": "a\u2028b"}
    assert json.loads(script_json({"x": float("nan"), "d": date(2025, 1, 2)})) == {"x": None, "d": "2025-01-02"}


@pytest.mark.parametrize(("value", "unit", "lang", "expected"), [
    (1234567.0, "CNY", "en", "¥1.23M"),
    (1234567.0, "CNY", "zh", "¥123万"),
    (-4200.0, "CNY", "en", "-¥4.2K"),
    (12.345, "%", "en", "12.3%"),
    (0.25, "ratio", "en", "25.0%"),
    (3600.0, "seconds", "en", "3,600 s"),
    (42.0, "contracts", "en", "42"),
    (None, "CNY", "en", "—"),
    (float("nan"), "%", "en", "—"),
])
def test_format_value(value, unit, lang, expected):
    assert format_value(value, unit, lang) == expected


def test_format_delta_and_pct():
    assert format_delta(-0.75, "%") == "−0.75 pp"
    assert format_delta(-0.001, "%") == "±0.00 pp"
    assert format_delta(12300.0, "CNY") == "+¥12.3K"
    assert format_pct(0.873) == "87.3%"
    assert compact(1.5e8, "zh") == "1.5亿"


def test_period_labels_and_arithmetic():
    en, zh = I18n("en"), I18n("zh")
    assert en.period(date(2025, 10, 1), "month") == "Oct 2025"
    assert zh.period(date(2025, 10, 1), "quarter") == "2025年第4季度"
    assert period_end(date(2025, 10, 1), "quarter") == date(2025, 12, 31)
    assert previous_period(date(2025, 1, 1), "month") == date(2024, 12, 1)
    assert same_period_last_year(date(2025, 7, 1), "quarter") == date(2024, 7, 1)
    assert latest_complete_period(date(2025, 10, 20), "month") == date(2025, 9, 1)
    assert latest_complete_period(date(2025, 9, 30), "quarter") == date(2025, 7, 1)
    with pytest.raises(ValueError):
        I18n("fr")


def test_redaction_replaces_other_units_ids_and_names_only_in_scoped_reports():
    units = ({"org_unit_id": "DEP-A", "name": "Dept A", "name_zh": "甲部", "parent_org_unit_id": None},)
    scoped = Scope(on=date(2025, 1, 1), org="DEP-A", units=units, excluded_ids=frozenset({"DEP-B", "ACME"}),
                   excluded_names=frozenset({"Dept B", "乙部"}))
    text = "DEP-A beat DEP-B and Dept B (乙部); DEP-BX is another token; ACME total"
    assert scoped.redact(text) == "DEP-A beat … and … (…); DEP-BX is another token; … total"
    whole = Scope(on=date(2025, 1, 1), org=None, units=units, excluded_ids=frozenset({"DEP-B"}))
    assert whole.redact(text) == text


def test_bullet_for_unverified_values_has_no_status_colours():
    from reports import theme

    coloured = bullet(actual=80, target=100, verified=True)
    grey = bullet(actual=80, target=100, verified=False)
    # the bands are a CSS gradient (theme.SVG_CSS): `.bl.hi` red → amber → green at 90 % and 100 % of
    # the target; `.u` (unverified) turns every band grey
    assert coloured.startswith('<div class="bl hi" style="--b1:') and " u" not in coloured.split(">")[0]
    assert grey.startswith('<div class="bl hi u" style="--b1:')
    assert f".bl.u {{ --g: {theme.BAND_GREY}; --r: {theme.BAND_GREY}; --a: {theme.BAND_GREY_DARK}; }}" in theme.SVG_CSS
    assert f"--r: {theme.BAND_RED}" in theme.SVG_CSS and f"--g: {theme.BAND_GREEN}" in theme.SVG_CSS
    # 80 against 100 on a scale to 115: the bar ends at 69.6 %, the target tick at 87 %, amber from 78.3 %
    assert '<b style="left:0%;width:69.6%"></b>' in coloured and '<i style="left:87%"></i>' in coloured
    assert "--b1:78.3%;--b2:87%" in coloured


def test_svg_waterfall_escapes_labels():
    svg = waterfall([Step("<script>x</script>", -5.0), Step("Gap", -5.0, total=True)], fmt=str)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_reports_never_import_dagster():
    code = "import sys, reports; print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
