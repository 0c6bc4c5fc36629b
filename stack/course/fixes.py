"""The hardening chapters' view of a fix: its lines, read from the recipe's own files, plain or as a
diff against the page's; and a Caddyfile with a learner's lines, served for the length of a check.

Nothing here is copied: the SQL comes from migrations/02-create_auth_schema.sql (the page) and
migrations/hardening/up.sql, the Caddyfiles from stack/caddy/, as they are on disk.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tempfile
from pathlib import Path

from .. import config, db, recipes
from ..services import lifecycle

PAGE_SQL = config.MIGRATIONS_DIR / "02-create_auth_schema.sql"
HARDENED_SQL = recipes.SQL["hardened"]
PAGE_CADDYFILE = recipes.CADDYFILES["page"]
HARDENED_CADDYFILE = recipes.CADDYFILES["hardened"]


class Lines(str):
    """Text shown as a code block in the notebook (and as itself in a terminal)."""

    language = "sql"

    def _repr_markdown_(self) -> str:
        return f"```{self.language}\n{self}\n```"

    def __repr__(self) -> str:
        return str(self)


class Diff(Lines):
    language = "diff"


def function(name: str, path: Path = HARDENED_SQL) -> str:
    """`create ... function auth.<name>(...)` up to its closing `$$;`, as the file has it (the first one)."""
    found = re.search(
        rf"^(?:drop function[^\n]*\n)?create (?:or replace )?function auth\.{re.escape(name)}\(.*?^\$\$[^;\n]*;",
        path.read_text(),
        re.S | re.M,
    )
    if not found:
        raise LookupError(f"no function auth.{name} in {path.name}")
    return re.sub(r"^drop function[^\n]*\n", "", found.group(0))


def statement(start: str, path: Path = HARDENED_SQL) -> Lines:
    """The statement of a SQL file that begins with `start`, up to its semicolon at a line's end."""
    found = re.search(rf"^{re.escape(start)}.*?;$", path.read_text(), re.S | re.M)
    if not found:
        raise LookupError(f"no statement starting {start!r} in {path.name}")
    return Lines(found.group(0))


def shown(name: str) -> Lines:
    """The hardened recipe's definition of auth.<name>, plainly."""
    return Lines(function(name))


def _diff(before: str, after: str, label_before: str, label_after: str) -> Diff:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), label_before, label_after, lineterm="", n=2)
    return Diff("\n".join(lines))


def function_diff(name: str) -> Diff:
    """auth.<name> as the page defines it, then as the hardened recipe does: a unified diff."""
    return _diff(
        function(name, PAGE_SQL),
        function(name, HARDENED_SQL),
        f"02-create_auth_schema.sql: auth.{name}",
        f"hardening/up.sql: auth.{name}",
    )


def caddyfile_lines(*starts: str) -> Lines:
    """Blocks of the hardened Caddyfile, each from the line beginning with one of `starts` to the
    end of that directive (its closing brace, or the line itself), with the comment lines above it."""
    text = HARDENED_CADDYFILE.read_text()
    blocks = []
    for start in starts:
        found = re.search(
            rf"((?:^[ \t]*#[^\n]*\n)*)^([ \t]*){re.escape(start)}[^\n]*?(?:\{{\n.*?^\2\}}|)\n", text, re.S | re.M
        )
        if not found:
            raise LookupError(f"no line starting {start!r} in {HARDENED_CADDYFILE.name}")
        blocks.append(found.group(0).rstrip("\n"))
    shown = Lines("\n\n".join(blocks))
    shown.language = "caddyfile"
    return shown


def caddyfile_diff(*words: str) -> Diff:
    """The page's Caddyfile against the hardened one; with `words`, only the hunks that mention one."""
    diff = _diff(
        PAGE_CADDYFILE.read_text(),
        HARDENED_CADDYFILE.read_text(),
        "stack/caddy/Caddyfile",
        "stack/caddy/Caddyfile.hardened",
    )
    if not words:
        return diff
    head, *hunks = re.split(r"(?m)^(?=@@ )", diff)
    return Diff(head + "".join(hunk for hunk in hunks if any(word in hunk for word in words)).rstrip("\n"))


def without(text: str, *starts: str) -> str:
    """A Caddyfile's text without the directives that begin with `starts` (as caddyfile_lines finds them)."""
    for start in starts:
        text, count = re.subn(
            rf"((?:^[ \t]*#[^\n]*\n)*)^([ \t]*){re.escape(start)}[^\n]*?(?:\{{\n.*?^\2\}}|)\n",
            "",
            text,
            flags=re.S | re.M,
        )
        if not count:
            raise LookupError(f"no line starting {start!r}")
    return text


@contextlib.contextmanager
def caddyfile_served(text: str):
    """The gateway runs this Caddyfile for the length of the block, then the recipe's own again
    (natively or under Docker Compose). A Caddyfile that Caddy refuses raises with Caddy's message."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Caddyfile"
        path.write_text(text)
        previous = recipes.gateway_recipe()
        try:
            recipes.load_caddyfile_file(path)
            yield
        finally:
            recipes.load_caddyfile(previous)


def run_sql(sql: str) -> None:
    """Run a learner's SQL as the superuser that ran the migrations (a clear error if it fails)."""
    with db.connect() as conn:
        conn.execute(sql)


def page_caddyfile_with(lines: str) -> str:
    """The page's Caddyfile with a learner's lines where the hardened one has its request checks:
    after the global request limits, before the public routes."""
    text = PAGE_CADDYFILE.read_text()
    marker = "# --- Public ---"
    if marker not in text:
        raise LookupError(f"{PAGE_CADDYFILE.name} has no {marker!r} line")
    return text.replace(marker, lines.strip("\n") + "\n\n" + marker, 1)


def restore_page_function(name: str) -> None:
    """Put the page's definition of auth.<name> back (after an exercise replaced it)."""
    run_sql(re.sub(r"^create function", "create or replace function", function(name, PAGE_SQL)))


def postgres_log() -> str:
    """What PostgreSQL has logged: its log file natively, `docker compose logs postgres` under Compose."""
    return lifecycle.service_log("postgres")
