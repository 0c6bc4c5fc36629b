"""The course site: the executed chapters as a book, built offline with Sphinx, MyST-NB and sphinx-book-theme.

Jupyter Book 1's engine, driven directly: `build()` writes the sources into build/book (the chapters as
executed, an index, the instructor guide, a page for every repository file a chapter cites) and runs
sphinx-build with stack/course/sphinx_conf/conf.py. The result, build/html/index.html, is read from file://
with no network: mermaid is copied into the site and no page loads anything from elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import config
from ..services.processes import say
from . import plan

CONF_DIR = Path(__file__).resolve().parent / "sphinx_conf"
HTML_DIR = config.BUILD_DIR / "html"
NOTEBOOKS_DIR = config.ROOT / "notebooks"
GUIDE = config.ROOT / "docs" / "instructor-guide.md"
MERMAID_VERSION = "11.10.0"
LANGUAGES = {
    ".sql": "postgresql",
    ".yaml": "yaml",
    ".py": "python",
    ".cfg": "ini",
    ".html": "html",
    ".js": "javascript",
}


@dataclass(frozen=True)
class Chapter:
    """One chapter as this run left it: the notebook, whether every cell passed, how long it took."""

    path: Path
    notebook: nbformat.NotebookNode
    ok: bool
    seconds: float | None  # None: as stored, not run now
    not_run: str | None = None  # why this run left it out (no Chromium): shown as stored, and said so


def mermaid_script() -> Path | None:
    """mermaid.min.js from the npm registry (fetched once into the cache), or None without npm."""
    cache = config.CACHE_DIR / f"mermaid-{MERMAID_VERSION}"
    script = cache / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if not script.exists() and shutil.which("npm"):
        say(f"fetching mermaid {MERMAID_VERSION} from npm (once) so the site draws diagrams offline")
        command = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefer-offline"]
        # Without a network npm retries for minutes: a room with bad Wi-Fi must not wait on a nicety.
        command += ["--fetch-retries=1", "--fetch-timeout=15000", "--prefix", str(cache), f"mermaid@{MERMAID_VERSION}"]
        try:
            subprocess.run(command, check=False, capture_output=True, timeout=90)
        except subprocess.TimeoutExpired:
            pass
        if not script.exists():
            say("could not fetch mermaid (no network?): the site shows each diagram as its source text")
    return script if script.exists() else None


def repository_file(target: str, base: Path) -> Path | None:
    """The repository file a relative link or a code span names, if it is one."""
    if "://" in target or target.startswith(("#", "/")) or not target:
        return None
    for folder in (base, config.ROOT):
        path = (folder / target.split("#")[0]).resolve()
        generated = (config.BUILD_DIR, config.STATE_DIR, config.ROOT / "lab", config.ROOT / ".venv")
        if path.is_file() and path.is_relative_to(config.ROOT) and not any(path.is_relative_to(g) for g in generated):
            return path if ".env" not in path.name else None
    return None


def page_for(path: Path) -> str:
    """Where a repository file is shown in the site, relative to the source folder."""
    if path.parent == NOTEBOOKS_DIR and path.suffix == ".ipynb":
        return path.name
    if path == GUIDE:
        return "instructor-guide.md"
    return "files/" + re.sub(r"[^\w.-]", "-", str(path.relative_to(config.ROOT))) + ".md"


def linked(markdown: str, base: Path, cited: set[Path]) -> str:
    """Links and `path` code spans that name repository files point at their pages in the site."""

    def link(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        path = repository_file(target, base)
        if path is None:
            return match.group(0)
        cited.add(path)
        anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
        return f"[{text}]({page_for(path)}{anchor})"

    def span(match: re.Match) -> str:
        path = repository_file(match.group(1), config.ROOT)
        if path is None or path.suffix == ".ipynb":
            return match.group(0)
        cited.add(path)
        return f"[`{match.group(1)}`]({page_for(path)})"

    parts = re.split(r"(```.*?```)", markdown, flags=re.S)  # fenced blocks stay as written
    for index in range(0, len(parts), 2):
        text = re.sub(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)", link, parts[index])
        parts[index] = re.sub(r"(?<![\[`])`([\w.-]+/[\w./-]+|[\w-]+\.\w+)`(?![`\]])", span, text)
    return "".join(parts)


def file_page(path: Path, source: Path) -> str:
    name = str(path.relative_to(config.ROOT))
    language = LANGUAGES.get(path.suffix, "text")
    copy = source / "_repo" / name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, copy)
    return f"# `{name}`\n\nThe repository's `{name}`, as this site was built.\n\n```{{literalinclude}} /_repo/{name}\n:language: {language}\n```\n"


def index_page(chapters: list[Chapter], extra: list[str]) -> str:
    ran = all(c.seconds is not None or c.not_run for c in chapters)
    if ran:
        left_out = [c for c in chapters if c.not_run]
        intro = "Every chapter below was just executed against the live stack" + (
            f", except {len(left_out)} not run here (shown as last executed)" if left_out else ""
        )
        rows = "\n".join(
            f"| [{title(c.notebook, c.path)}]({c.path.name}) | {plan.part(c.path)} |"
            f" {run_result(c)} | {'' if c.not_run else f'{c.seconds:.1f} s'} |"
            for c in chapters
        )
        table = f"| Chapter | Path | This run | Run time |\n|---|---|---|---|\n{rows}"
    else:
        intro = "The chapters below are shown as they were last executed against the live stack"
        table = "| Chapter | Path |\n|---|---|\n" + "\n".join(
            f"| [{title(c.notebook, c.path)}]({c.path.name}) | {plan.part(c.path)} |" for c in chapters
        )
    core = "\n".join(c.path.name for c in chapters if plan.is_core(c.path))
    advanced = "\n".join(c.path.name for c in chapters if not plan.is_core(c.path))
    extras = "\n".join(extra)
    first, last = plan.CORE[0], plan.CORE[-1]
    return f"""# JWT Authentication on SuperStack, live

{intro} (Caddy with caddy-jwt, PostgREST, PostgreSQL 17), and
what you read on each page is what that run printed. To work through them yourself, exercises
unsolved: `make lab`.

**The core path** is chapters {first}-{last}, the seed page's steps in its order: a half-day workshop (the
[instructor guide](instructor-guide.md) has the times). The chapters after it are **advanced**: hardening, the
browser, costs, and beyond the page.

{table}

```{{toctree}}
:caption: Core path
:hidden:
{core}
```

```{{toctree}}
:caption: Advanced
:hidden:
{advanced}
```

```{{toctree}}
:caption: For teachers and the curious
:hidden:
{extras}
```
"""


def run_result(chapter: Chapter) -> str:
    if chapter.not_run:
        return f"**not run**: {chapter.not_run.replace('|', '/')}"
    return "passed" if chapter.ok else "**FAILED**"


def title(notebook: nbformat.NotebookNode, path: Path) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip().replace("`", "")
    return path.stem


def write_sources(chapters: list[Chapter], source: Path) -> None:
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    cited: set[Path] = set()
    for chapter in chapters:
        notebook = nbformat.from_dict(chapter.notebook)  # a copy: the links are rewritten for the site only
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = linked(cell.source, NOTEBOOKS_DIR, cited)
        if chapter.not_run:
            note = f"```{{note}}\nThis chapter was not run in this build ({chapter.not_run}): what follows is its output from its last run.\n```"
            notebook.cells.insert(
                1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0,
                nbformat.v4.new_markdown_cell(note),
            )
        nbformat.write(notebook, source / chapter.path.name)
    extra = []
    if GUIDE.exists():
        (source / "instructor-guide.md").write_text(linked(GUIDE.read_text(), GUIDE.parent, cited))
        extra.append("instructor-guide.md")
    for path in sorted(cited):
        if page_for(path).startswith("files/"):
            (source / page_for(path)).parent.mkdir(exist_ok=True)
            (source / page_for(path)).write_text(file_page(path, source))
    shown = sorted(path for path in cited if page_for(path).startswith("files/"))
    files = [page_for(path) for path in shown]
    if files:
        listing = "\n".join(f"- [`{p.relative_to(config.ROOT)}`]({page_for(p)[6:]})" for p in shown)
        toctree = "\n".join(name[6:] for name in files)
        (source / "files" / "index.md").write_text(
            f"# Repository files\n\nThe files the chapters cite, as this site was built.\n\n{listing}\n\n"
            f"```{{toctree}}\n:hidden:\n{toctree}\n```\n"
        )
        extra.append("files/index.md")
    (source / "index.md").write_text(index_page(chapters, extra))


def build(chapters: list[Chapter], out: Path = HTML_DIR) -> Path:
    """Write the sources next to `out` and render the site into it; its entry page."""
    source = out.parent / "book"
    write_sources(chapters, source)
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(CONF_DIR), str(source), str(out)]
    # Sphinx's warnings (a dead cross-reference, a missing file) are errors: the site must hold together.
    subprocess.run(command + ["-W", "--keep-going"], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    script = mermaid_script()
    if script:
        shutil.copy2(script, out / "_static" / "mermaid.min.js")
    return out / "index.html"


def stored() -> list[Chapter]:
    """The chapters as committed (executed by their last refresh), for building the site without a stack."""
    return [
        Chapter(path, nbformat.read(path, as_version=4), True, None)
        for path in sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    ]


def classic_mermaid(app, pagename, templatename, context, doctree) -> None:
    """Load mermaid with a plain <script>: browsers refuse the plugin's ES module import from file://."""
    scripts = context.get("script_files", [])
    for index, script in enumerate(scripts):
        body = getattr(script, "attributes", {}).get("body", "")
        if "import mermaid from" in body:
            attributes = dict(
                script.attributes, body=re.sub(r"import mermaid from [^;]+;", "const mermaid = window.mermaid;", body)
            )
            scripts[index] = type(script)(None, priority=script.priority, **attributes)
            scripts.insert(
                index,
                type(script)(context["pathto"]("_static/mermaid.min.js", resource=True), priority=script.priority),
            )
            return
