"""The course site in a real Chromium: every page, every link, nothing fetched from elsewhere (issue 14).

The site is built from the chapters as committed (what `make tutorial` builds from a fresh run), into a
temporary folder, and crawled over file:// as a learner opens build/html/index.html. Any link that does
not resolve (a page, a file, an #anchor) fails, and so does any request that would leave the machine.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from stack.course import book, browser

pytestmark = pytest.mark.skipif(not browser.available(), reason=browser.missing() or "")

SHOTS = browser.SCREENSHOTS


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "html"
    return book.build(book.stored(), out).parent


@pytest.fixture(scope="module")
def page(built):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser.chromium(), args=browser.LAUNCH_ARGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        leaving: list[str] = []

        def only_local(route):
            url = route.request.url
            if url.startswith(("data:", "blob:")) or (url.startswith("file://") and inside(url, built)):
                route.continue_()
            else:
                leaving.append(url)
                route.abort()

        context.route("**/*", only_local)
        tab = context.new_page()
        failed: list[str] = []
        tab.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
        tab.on("pageerror", lambda error: failed.append(f"script error: {error}"))
        tab.leaving, tab.failed = leaving, failed
        yield tab
        chromium.close()


def inside(url: str, root: Path) -> bool:
    return local_path(url).is_relative_to(root)


def local_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def crawl(page, built: Path) -> dict[str, list[str]]:
    """Visit every page reachable from the index; each page's links (absolute URLs)."""
    todo, seen, links, anchors = [(built / "index.html").as_uri()], set(), {}, {}
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        page.goto(url)
        page.wait_for_load_state("load")
        anchors[url] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        links[url] = hrefs
        for href in hrefs:
            target, _ = urldefrag(href)
            if target.startswith("file://") and target.endswith(".html") and local_path(target).is_file():
                todo.append(target)
    return links, anchors


def test_every_link_resolves_and_nothing_leaves_the_machine(page, built):
    links, anchors = crawl(page, built)
    chapters = sorted(p.stem for p in book.NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    assert {f"{name}.html" for name in chapters} <= {local_path(url).name for url in links}
    dead = []
    for url, hrefs in links.items():
        for href in hrefs:
            target, fragment = urldefrag(href)
            if not target.startswith("file://"):
                assert target.startswith(("http://", "https://", "mailto:")), href
                continue  # a link out is fine to show; the route above proves no page fetches one
            if not inside(target, built) or not local_path(target).exists():
                dead.append(f"{local_path(url).name} -> {href}")
            elif fragment and target in anchors and unquote(fragment) not in anchors[target]:
                dead.append(f"{local_path(url).name} -> {href} (no such anchor)")
    assert dead == []
    assert page.leaving == [], "requests that would have left the machine"
    assert page.failed == []


def test_sidebar_lists_every_chapter_and_chapters_chain(page, built):
    page.goto((built / "05-log-in.html").as_uri())
    sidebar = {
        local_path(url).name for url in page.eval_on_selector_all("nav.bd-links a", "els => els.map(a => a.href)")
    }
    for path in sorted(book.NOTEBOOKS_DIR.glob("[0-9]*.ipynb")):
        assert f"{path.stem}.html" in sidebar
    assert page.get_attribute("a.left-prev", "href") == "04-seed.html"
    assert page.get_attribute("a.right-next", "href") == "06-protected-endpoints.html"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "site-chapter.png"))


def test_diagrams_and_plots_are_drawn(page, built):
    page.goto((built / "00-overview.html").as_uri())
    page.wait_for_selector(".mermaid svg", timeout=20000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".mermaid").first.screenshot(path=str(SHOTS / "site-diagram.png"))
    page.goto((built / "15-what-auth-costs.html").as_uri())
    widths = page.eval_on_selector_all(
        "img", "els => els.filter(i => i.src.includes('_images')).map(i => i.naturalWidth)"
    )
    assert widths and all(width > 0 for width in widths)
    page.goto((built / "index.html").as_uri())
    page.screenshot(path=str(SHOTS / "site-index.png"))


def test_search_finds_a_chapter(page, built):
    page.goto((built / "search.html").as_uri() + "?q=refresh+token")
    page.wait_for_selector("#search-results ul li a", timeout=20000)
    found = page.eval_on_selector_all("#search-results ul li a", "els => els.map(a => a.getAttribute('href'))")
    assert any(href.startswith("07-refresh.html") for href in found)
    page.screenshot(path=str(SHOTS / "site-search.png"))
