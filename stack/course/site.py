"""Run the course: execute each chapter against the live stack, then build the site (stack.course.book).

`python -m stack.course run` is `make tutorial`; `python -m stack.course refresh [names]`
re-executes chapters in place so their stored outputs are the ones strict nbval compares.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .. import config
from . import book, browser, editions

NOTEBOOKS_DIR = config.ROOT / "notebooks"
TIMES = config.BUILD_DIR / "course-times.json"  # each chapter's run time in the last `make tutorial`
CELL_TIMEOUT = 180


def chapters(names: list[str] | None = None) -> list[Path]:
    found = sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    if names:
        found = [path for path in found if any(name in path.name for name in names)]
    return found


def execute(path: Path) -> tuple[nbformat.NotebookNode, str | None]:
    """Run a chapter; the notebook as far as it got, and the failure (None when every cell passed)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        # Per-cell timestamps would change every stored chapter on every refresh, and clash in every merge.
        record_timing=False,
        kernel_name="python3",
        # The kernel's start-up warnings (e.g. "running over TCP") only clutter the run's report.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        return notebook, str(error)
    return notebook, None


def diagrams(path: Path) -> list[str]:
    """The mermaid blocks of a notebook's Markdown cells (or of a Markdown file)."""
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    return re.findall(r"```mermaid\n(.*?)```", text, re.S)


def run(names: list[str] | None = None, out: Path = book.HTML_DIR) -> int:
    """Execute each chapter against the stack, then build the site from what the run printed."""
    done = []
    for path in chapters(names):
        if browser.needs_browser(path) and browser.missing():
            # Without Chromium the browser chapter cannot pass: shown as last executed, and said so.
            reason = browser.missing()
            print(f"SKIP         {path.name}: not run, {reason}", flush=True)
            done.append(book.Chapter(path, nbformat.read(path, as_version=4), True, None, not_run=reason))
            continue
        started = time.monotonic()
        notebook, failure = execute(path)  # a failed chapter is shown as far as it ran, error included
        if failure:
            print(failure[-2000:], file=sys.stderr)
        done.append(book.Chapter(path, notebook, failure is None, time.monotonic() - started))
        print(f"{'PASS' if failure is None else 'FAIL'}  {done[-1].seconds:5.1f} s  {path.name}", flush=True)
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    TIMES.write_text(
        json.dumps({c.path.stem: round(c.seconds, 1) for c in done if c.seconds is not None}, indent=1) + "\n"
    )
    index = book.build(done, out)
    failed = sum(1 for c in done if not c.ok)
    left_out = sum(1 for c in done if c.not_run)
    print(f"{len(done) - failed - left_out} passed, {failed} failed" + (f", {left_out} not run" if left_out else ""))
    print(f"open {index}")
    return 1 if failed else 0


def refresh(names: list[str] | None = None) -> int:
    """Execute chapters in place (for authors): the stored outputs become this run's."""
    for path in chapters(names):
        started = time.monotonic()
        notebook, failure = execute(path)
        if failure:
            print(failure[-2000:], file=sys.stderr)
            return 1  # never store the outputs of a failed run
        notebook.metadata.update(nbformat.from_dict(editions.kernel_metadata()))  # as JupyterLab would write it
        nbformat.write(notebook, path)
        print(f"refreshed {path.name} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.course")
    parser.add_argument("action", choices=["run", "refresh", "build"], help="build: the site from the stored chapters")
    parser.add_argument("names", nargs="*", help="parts of chapter file names (default: all)")
    options = parser.parse_args()
    if options.action == "build":
        print(f"open {book.build(book.stored())}")
        return 0
    return run(options.names) if options.action == "run" else refresh(options.names)
