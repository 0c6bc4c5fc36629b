"""Without Chromium, make test leaves the browser chapter and test out with one message; CI refuses (issue 10)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat

from conftest import path_without
from stack import config
from stack.course import browser, site

BROWSER_CHAPTERS = [
    str(path.relative_to(config.ROOT))
    for path in sorted(site.NOTEBOOKS_DIR.glob("*.ipynb"))
    if browser.needs_browser(path)
]
BROWSER_ITEMS = [
    *BROWSER_CHAPTERS,
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
        assert f"{BROWSER_CHAPTERS[0]}::Cell" in result.stdout and "test_browser.py::" in result.stdout


def test_the_browser_chapter_is_found_by_name_not_number():
    assert len(BROWSER_CHAPTERS) == 1, BROWSER_CHAPTERS
    assert browser.needs_browser(config.ROOT / "notebooks" / "99-in-the-browser.ipynb")
    assert not browser.needs_browser(config.ROOT / "notebooks" / "05-log-in.ipynb")


def test_tutorial_without_chromium_leaves_the_browser_chapter_out_and_the_site_says_so(tmp_path, monkeypatch, capsys):
    """`make tutorial` (site.run) on a machine with no Chromium: exit 0, one line naming the install.

    The other chapters are taken as stored rather than executed (their runs are the suite's business);
    the site needs them all, since chapters link to each other."""
    monkeypatch.setenv("PATH", path_without(tmp_path / "bin", "chromium", "chromium-browser"))
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(site, "TIMES", tmp_path / "times.json")
    executed = []

    def as_stored(path):
        executed.append(path.name)
        return nbformat.read(path, as_version=4), None

    monkeypatch.setattr(site, "execute", as_stored)
    names = [name.split("/")[-1] for name in BROWSER_CHAPTERS]
    assert site.run(out=tmp_path / "html") == 0
    assert executed and not set(names) & set(executed), executed
    printed = capsys.readouterr().out.splitlines()
    lines = [line for line in printed if "not run" in line and "apt-get install chromium" in line]
    assert len(lines) == 1 and names[0] in lines[0], printed
    index = shown(tmp_path / "html" / "index.html")
    assert "not run : no Chromium found" in index and "sudo apt-get install chromium" in index, index
    page = shown(tmp_path / "html" / names[0].replace(".ipynb", ".html"))
    assert "This chapter was not run in this build" in page


def shown(page) -> str:
    """A page's text as a reader sees it: tags removed, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())


def test_ci_refuses_to_run_without_chromium(tmp_path):
    path = path_without(tmp_path / "bin", "chromium", "chromium-browser", "apt-get", "make")
    result = subprocess.run(
        ["bash", str(config.ROOT / ".ci" / "run")], env={**os.environ, "PATH": path}, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "CI needs Chromium" in result.stderr and "apt-get install chromium" in result.stderr
