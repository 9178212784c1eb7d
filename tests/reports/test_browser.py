"""Every report opened in a real headless Chromium (Debian's /usr/bin/chromium via Playwright):
no console errors, no network requests, no dialog from injected script, every chart rendered.
Full-page screenshots go to tests/_artifacts/screenshots/ (gitignored)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import CHROMIUM, Built

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"), reason="chromium not installed"),
]


def open_report(browser, path: Path, *, media: str = "screen", width: int = 1400):
    """Open a report from its folder (file://), render every chart; return (page, problems seen)."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

    def on_dialog(dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def route(r) -> None:  # anything but the file itself and data: URLs is a network request
        url = r.request.url
        if url.startswith(("file://", "data:")):
            r.continue_()
        else:
            problems.append(f"network request: {url}")
            r.abort()

    page.route("**/*", route)
    page.emulate_media(media=media)
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("() => window.kpiCharts.renderAll()")
    page.wait_for_function("() => window.kpiCharts && window.kpiCharts.done === true", timeout=120_000)
    return page, problems


def _reports(built: Built) -> list[Path]:
    """Every kind of report, in English for the company and in Chinese scoped to a department
    (the other two combinations differ only in data; the static tests cover them)."""
    return built.company_en + built.scoped_zh + [p for p in built.company_zh if p.stem == "quality_zh"]


def test_every_report_renders_in_chromium(built: Built, browser, screenshots: Path):
    checked = 0
    for path in _reports(built):
        page, problems = open_report(browser, path)
        try:
            state = page.evaluate("() => ({total: kpiCharts.total, rendered: kpiCharts.rendered, failed: kpiCharts.failed})")
            assert state["failed"] == 0 and state["rendered"] == state["total"], (path.name, state)
            plots = page.evaluate("() => document.querySelectorAll('.js-plotly-plot .main-svg').length")
            drawn = page.evaluate("() => document.querySelectorAll('.js-plotly-plot[data-rendered=\"1\"]').length")
            assert drawn == state["total"] and plots >= state["total"], (path.name, drawn, plots)
            if not path.stem.startswith("index"):
                assert state["total"] > 0, f"{path.name} has no chart"
            # only our three scripts: figure data, the shared plotly.min.js, the renderer — nothing injected
            scripts = page.evaluate("() => document.querySelectorAll('script').length")
            assert scripts == (3 if state["total"] else 2), (path.name, scripts)
            assert not problems, (path.name, problems)
            page.screenshot(path=str(screenshots / f"{path.stem}.png"), full_page=True)
            checked += 1
        finally:
            page.close()
    assert checked == len(_reports(built))


def test_injected_markup_shows_as_text(built: Built, browser):
    attainment = next(p for p in built.company_en if p.stem == "attainment")
    page, problems = open_report(browser, attainment)
    try:
        title = page.inner_text("#u-ACME-k-new_contracts h4")
        assert title == "<script>alert(1)</script>"
        goal_tree_labels = page.evaluate(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot text')).map(t => t.textContent)")
        assert "<script>alert(1)</script>" in goal_tree_labels
        assert not problems
    finally:
        page.close()
    zh = next(p for p in built.company_zh if p.stem == "attainment_zh")
    page, problems = open_report(browser, zh)
    try:
        assert page.inner_text("#u-ACME-k-new_contracts h4") == "<img src=x onerror=alert(2)>新签合同"
        assert page.evaluate("() => document.querySelectorAll('main img').length") == 0
        assert not problems
    finally:
        page.close()


def test_print_layout(built: Built, browser, screenshots: Path):
    review = next(p for p in built.company_en if p.stem.startswith("review_month"))
    page, problems = open_report(browser, review, media="print")
    try:
        assert page.evaluate("() => getComputedStyle(document.querySelector('nav.toc')).display") == "none"
        page.screenshot(path=str(screenshots / f"{review.stem}__print.png"), full_page=True)
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
        (screenshots / f"{review.stem}.pdf").write_bytes(pdf)
        assert not problems
    finally:
        page.close()
