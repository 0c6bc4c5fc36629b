"""`make test` collects the chapters (nbval) and tests/ in one session; this applies to both.

Without Chromium the browser chapter and the browser test cannot run: they are left out with one
message naming the install, instead of failing cell by cell. `.ci/run` insists on Chromium.
With STACK_MODE=compose, the chapters and tests that drive native processes (Caddy's binary and
process, a second native stack, pid files and logs) are left out the same way, one message per reason.
"""

from __future__ import annotations

from stack.course import browser
from stack.services import compose

# Besides the browser chapters (stack.course.browser.needs_browser: found by name, not by number).
NEEDS_A_BROWSER = ("test_browser.py", "test_site.py", "test_diagrams.py")
# With STACK_MODE=compose these are left out, each group for its reason (the rest run through Compose).
NATIVE_ONLY = {
    "they run the Caddy binary of this machine (list-modules, build-info, a scratch Caddy beside the stack) "
    "and stop and start its process; with Compose, Caddy is inside its container": (
        "02-build-caddy.ipynb",
        "09-troubleshooting.ipynb",
        "test_caddy.py",
    ),
    "they start a second native stack, or signal and inspect native processes, pid files and logs": (
        *("test_doctor.py", "test_failures.py", "test_faults.py", "test_lifecycle.py"),
        *("test_postgres_install.py", "test_processes.py"),
    ),
}
LEFT_OUT: list[str] = []


def exercise_of(item) -> str:
    """test_editions' exercise key ("02", "07.2"), or "" for any other item."""
    callspec = getattr(item, "callspec", None)
    return callspec.id if item.path.name == "test_editions.py" and callspec else ""


def leave_out(config, items, names, reason, also=None) -> None:
    """Deselect the items of the files named, those whose path `also` accepts, or the items `also` lists."""
    if isinstance(also, list):
        chosen = also
    else:
        chosen = [item for item in items if item.path.name in names or (also and also(item.path))]
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
        for reason, names in NATIVE_ONLY.items():
            chapters = tuple(name.split("-")[0] for name in names if name.endswith(".ipynb"))
            leave_out(config, items, names, f"{reason} (STACK_MODE=native make test runs them)", also=None)
            # Those chapters' exercises too (test_editions runs each chapter's exercise by its number).
            exercises = [item for item in items if exercise_of(item).startswith(chapters or ("-",))]
            if exercises:
                leave_out(config, items, (), f"the exercises of {', '.join(chapters)}: {reason}", also=exercises)


def pytest_terminal_summary(terminalreporter):
    for line in LEFT_OUT:
        terminalreporter.write_line(line, yellow=True)
