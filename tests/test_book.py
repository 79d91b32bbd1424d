"""The built book: every page opens in headless Chromium with every chart drawn, every
widget rendered, no request leaving 127.0.0.1 and no console error; the conclusions show
the glued numbers; the in-page explorer recomputes what attnlib computes.

The session fixture builds the smoke book (tools/build_book.py), as `make book` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import open_offline_page, requires_imdb, serve_directory

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium")
BENIGN = ("favicon.ico",)  # no page may log any other console error
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [requires_imdb, pytest.mark.book, pytest.mark.browser,
              pytest.mark.timeout(3600),  # the first test also builds the book
              pytest.mark.skipif(CHROMIUM is None, reason="apt-get install chromium")]


@pytest.fixture(scope="session")
def book_url():
    if os.environ.get("ATTNLIB_REUSE_BOOK") != "1" or not (HTML / "index.html").exists():
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"),
                               "--profile", "smoke", "--timeout", "1800"],
                              cwd=ROOT, capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with serve_directory(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-background-networking", "--disable-component-update"])
        yield b
        b.close()


def _open(browser, url: str):
    return open_offline_page(browser, url, viewport={"width": 1300, "height": 900})


PAGES = ["book/intro", "book/data", "book/models", "book/single_weight", "book/multi_weight",
         "book/explore", "book/paper_claims", "book/other_tests", "book/known_answer",
         "book/conclusions", "book/course_guide"]


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline_with_every_chart_and_widget(book_url, browser, name):
    page, external, errors = _open(browser, f"{book_url}/{name}.html")
    charts = page.locator("div[id^=altair-viz]")
    n_charts = charts.count()
    if n_charts:
        page.wait_for_function(
            "document.querySelectorAll('div[id^=altair-viz] svg .role-mark').length > 0 && "
            "[...document.querySelectorAll('div[id^=altair-viz]')].every("
            "d => d.querySelector('svg .role-mark'))", timeout=30_000)
    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if views:
        page.wait_for_selector(".jupyter-widgets", timeout=30_000)
        assert page.locator(".widget-slider").count() >= 1
    if name in ("book/data", "book/models", "book/single_weight", "book/multi_weight",
                "book/paper_claims", "book/explore"):
        assert n_charts >= 1, f"{name} has no chart"
    assert "Error loading script" not in page.locator("body").inner_text()
    main = page.locator("main").inner_text()
    if name not in ("book/intro", "book/course_guide"):
        # a chapter opens with prose: its parameters and imports are folded, replaced by
        # one line saying what it was built from
        assert "Built from the smoke profile" in main, main[:500]
        assert 'profile = "smoke"' not in main and "profile = 'smoke'" not in main
        # ... and with what it found: its findings and key figure on the first screen
        lead = page.get_by_text("What this chapter found.").first
        assert lead.count() == 1, f"{name} does not open with its findings"
        box = lead.bounding_box()
        assert box is not None and box["y"] < 900, (name, box)
        if name != "book/known_answer":  # its figure needs runs that rely on the shortcut
            top = min(c.bounding_box()["y"] for c in charts.all())
            assert top < 900, f"{name}: the first figure starts at {top:.0f} px"
    assert page.locator(".search-button-field:visible").count() == 1  # one search box
    page.close()
    assert external == []
    assert [e for e in errors if not any(b in e for b in BENIGN)] == []


def test_conclusions_show_the_glued_numbers(book_url, browser):
    from attnlib.analysis.report import key_findings
    from attnlib.study import load_study, make_study

    from attnlib.analysis.claims import sample_rule

    records = load_study(make_study("smoke"), progress=False)
    findings = key_findings(records.results(), records.metrics_table(), records.weak_runs(),
                            rule=sample_rule("smoke"))
    page, _external, _errors = _open(browser, f"{book_url}/book/conclusions.html")
    text = page.locator("main").inner_text()
    page.close()
    for name in ("accuracy_range", "median_fractions", "never_flip_attention", "n_documents",
                 "gradient_duel", "claims_summary"):
        assert findings[name] in text, (name, findings[name])


def test_in_page_explorer_recomputes_what_attnlib_computes(book_url, browser, tmp_path):
    from attnlib.presentation.explorer import view_from_payload

    page, external, errors = _open(browser, f"{book_url}/book/explore.html")
    page.wait_for_function("document.querySelectorAll('div[id^=altair-viz] svg .role-mark')"
                           ".length > 10", timeout=30_000)
    data = json.loads(page.locator("script.attnlib-explorer-data").first.text_content())
    payload = data["payload"]
    chart = page.locator("div[id^=altair-viz]").first
    view = view_from_payload(payload, 0)

    def shown() -> np.ndarray:
        texts = chart.locator("svg text").all_text_contents()
        values = {}
        for t in texts:
            m = re.fullmatch(r"(.+): (\d\.\d{6})", t.strip())
            if m and m.group(1) in payload["classes"]:
                values[m.group(1)] = float(m.group(2))
        return np.array([values[c] for c in payload["classes"]])

    np.testing.assert_allclose(shown(), view.probabilities(), atol=1e-4)
    # click an item whose shown text is unique on the page, then move the slider
    from attnlib.presentation.explorer_chart import explorer_tables

    items, _ = explorer_tables(payload)
    texts = items.loc[items["doc"] == 0, "text"].tolist()
    labels = chart.locator("svg g.mark-text text").all_text_contents()
    item = next(i for i, t in enumerate(texts) if labels.count(t) == 1 and len(t) > 2)
    chart.locator("svg g.mark-text text").filter(
        has_text=re.compile("^" + re.escape(texts[item]) + "$")).first.click()
    page.wait_for_timeout(300)
    np.testing.assert_allclose(shown(), view.probabilities([item]), atol=1e-4)
    k = min(3, view.n_items - 1)
    chart.locator("input[type=range]").first.evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        k)
    page.wait_for_timeout(300)
    erased = set(view.order("attention")[:k]) ^ {item}
    after = shown()
    np.testing.assert_allclose(after, view.probabilities(sorted(erased)), atol=1e-4)
    assert not np.allclose(after, view.probabilities(), atol=1e-6)
    page.screenshot(path=str(HTML.parent / "explore-after-erasure.png"), full_page=False)
    page.close()
    assert external == []
    assert [e for e in errors if not any(b in e for b in BENIGN)] == []


def test_multi_weight_chapter_screenshot(book_url, browser):
    page, _external, _errors = _open(browser, f"{book_url}/book/multi_weight.html")
    page.wait_for_function("document.querySelectorAll('div[id^=altair-viz] svg .role-mark')"
                           ".length > 0", timeout=30_000)
    out = HTML.parent / "multi_weight.png"
    page.screenshot(path=str(out), full_page=True)
    page.close()
    assert out.stat().st_size > 50_000


def test_exercises_have_folded_answers_and_the_student_edition_has_none(book_url):
    """Every exercise of the chapters is on its page with its answer in a dropdown; the
    student edition, compiled from the same executed notebooks, keeps the exercises and
    drops every answer (text and code)."""
    written = sum(p.read_text().count("```{exercise}") for p in (ROOT / "book").glob("*.ipynb"))
    assert written >= 16

    def count(root: Path, marker: str) -> int:
        return sum(p.read_text().count(marker) for p in (root / "book").glob("*.html"))

    assert count(HTML, 'class="exercise') == count(HTML, 'class="solution dropdown') == written
    assert "nothing left to renormalise" in (HTML / "book" / "single_weight.html").read_text()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"),
                           "--edition", "student", "--no-execute"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    student = ROOT / "_build" / "student" / "html"
    assert count(student, 'class="exercise') == written
    assert count(student, 'class="solution') == 0
    assert "nothing left to renormalise" not in (student / "book" / "single_weight.html").read_text()
    assert "student edition" in (student / "index.html").read_text() or "student edition" in (
        student / "book" / "intro.html").read_text()
