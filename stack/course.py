"""Run the course: execute each chapter against the live stack, render HTML and an index.

`python -m stack.course run` is `make tutorial`; `python -m stack.course refresh [names]`
re-executes chapters in place so their stored outputs are the ones strict nbval compares.
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from . import config
from .proc import say

NOTEBOOKS_DIR = config.ROOT / "notebooks"
HTML_DIR = config.BUILD_DIR / "html"
MERMAID_VERSION = "11.10.0"
CELL_TIMEOUT = 180


def chapters(names: list[str] | None = None) -> list[Path]:
    found = sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    if names:
        found = [path for path in found if any(name in path.name for name in names)]
    return found


def execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return notebook


def title(notebook: nbformat.NotebookNode, path: Path) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def local_mermaid() -> str | None:
    """Mermaid from the npm registry, copied next to the HTML so diagrams render offline."""
    target = HTML_DIR / "mermaid"
    if (target / "mermaid.esm.min.mjs").exists():
        return "mermaid/mermaid.esm.min.mjs"
    cache = config.CACHE_DIR / f"mermaid-{MERMAID_VERSION}"
    dist = cache / "node_modules" / "mermaid" / "dist"
    if not dist.exists() and shutil.which("npm"):
        say(f"fetching mermaid {MERMAID_VERSION} from npm (once) so the HTML shows diagrams offline")
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(cache),
                f"mermaid@{MERMAID_VERSION}",
            ],
            check=False,
            capture_output=True,
        )
    if not dist.exists():
        return None
    shutil.copytree(dist, target, dirs_exist_ok=True)
    return "mermaid/mermaid.esm.min.mjs"


def render(notebook: nbformat.NotebookNode, path: Path, mermaid: str | None) -> Path:
    exporter = HTMLExporter(template_name="lab")
    if mermaid:
        exporter.mermaid_js_url = mermaid
    body, _ = exporter.from_notebook_node(notebook)
    target = HTML_DIR / f"{path.stem}.html"
    target.write_text(body)
    return target


def write_index(results: list[tuple[Path, str, bool, float]]) -> Path:
    rows = "".join(
        f"<tr><td>{'✅' if ok else '❌'}</td><td><a href='{html.escape(path.stem)}.html'>{html.escape(name)}</a></td>"
        f"<td>{seconds:.1f} s</td></tr>"
        for path, name, ok, seconds in results
    )
    index = HTML_DIR / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>JWT Authentication on SuperStack</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto}td{padding:.3rem .8rem}</style>"
        "<h1>JWT Authentication on SuperStack</h1><p>Every chapter below was just executed against the live stack.</p>"
        f"<table>{rows}</table>"
    )
    return index


def run(names: list[str] | None = None) -> int:
    HTML_DIR.mkdir(parents=True, exist_ok=True)
    mermaid = local_mermaid()
    results = []
    for path in chapters(names):
        started = time.monotonic()
        try:
            notebook = execute(path)
            ok = True
        except CellExecutionError as error:
            notebook = nbformat.read(path, as_version=4)
            ok = False
            print(str(error)[-2000:], file=sys.stderr)
        seconds = time.monotonic() - started
        render(notebook, path, mermaid)
        results.append((path, title(notebook, path), ok, seconds))
        print(f"{'PASS' if ok else 'FAIL'}  {seconds:5.1f} s  {path.name}", flush=True)
    index = write_index(results)
    failed = sum(1 for *_, ok, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    print(f"open {index}")
    return 1 if failed else 0


def refresh(names: list[str] | None = None) -> int:
    """Execute chapters in place (for authors): the stored outputs become this run's."""
    for path in chapters(names):
        started = time.monotonic()
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"refreshed {path.name} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.course")
    parser.add_argument("action", choices=["run", "refresh"])
    parser.add_argument("names", nargs="*", help="parts of chapter file names (default: all)")
    options = parser.parse_args()
    return run(options.names) if options.action == "run" else refresh(options.names)


if __name__ == "__main__":
    sys.exit(main())
