"""Apply migrations/*.sql (and seed/*.sql) once each, in name order, as SuperStack's
`bin/postgres migrate` does: each file through $VAR substitution, then psql with ON_ERROR_STOP."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from .. import config, db
from ..errors import StackError
from ..services.processes import say

TRACKING = """
create schema if not exists migrations;
create table if not exists migrations.applied (
    name text primary key,
    sha256 text not null,
    applied_at timestamptz not null default now()
);
-- Files that run their own transactions: marked here before they start, unmarked once recorded,
-- so a later run can say that one was cut off part-way.
create table if not exists migrations.started (
    name text primary key,
    started_at timestamptz not null default now()
);
"""

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|([A-Za-z_]\w*))")
_DOLLAR_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$", re.S)
_OWN_TRANSACTION = re.compile(
    r"^\s*(begin|commit|rollback|start\s+transaction|alter\s+system|vacuum|create\s+database|drop\s+database)\b",
    re.I | re.M,
)


def substitute(sql: str, variables: dict[str, str]) -> str:
    """Replace $NAME and ${NAME} for names in ``variables``; leave every other $ alone.

    Unlike envsubst, `$$`, `$1` and `$body$` survive, and an unknown name is kept as written.
    """

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return variables[name] if name in variables else match.group(0)

    return _VARIABLE.sub(replace, sql)


def runs_in_one_transaction(sql: str) -> bool:
    """Files without their own transaction control (or ALTER SYSTEM, which refuses one) run atomically.

    Function bodies are skipped: their plpgsql `begin` is not a transaction.
    """
    return not _OWN_TRANSACTION.search(_DOLLAR_QUOTED.sub("", sql))


def label(path: Path) -> str:
    return str(path.relative_to(config.ROOT)) if path.is_relative_to(config.ROOT) else str(path)


def interrupted() -> list[str]:
    """Files marked started (they run their own transactions) and never recorded as applied."""
    out = db.psql("-At", "-c", "select name from migrations.started order by name").stdout
    return [line for line in out.splitlines() if line]


def applied() -> dict[str, str]:
    db.psql("-q", "-v", "ON_ERROR_STOP=1", input=TRACKING)
    out = db.psql("-At", "-F", "\t", "-c", "select name, sha256 from migrations.applied order by name").stdout
    return dict(line.split("\t") for line in out.splitlines() if line)


def pending(folder: Path = config.MIGRATIONS_DIR) -> list[Path]:
    done = applied()
    return [path for path in sorted(folder.glob("*.sql")) if label(path) not in done]


def apply_file(path: Path, variables: dict[str, str]) -> None:
    """Run one file; record it only if every statement succeeded (the record is its last statement).

    A file without its own transaction control runs in a single transaction with its record, so a
    failure half-way leaves nothing behind and a rerun after the fix starts clean.
    """
    sql = path.read_text()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = label(path)
    # psql quotes :'variables' itself, so a file name with a quote in it cannot break the record.
    script = (
        substitute(sql, variables)
        + "\n;\ninsert into migrations.applied (name, sha256) values (:'migration_file', :'migration_sha256');\n"
    )
    say(f"applying {name}")
    atomic = ["--single-transaction"] if runs_in_one_transaction(sql) else []
    if not atomic:
        # Outside a single transaction the mark commits before the file's first statement. It shares
        # the file's line 1, so psql's line numbers in an error stay the file's own.
        script = (
            "insert into migrations.started (name) values (:'migration_file') on conflict do nothing; "
            + script
            + "delete from migrations.started where name = :'migration_file';\n"
        )
    result = db.psql(
        "-v",
        "ON_ERROR_STOP=1",
        "-v",
        f"migration_file={name}",
        "-v",
        f"migration_sha256={digest}",
        "-q",
        *atomic,
        "-f",
        "-",
        input=script,
        check=False,
    )
    if result.returncode != 0:
        raise failure(name, result.stderr, atomic=bool(atomic))


def failure(name: str, stderr: str, atomic: bool = True) -> StackError:
    """psql's error as file:line, and what a rerun will find."""
    kept = (
        "nothing of it was kept"
        if atomic
        else "it runs its own transactions, so what it committed before that line stays: check it, or `make reset`"
    )
    match = re.search(r"psql:<stdin>:(\d+): (ERROR|FATAL):\s+(.*)", stderr)
    where = f"at {name}:{match.group(1)}: {match.group(3)}" if match else f"in {name}: {stderr.strip()}"
    return StackError(
        f"migration failed {where}\n{stderr.strip()}",
        f"fix {name} and run `make migrate` again ({name} is not recorded as applied, {kept}; the files before it stay applied)",
    )


def migrate(folder: Path = config.MIGRATIONS_DIR) -> list[str]:
    """Apply every pending file in ``folder``; return their names."""
    variables = config.compose_services()["postgres"]["environment"]
    done = applied()
    for path in sorted(folder.glob("*.sql")):
        recorded = done.get(label(path))
        if recorded and recorded != hashlib.sha256(path.read_bytes()).hexdigest():
            say(
                f"warning: {label(path)} changed after it was applied; it is not applied again (use `make reset` to start over)"
            )
    todo = [path for path in sorted(folder.glob("*.sql")) if label(path) not in done]
    for name in interrupted():
        say(
            f"warning: {name} started on an earlier run and never finished; it runs its own transactions, "
            "so part of it may be committed. It runs again now: if it fails on something that already "
            "exists, check what is there, or `make reset` to start over"
        )
    if not todo:
        say(f"{label(folder)}: nothing to apply")
        return []
    for path in todo:
        apply_file(path, variables)
    # ALTER SYSTEM only reaches new sessions after a reload; PostgREST reloads its schema cache on NOTIFY,
    # and its configuration, with the roles' settings (07's statement_timeout), on 'reload config'.
    say("reloading PostgreSQL's configuration and PostgREST's schema cache")
    db.psql(
        "-q",
        "-c",
        "select pg_reload_conf()",
        "-c",
        "notify pgrst, 'reload schema'",
        "-c",
        "notify pgrst, 'reload config'",
    )
    return [label(path) for path in todo]


def seed() -> list[str]:
    return migrate(config.SEED_DIR)


def run_sql_file(path: Path) -> subprocess.CompletedProcess:
    """Feed a file to psql on stdin, like the page's `bin/postgres psql < file`."""
    return db.psql("-v", "ON_ERROR_STOP=1", input=path.read_text(), check=False)
