"""Layout in a real browser: every report, in English and Chinese, at phone width (390 px) and at
1400 px — no element wider than the page (no horizontal scroll) and no overlapping titles.

"Titles" are the page's headings, section summaries, chart titles and, inside plotly charts, the
legend, the axis titles and the button bars. Every folded section is opened first, so what is
folded is measured too. The one element allowed to be wider than the page is the review's status
matrix (units × KPIs), which scrolls inside its own box (`data-scroll="x"`) that fits the page.
Screenshots of each page at both widths go to tests/_artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CHROMIUM, Built
from .test_browser import open_report

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")]

WIDTHS = (390, 1400)

OPEN_ALL = """async () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  if (typeof Plotly !== 'undefined') {
    await Promise.all(Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => Plotly.Plots.resize(el)));
  }
}"""

RESIZE = """async () => {
  if (typeof Plotly !== 'undefined') {
    await Promise.all(Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => Plotly.Plots.resize(el)));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

TOO_WIDE = """() => {
  const W = document.documentElement.clientWidth;
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '');
  if (document.documentElement.scrollWidth > W + 1) {
    out.push('page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + W);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('#js-plotly-tester')) { continue; }  // plotly's off-screen text-measuring node
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) { continue; }
    if (r.left >= -1 && r.right <= W + 1) { continue; }
    const region = el.closest('[data-scroll="x"]');
    if (region && region !== el) { continue; }  // inside the one box that scrolls by design
    let p = el.parentElement, path = [];
    for (let i = 0; p && i < 3; i++, p = p.parentElement) { path.push(name(p)); }
    out.push(name(el) + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + '] in ' + path.join(' < '));
    if (out.length >= 15) { break; }
  }
  return out;
}"""

OVERLAPS = """() => {
  const sel = 'h1, h2, h3, h4, summary, .chart-title, .print-btn, .tile .wt, ' +
              '.js-plotly-plot .legend, .js-plotly-plot .g-xtitle, .js-plotly-plot .g-ytitle, ' +
              '.js-plotly-plot .g-gtitle, .js-plotly-plot .updatemenu-container, .js-plotly-plot .modebar';
  const items = Array.from(document.querySelectorAll(sel))
    .map(el => ({el, r: el.getBoundingClientRect()}))
    .filter(x => x.r.width > 0 && x.r.height > 0);
  const label = el => (el.tagName.toLowerCase() + ' ' + (el.getAttribute('class') || '') + ' "' +
                       (el.textContent || '').trim().slice(0, 40) + '"');
  items.sort((a, b) => a.r.top - b.r.top);
  const out = [];
  for (let i = 0; i < items.length; i++) {
    const a = items[i];
    for (let j = i + 1; j < items.length && items[j].r.top < a.r.bottom; j++) {
      const b = items[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) { continue; }
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 1 && h > 1) { out.push(label(a.el) + ' overlaps ' + label(b.el)); }
      if (out.length >= 15) { return out; }
    }
  }
  return out;
}"""


def _check(page, width: int) -> tuple[list[str], list[str]]:  # a playwright page
    page.set_viewport_size({"width": width, "height": 1000})
    page.evaluate(RESIZE)
    return page.evaluate(TOO_WIDE), page.evaluate(OVERLAPS)


def test_every_report_fits_the_page_without_overlapping_titles(built: Built, browser, screenshots: Path):
    failures: dict[str, list[str]] = {}
    checked = 0
    for path in built.all:  # company and scoped, English and Chinese
        page, problems = open_report(browser, path, width=WIDTHS[-1])
        try:
            for width in WIDTHS:  # as the reader sees it first: folded sections closed
                page.set_viewport_size({"width": width, "height": 1000})
                page.evaluate(RESIZE)
                page.screenshot(path=str(screenshots / f"{path.stem}__{width}.png"), full_page=True)
            page.evaluate(OPEN_ALL)
            for width in (*WIDTHS, WIDTHS[0]):  # and back: the charts follow the width both ways
                wide, overlaps = _check(page, width)
                if wide or overlaps:
                    failures[f"{path.name} @ {width}px"] = wide + overlaps
                checked += 1
            assert not problems, (path.name, problems)
        finally:
            page.close()
    assert checked == 3 * len(built.all) and len(built.all) == 22
    assert not failures, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in failures.items())


def test_the_phone_layout_really_is_narrow(built: Built, browser):
    """Guards the test above: at 390 px the tiles are one column and a wide table becomes cards."""
    attainment = next(p for p in built.company_zh if p.stem == "attainment_zh")
    page, _ = open_report(browser, attainment, width=390)
    try:
        page.evaluate(OPEN_ALL)
        widths = page.evaluate("() => Array.from(document.querySelectorAll('#u-ACME article.tile'))"
                               ".map(t => Math.round(t.getBoundingClientRect().width))")
        assert widths and max(widths) <= 390 - 16 and min(widths) >= 300  # one tile per row, full width
        lefts = page.evaluate("() => new Set(Array.from(document.querySelectorAll('#u-ACME article.tile'))"
                              ".map(t => Math.round(t.getBoundingClientRect().left))).size")
        assert lefts == 1
        display = page.evaluate("() => getComputedStyle(document.querySelector('table.data thead')).display")
        assert display == "none"
        chart = page.evaluate("() => document.querySelector('.js-plotly-plot .main-svg').getBoundingClientRect().width")
        assert chart <= 390
    finally:
        page.close()


def test_a_link_into_a_folded_section_opens_it(built: Built, browser):
    attainment = next(p for p in built.company_en if p.stem == "attainment")
    page, problems = open_report(browser, attainment)
    try:
        assert page.evaluate("() => document.querySelector('#u-TM-SE-2 details').open") is False
        page.click('nav.toc a[href="#u-TM-SE-2"]')
        page.wait_for_function("() => document.querySelector('#u-TM-SE-2 details').open === true")
        assert page.is_visible("#u-TM-SE-2-k-net_revenue")
        # the first "needs attention" item links to its tile inside a folded division
        page.click('ol.attention-list a[href="#u-DIV-SALES-k-net_revenue"]')
        page.wait_for_function("() => document.querySelector('#u-DIV-SALES details').open === true")
        assert page.is_visible("#u-DIV-SALES-k-net_revenue")
        assert not problems
    finally:
        page.close()
