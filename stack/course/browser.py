"""A real browser on the course's pages: Debian's Chromium, driven by Playwright.

The chapter "In the browser" and tests/test_browser.py walk the same steps with this
module, so the screenshots the chapter shows are the ones the test run writes to
build/screenshots/ (same code, same file names). Playwright only drives the system
Chromium; it never downloads a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .. import config, http

SCREENSHOTS = config.BUILD_DIR / "screenshots"
INSTALL_HINT = "install Debian's Chromium (`sudo apt-get install chromium`) and Playwright (`make setup`)"
VIEWPORT = {"width": 900, "height": 600}
# A quiet, throw-away browser: no sandbox because CI runs as root, and nothing that
# phones home or updates itself while a test runs.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every screenshot a walk through the pages takes, in order, per recipe. The chapter
# and the test both check that a run produced exactly these files.
SHOTS = {
    "page": (
        "page-01-logged-out",
        "page-02-app-refused",
        "page-03-logging-in",
        "page-04-logged-in",
        "page-05-members-area",
        "page-06-httponly",
        "page-07-refreshed",
        "page-08-logged-out",
        "page-09-app-refused-again",
        "page-10-refresh-after-logout",
    ),
    "hardened": (
        "hardened-01-logging-in",
        "hardened-02-logged-in",
        "hardened-03-logged-out",
        "hardened-04-refresh-after-logout",
    ),
}


def chromium() -> str | None:
    """The system Chromium (CHROMIUM overrides where it lives)."""
    override = os.environ.get("CHROMIUM")
    if override:
        return shutil.which(override)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser steps cannot run here, or None when they can."""
    if chromium() is None:
        return f"no Chromium found: {INSTALL_HINT}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"Playwright is not installed: {INSTALL_HINT}"
    return None


# The chapters that drive Chromium, by name without their number (chapters get renumbered).
BROWSER_CHAPTERS = ("in-the-browser",)


def needs_browser(path: Path) -> bool:
    """Whether this chapter (a notebook path) drives Chromium."""
    return path.suffix == ".ipynb" and re.sub(r"^\d+-", "", path.stem) in BROWSER_CHAPTERS


def available() -> bool:
    return missing() is None


@dataclass(frozen=True)
class Step:
    """What one step did: the request behind it, what the page then said, its screenshot."""

    name: str
    request: str
    status: int | None
    heading: str
    state: str  # the login page's "in" / "out"; "" on other pages
    screenshot: Path

    def __str__(self) -> str:
        answer = f"{self.request} → {self.status}" if self.request else "(no request)"
        state = {"in": ", logged in", "out": ", not logged in"}.get(self.state, "")
        return f"{answer} | page: {self.heading}{state} | {self.screenshot.name}"

    def image(self):
        """The screenshot file itself, for Jupyter to show inline."""
        from IPython.display import Image

        return Image(filename=str(self.screenshot))


class Browser:
    """One fresh headless Chromium (its own empty profile) on the gateway.

    Every Playwright call runs on one worker thread: Jupyter's kernel runs an asyncio
    loop in the main thread, and Playwright's sync API refuses to run inside one.
    """

    def __init__(self, screenshots: Path = SCREENSHOTS):
        self.screenshots = screenshots
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self._playwright = self._context = self._page = None

    def start(self) -> Browser:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.screenshots.mkdir(parents=True, exist_ok=True)
        self._run(self._launch)
        return self

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        # A persistent context on a new, empty directory: a fresh user-data-dir we choose.
        self._context = self._playwright.chromium.launch_persistent_context(
            self._profile.name,
            executable_path=chromium(),
            headless=True,
            args=LAUNCH_ARGS,
            viewport=VIEWPORT,
        )
        self._page = self._context.pages[0] if self._context.pages else self._context.new_page()

    def close(self) -> None:
        def stop():
            if self._context is not None:
                self._context.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self._run(stop)
        finally:
            self._worker.shutdown()
            self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, function, *args):
        return self._worker.submit(function, *args).result()

    # --- the steps ---------------------------------------------------------------

    def visit(self, name: str, path: str) -> Step:
        """Navigate to a path on the gateway, as typing it in the address bar would."""
        return self._run(self._visit, name, path)

    def fill_login(self, name: str, user: str, password: str) -> Step:
        """Type into the login form, without sending it yet."""
        return self._run(self._fill_login, name, user, password)

    def press(self, name: str, button: str) -> Step:
        """Click one of the login page's buttons ("Log in", "Refresh", "Log out", "Who am I?")."""
        return self._run(self._press, name, button)

    def visit_elsewhere(self, name: str, url: str) -> Step:
        """Open a page that is not the gateway's (see another_site) and wait for the POST its
        form sends to the gateway's /rest/task; the step's status is the gateway's answer."""
        return self._run(self._visit_elsewhere, name, url)

    def open(self, path: str) -> None:
        """Navigate to a path on the gateway and wait for its script to settle, with no screenshot."""
        self._run(self._visit_quietly, path)

    def evaluate(self, script: str):
        """Run JavaScript in the page, as the page's own script would; a function is called, a promise awaited."""
        return self._run(lambda: self._page.evaluate(script))

    def document_cookie(self) -> str:
        """What the page's JavaScript can read of its cookies."""
        return self._run(lambda: self._page.evaluate("document.cookie"))

    def cookies(self) -> dict[str, dict]:
        """The browser's own cookie jar for the gateway (what it will send, and where)."""
        jar = self._run(self._context.cookies)
        return {cookie["name"]: cookie for cookie in sorted(jar, key=lambda c: (c["name"], c["path"]))}

    # --- on the worker thread ----------------------------------------------------

    def _visit(self, name: str, path: str) -> Step:
        from playwright.sync_api import Error

        url = http.gateway(path)
        with self._page.expect_response(lambda r: r.url == url and r.request.is_navigation_request()) as answer:
            try:
                self._page.goto(url)
            except Error as error:
                # An error status with an empty body (Caddy's plain 401) makes Chromium show
                # its own error page, and Playwright reports the navigation as failed.
                if "ERR_HTTP_RESPONSE_CODE_FAILURE" not in error.message:
                    raise
                self._page.wait_for_url("chrome-error://**")
                self._page.wait_for_load_state()
        if path == "/":
            self._settle(0)
        return self._step(name, f"GET {path}", answer.value.status)

    def _visit_elsewhere(self, name: str, url: str) -> Step:
        from playwright.sync_api import Error

        target = http.gateway("/rest/task")
        with self._page.expect_response(lambda r: r.url == target and r.request.method == "POST") as answer:
            try:
                self._page.goto(url)
            except Error as error:  # the form's navigation replaces the page while it loads
                if "interrupted" not in error.message and "ERR_HTTP_RESPONSE_CODE_FAILURE" not in error.message:
                    raise
        self._page.wait_for_load_state()
        return self._step(name, "POST /rest/task (a form on another site)", answer.value.status)

    def _fill_login(self, name: str, user: str, password: str) -> Step:
        self._on_login_page()
        self._page.fill("#login input[name=user]", user)
        self._page.fill("#login input[name=pass]", password)
        return self._step(name, "", None)

    def _press(self, name: str, button: str) -> Step:
        self._on_login_page()
        before = self._actions()
        target = self._page.get_by_role("button", name=button, exact=True)
        requests = {"Log in": "/rpc/login", "Refresh": "/rpc/refresh_token", "Log out": "/rpc/logout"}
        if button in requests:
            url = http.gateway(requests[button])
            with self._page.expect_response(url) as answer:
                target.click()
            status = answer.value.status
            request = f"POST {requests[button]}"
        else:
            target.click()
            status, request = None, ""
        self._settle(before)
        return self._step(name, request, status)

    def _on_login_page(self) -> None:
        if self._page.url != http.gateway("/"):
            self._visit_quietly("/")

    def _visit_quietly(self, path: str) -> None:
        self._page.goto(http.gateway(path))
        self._settle(0)

    def _actions(self) -> int:
        return int(self._page.evaluate("Number(document.body.dataset.actions || 0)"))

    def _settle(self, before: int) -> None:
        """Wait until the page's script has finished the action started after `before`."""
        self._page.wait_for_function(f"Number(document.body.dataset.actions || 0) > {before}")

    def _step(self, name: str, request: str, status: int | None) -> Step:
        heading = self._page.evaluate("document.querySelector('h1')?.textContent ?? document.title")
        state = self._page.evaluate("document.querySelector('#state')?.dataset.state ?? ''")
        screenshot = self.screenshots / f"{name}.png"
        self._page.screenshot(path=str(screenshot), full_page=True)
        return Step(name, request, status, heading.strip(), state, screenshot)


def clear(recipe: str, screenshots: Path = SCREENSHOTS) -> None:
    """Remove a previous walk's screenshots, so what is left afterwards is this run's."""
    for path in screenshots.glob(f"{recipe}-*.png"):
        path.unlink()


def produced(recipe: str, screenshots: Path = SCREENSHOTS) -> list[str]:
    """The screenshots a walk on `recipe` left behind, in order."""
    return sorted(path.stem for path in screenshots.glob(f"{recipe}-*.png"))


FORGED_TITLE = "forged by another site"


@contextmanager
def another_site():
    """A page on another port of this host (another origin, the same site, like the JupyterLab
    `make lab` opens) whose HTML form posts a task to the gateway as soon as it loads: what any
    page the user opens could do with the cookies the browser holds. Yields its URL."""
    page = (
        "<!doctype html><title>Another site</title>"
        f'<form method="post" action="{http.gateway("/rest/task")}">'
        f'<input name="title" value="{FORGED_TITLE}"></form>'
        "<script>document.forms[0].submit()</script>"
    ).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def forged_form_post(recipe: str) -> Step:
    """Log in as demo in a fresh Chromium, then open another site whose form posts a task."""
    with Browser() as chromium, another_site() as elsewhere:
        chromium.fill_login(f"csrf-{recipe}-01-logging-in", "demo", "demo")
        chromium.press(f"csrf-{recipe}-02-logged-in", "Log in")
        return chromium.visit_elsewhere(f"csrf-{recipe}-03-another-site", elsewhere)


def replayed_form_post() -> int:
    """Without Chromium: the request its form post sends (the form's body, the site's Origin,
    the cookie a login set), for the gateway's status. tests/test_browser.py sends the real one."""
    import requests

    access = http.cookie_value(http.login(), "access_token")
    response = requests.post(
        http.gateway("/rest/task"),
        data={"title": FORGED_TITLE},
        headers={"Origin": "http://localhost:1", "Cookie": f"access_token={access}"},
        timeout=10,
    )
    return response.status_code
