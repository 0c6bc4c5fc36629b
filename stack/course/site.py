"""Run the course: execute each chapter against the live stack, render HTML and an index.

`python -m stack.course run` is `make tutorial`; `python -m stack.course refresh [names]`
re-executes chapters in place so their stored outputs are the ones strict nbval compares.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from .. import config
from ..services.processes import say

NOTEBOOKS_DIR = config.ROOT / "notebooks"
HTML_DIR = config.BUILD_DIR / "html"
MERMAID_VERSION = "11.10.0"
MODULE_PLACEHOLDER = "mermaid-module-not-used"
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


def title(notebook: nbformat.NotebookNode, path: Path) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip().replace("`", "")
    return path.stem


def mermaid_script() -> Path | None:
    """mermaid.min.js from the npm registry (fetched once into the cache), or None without npm."""
    cache = config.CACHE_DIR / f"mermaid-{MERMAID_VERSION}"
    script = cache / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if not script.exists() and shutil.which("npm"):
        say(f"fetching mermaid {MERMAID_VERSION} from npm (once) so the HTML shows diagrams offline")
        command = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefer-offline"]
        # Without a network npm retries for minutes: a room with bad Wi-Fi must not wait on a nicety.
        command += ["--fetch-retries=1", "--fetch-timeout=15000", "--prefix", str(cache), f"mermaid@{MERMAID_VERSION}"]
        try:
            subprocess.run(command, check=False, capture_output=True, timeout=90)
        except subprocess.TimeoutExpired:
            pass
        if not script.exists():
            say(
                "could not fetch mermaid (no network?): the HTML takes it from a CDN when opened online, "
                "and shows each diagram as its source text otherwise"
            )
    return script if script.exists() else None


def local_mermaid() -> str | None:
    """Mermaid copied next to the HTML, so diagrams render offline; its path relative to the pages."""
    script = mermaid_script()
    if script is None:
        return None
    (HTML_DIR / "mermaid").mkdir(parents=True, exist_ok=True)
    shutil.copy2(script, HTML_DIR / "mermaid" / "mermaid.min.js")
    return "mermaid/mermaid.min.js"


def diagrams(path: Path) -> list[str]:
    """The mermaid blocks of a notebook's Markdown cells (or of a Markdown file)."""
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    return re.findall(r"```mermaid\n(.*?)```", text, re.S)


def render(notebook: nbformat.NotebookNode, path: Path, mermaid: str | None) -> Path:
    exporter = HTMLExporter(template_name="lab")
    if mermaid:
        exporter.mermaid_js_url = MODULE_PLACEHOLDER
        exporter.mermaid_layout_elk_js_url = ""  # a CDN import that fails offline and stops every diagram
    body, _ = exporter.from_notebook_node(notebook)
    if mermaid:
        # Browsers refuse to import an ES module from file://, so the page loads mermaid's classic
        # build with a plain <script> and the template's renderer takes it from `window`.
        body = body.replace(f'(await import("{MODULE_PLACEHOLDER}")).default', "window.mermaid")
        body = body.replace('<script type="module">', f'<script src="{mermaid}"></script>\n<script type="module">', 1)
    # A <br/> left as HTML inside <pre class="mermaid"> becomes an element, and the renderer reads text only.
    body = re.sub(
        r'(<pre class="mermaid">)(.*?)(</pre>)',
        lambda m: m.group(1) + re.sub(r"<br\s*/?>", "&lt;br/&gt;", m.group(2)) + m.group(3),
        body,
        flags=re.S,
    )
    target = HTML_DIR / f"{path.stem}.html"
    target.write_text(body)
    return target


def write_index(results: list[tuple[Path, str, bool, float]]) -> Path:
    rows = "".join(
        f"<tr><td class='{'pass' if ok else 'fail'}'>{'passed' if ok else 'FAILED'}</td><td><a href='{html.escape(path.stem)}.html'>{html.escape(name)}</a></td>"
        f"<td>{seconds:.1f} s</td></tr>"
        for path, name, ok, seconds in results
    )
    index = HTML_DIR / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>JWT Authentication on SuperStack</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto}td{padding:.3rem .8rem}"
        ".pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}</style>"
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
        notebook, failure = execute(path)  # a failed chapter is rendered as far as it ran, error included
        ok = failure is None
        if failure:
            print(failure[-2000:], file=sys.stderr)
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
        notebook, failure = execute(path)
        if failure:
            print(failure[-2000:], file=sys.stderr)
            return 1  # never store the outputs of a failed run
        nbformat.write(notebook, path)
        print(f"refreshed {path.name} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.course")
    parser.add_argument("action", choices=["run", "refresh"])
    parser.add_argument("names", nargs="*", help="parts of chapter file names (default: all)")
    options = parser.parse_args()
    return run(options.names) if options.action == "run" else refresh(options.names)
