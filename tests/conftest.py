"""Fixtures shared by the stack's tests. Each test file brings the stack to the state it needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stack import config
from stack.course import chapter
from stack.harness import isolated
from stack.services import processes


@pytest.fixture(scope="session")
def page_stack() -> str:
    """The stack up, migrated, seeded, running the seed page's recipe as written."""
    return chapter.ready(recipe="page")


def run_stack(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.ROOT,
    )


@pytest.fixture
def elsewhere() -> dict[str, str]:
    """Settings for a second stack that must not touch the running one.

    Its state is not under pytest's tmp_path: every pytest session run as root makes
    /tmp/pytest-of-root private again, which would lock out PostgreSQL's service user."""
    state = Path(tempfile.mkdtemp(prefix="stack-elsewhere-"))
    state.chmod(0o755)
    ports = dict(zip(isolated.PORT_SETTINGS, map(str, processes.free_ports(len(isolated.PORT_SETTINGS))), strict=True))
    yield {"STACK_MODE": "native", "STACK_STATE_DIR": str(state / "state"), **ports}
    shutil.rmtree(state, ignore_errors=True)


# --- Figures (issue 5): what the hostile-input, load and fault tests measured ---

FIGURES: dict[str, dict] = {}
FIGURES_FILE = config.BUILD_DIR / "test-figures.json"


@pytest.fixture(scope="session")
def figures() -> dict[str, dict]:
    """Tests put their figures here; the run prints them at the end and writes FIGURES_FILE."""
    return FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus):
    if not FIGURES:
        return
    import json

    terminalreporter.section("figures")
    for group, values in FIGURES.items():
        shown = ", ".join(f"{name} {value}" for name, value in values.items())
        terminalreporter.write_line(f"{group}: {shown}")
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
    terminalreporter.write_line(f"written to {FIGURES_FILE}")


def path_without(folder, *programs: str) -> str:
    """A PATH like this one in which `programs` are not found: every other program is linked into
    `folder`, so the test sees a laptop where they are not installed."""
    import shutil
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for directory in reversed(os.environ.get("PATH", "").split(os.pathsep)):
        entries = Path(directory).iterdir() if Path(directory).is_dir() else ()
        for entry in entries:
            if entry.name not in programs and shutil.which(entry.name, path=directory):
                link = folder / entry.name
                link.unlink(missing_ok=True)
                link.symlink_to(entry)
    return str(folder)
