"""Without Chromium, make test leaves the browser chapter and test out with one message; CI refuses (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import path_without
from stack import config
from stack.course import browser

BROWSER_ITEMS = [
    "notebooks/14-in-the-browser.ipynb",
    "tests/test_browser.py",
    "tests/test_site.py",
    "tests/test_diagrams.py",
]


def collect(path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    env.pop("CHROMIUM", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval", "--nbval-current-env", *BROWSER_ITEMS],
        cwd=config.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_chromium_on_path_leaves_the_browser_out_with_one_message(tmp_path):
    result = collect(path_without(tmp_path / "bin", "chromium", "chromium-browser"))
    assert result.returncode == 5, result.stdout + result.stderr  # pytest's "no tests collected"
    messages = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert len(messages) == 1, result.stdout
    assert all(name.split("/")[1] in messages[0] for name in BROWSER_ITEMS), messages
    assert "apt-get install chromium" in messages[0]


def test_with_chromium_nothing_is_left_out():
    """Here, on the PATH this session has: left out exactly when Chromium is missing (never in CI)."""
    result = collect(os.environ["PATH"])
    left_out = "skipped " in result.stdout or "deselected" in result.stdout
    assert left_out == (browser.missing() is not None), result.stdout
    if not left_out:
        assert "14-in-the-browser.ipynb::Cell" in result.stdout and "test_browser.py::" in result.stdout


def test_ci_refuses_to_run_without_chromium(tmp_path):
    path = path_without(tmp_path / "bin", "chromium", "chromium-browser", "apt-get", "make")
    result = subprocess.run(
        ["bash", str(config.ROOT / ".ci" / "run")], env={**os.environ, "PATH": path}, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "CI needs Chromium" in result.stderr and "apt-get install chromium" in result.stderr
