"""Every mermaid diagram of the course parses, so JupyterLab and the HTML show a diagram, not an error."""

from __future__ import annotations

import pytest

from stack import config
from stack.course import book, browser, site

SOURCES = [*site.chapters(), config.ROOT / "README.md"]
DIAGRAMS = [
    pytest.param(text, id=f"{path.stem}-{number}")
    for path in SOURCES
    for number, text in enumerate(site.diagrams(path), start=1)
]


@pytest.fixture(scope="module")
def mermaid_page():
    if not browser.available():
        pytest.skip(browser.missing())
    script = book.mermaid_script()
    if script is None:
        pytest.skip("mermaid is not cached and npm is missing: install Node.js/npm to check diagrams")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser.chromium(), args=browser.LAUNCH_ARGS)
        page = chromium.new_page()
        page.set_content("<!doctype html><body></body>")
        page.add_script_tag(path=str(script))
        yield page
        chromium.close()


@pytest.mark.parametrize("chapter", ["05-log-in", "06-protected-endpoints", "07-refresh", "08-log-out"])
def test_each_http_flow_has_a_sequence_diagram(chapter):
    assert any(text.lstrip().startswith("sequenceDiagram") for text in site.diagrams(site.chapters([chapter])[0]))


@pytest.mark.parametrize("text", DIAGRAMS)
def test_diagram_parses(mermaid_page, text):
    error = mermaid_page.evaluate(
        "async text => { try { await mermaid.parse(text); return ''; } catch (e) { return String(e.message || e); } }",
        text,
    )
    assert error == ""
