"""The login page and the protected /app/ area in a real Chromium, step by step.

The same steps as the chapter 14-in-the-browser, through the same code (stack.course.browser),
writing the same screenshots to build/screenshots/. Skipped, with how to install it,
where there is no Chromium or Playwright.
"""

from __future__ import annotations

import pytest

from stack import recipes
from stack.course import browser, chapter

pytestmark = pytest.mark.skipif(not browser.available(), reason=browser.missing() or "")


@pytest.fixture(scope="module", autouse=True)
def stack_on_page_recipe():
    try:
        found = recipes.current()
    except Exception:  # the stack is not up yet: chapter.ready starts it
        found = "page"
    chapter.ready(recipe="page")
    yield
    # Leave the stack on the recipe we found (after chapter 14 it is the hardened one).
    recipes.use(found if found in recipes.RECIPES else "page")


def test_page_recipe_in_the_browser():
    recipes.use("page")
    browser.clear("page")
    with browser.Browser() as b:
        step = b.visit("page-01-logged-out", "/")
        assert (step.status, step.heading, step.state) == (200, "SuperStack JWT", "out")

        step = b.visit("page-02-app-refused", "/app/")
        assert step.status == 401

        step = b.fill_login("page-03-logging-in", "demo", "demo")
        assert step.state == "out"

        step = b.press("page-04-logged-in", "Log in")
        assert (step.request, step.status, step.state) == ("POST /rpc/login", 204, "in")

        step = b.visit("page-05-members-area", "/app/")
        assert (step.status, step.heading) == (200, "Members area")

        step = b.visit("page-06-httponly", "/")
        jar = b.cookies()
        assert b.document_cookie() == ""
        assert {name: (c["path"], c["httpOnly"]) for name, c in jar.items()} == {
            "access_token": ("/", True),
            "refresh_token": ("/rpc/refresh_token", True),
        }

        step = b.press("page-07-refreshed", "Refresh")
        assert (step.request, step.status, step.state) == ("POST /rpc/refresh_token", 204, "in")

        step = b.press("page-08-logged-out", "Log out")
        assert (step.request, step.status, step.state) == ("POST /rpc/logout", 204, "out")
        # The page's logout expires refresh_token at path=/, a different cookie from the one
        # the browser holds at /rpc/refresh_token: that one survives.
        assert {name: c["path"] for name, c in b.cookies().items()} == {"refresh_token": "/rpc/refresh_token"}

        step = b.visit("page-09-app-refused-again", "/app/")
        assert step.status == 401

        step = b.press("page-10-refresh-after-logout", "Refresh")
        assert (step.status, step.state) == (204, "in")
    assert browser.produced("page") == list(browser.SHOTS["page"])


def test_hardened_recipe_logout_clears_the_refresh_cookie():
    recipes.use("hardened")
    browser.clear("hardened")
    with browser.Browser() as b:
        step = b.fill_login("hardened-01-logging-in", "demo", "demo")
        assert step.state == "out"
        step = b.press("hardened-02-logged-in", "Log in")
        assert (step.status, step.state) == (204, "in")
        assert b.document_cookie() == ""
        assert {"access_token", "refresh_token"} <= set(b.cookies())

        step = b.press("hardened-03-logged-out", "Log out")
        assert (step.status, step.state) == (204, "out")
        assert "refresh_token" not in b.cookies()

        step = b.press("hardened-04-refresh-after-logout", "Refresh")
        assert (step.status, step.state) == (401, "out")
    assert browser.produced("hardened") == list(browser.SHOTS["hardened"])


def test_a_form_on_another_site_writes_on_the_page_recipe_only():
    """Cross-site request forgery in Chromium (issue 13): logged in as demo, the browser opens a
    page on another port of localhost whose form posts a task to the gateway."""
    from stack import db

    found = {}
    for recipe in ("page", "hardened"):
        recipes.use(recipe)
        step = browser.forged_form_post(recipe)
        rows = db.query("delete from public.task where title = %s returning id", (browser.FORGED_TITLE,))
        found[recipe] = (step.status, len(rows))
    assert found == {"page": (201, 1), "hardened": (403, 0)}
