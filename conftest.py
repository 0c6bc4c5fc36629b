"""`make test` collects the chapters (nbval) and tests/ in one session; this applies to both.

Without Chromium the browser chapter and the browser test cannot run: they are left out with one
message naming the install, instead of failing cell by cell. `.ci/run` insists on Chromium.
"""

from __future__ import annotations

from stack.course import browser

NEEDS_A_BROWSER = ("11-in-the-browser.ipynb", "test_browser.py")
LEFT_OUT: list[str] = []


def pytest_collection_modifyitems(config, items):
    missing = browser.missing()
    needing = [item for item in items if item.path.name in NEEDS_A_BROWSER]
    if missing is None or not needing:
        return
    config.hook.pytest_deselected(items=needing)
    items[:] = [item for item in items if item.path.name not in NEEDS_A_BROWSER]
    files = sorted({item.path.name for item in needing})
    LEFT_OUT.append(f"skipped {', '.join(files)} ({len(needing)} items): {missing}")


def pytest_terminal_summary(terminalreporter):
    for line in LEFT_OUT:
        terminalreporter.write_line(line, yellow=True)
