"""Talking to the stack's database: psql (as the page's `bin/postgres psql`) and psycopg."""

from __future__ import annotations

import os
import subprocess

import psycopg

from . import config
from .errors import StackError
from .services import compose, postgres


def psql_argv(*args: str, variables: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The psql command line and environment for the superuser on the app database."""
    if compose.uses_compose():
        env = config.compose_services(variables)["postgres"]["environment"]
        return (
            compose.compose_command(
                "exec",
                "-T",
                "postgres",
                "psql",
                "-X",
                "-U",
                env["POSTGRES_USER"],
                "-d",
                env.get("POSTGRES_DB", "app"),
                *args,
            ),
            dict(os.environ),
        )
    return postgres.psql_command(*args), {**os.environ, **postgres.superuser_env(variables)}


def psql(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """psql as the superuser; with check, a failure is a StackError carrying psql's own message."""
    argv, env = psql_argv(*args)
    result = subprocess.run(argv, input=input, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise StackError(f"psql failed: {result.stderr.strip()}", "is the stack up? `make up` (then `make status`)")
    return result


def connect(autocommit: bool = True, **kwargs) -> psycopg.Connection:
    """A superuser connection to the app database (for inspecting what the page built)."""
    return psycopg.connect(postgres.conninfo(), autocommit=autocommit, **kwargs)


def query(sql: str, params=None) -> list[tuple]:
    """Run one statement as the superuser; its rows, or [] for a statement that returns none."""
    with connect() as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def connect_as_authenticator(autocommit: bool = True) -> psycopg.Connection:
    """Log in as PostgREST does (the authenticator role), to replay its per-request steps by hand."""
    env = postgres.superuser_env()
    return psycopg.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        dbname=env["PGDATABASE"],
        user="authenticator",
        password=config.settings()["PGRST_AUTHENTICATOR_PASS"],
        autocommit=autocommit,
    )
