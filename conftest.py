"""`make test` collects the chapters (nbval) and tests/ in one session; this applies to both.

Without Chromium the browser chapter and the browser test cannot run: they are left out with one
message naming the install, instead of failing cell by cell. `.ci/run` insists on Chromium.
With STACK_MODE=compose, the chapters and tests that drive native processes (Caddy's binary and
admin endpoint, a second native stack, the native wheels) are left out the same way.
"""

from __future__ import annotations

from stack.course import browser
from stack.services import compose

# Besides the browser chapters (stack.course.browser.needs_browser: found by name, not by number).
NEEDS_A_BROWSER = ("test_browser.py", "test_site.py", "test_diagrams.py")
# They run the native Caddy binary, start a second native stack, or read native logs and pid files.
NATIVE_ONLY = (
    *("01-the-secret.ipynb", "02-build-caddy.ipynb", "09-troubleshooting.ipynb"),
    *("test_caddy.py", "test_doctor.py", "test_failures.py", "test_faults.py", "test_lifecycle.py"),
    *("test_ports.py", "test_postgres_install.py", "test_processes.py", "test_recipes.py"),
    *("test_errors.py", "test_jwt.py", "test_rpc.py", "test_tables.py", "test_supabase_client.py"),
)
LEFT_OUT: list[str] = []


def leave_out(config, items, names, reason, also=lambda path: False) -> None:
    chosen = [item for item in items if item.path.name in names or also(item.path)]
    if not chosen:
        return
    config.hook.pytest_deselected(items=chosen)
    items[:] = [item for item in items if item not in chosen]
    files = sorted({item.path.name for item in chosen})
    LEFT_OUT.append(f"skipped {', '.join(files)} ({len(chosen)} items): {reason}")


def pytest_collection_modifyitems(config, items):
    missing = browser.missing()
    if missing:
        leave_out(config, items, NEEDS_A_BROWSER, missing, also=browser.needs_browser)
    if compose.uses_compose():
        reason = "they drive the native stack; with STACK_MODE=compose run them natively (STACK_MODE=native make test)"
        leave_out(config, items, NATIVE_ONLY, reason)


def pytest_terminal_summary(terminalreporter):
    for line in LEFT_OUT:
        terminalreporter.write_line(line, yellow=True)
