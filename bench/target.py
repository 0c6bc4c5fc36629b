"""The running stack as the benchmark sees it: its addresses, whether it is up, and bench users.

Bench users are named bench_cost_N and have a bcrypt hash of cost N. The page's trigger
(auth.encrypt_pass) rehashes every inserted password with gen_salt('bf'), i.e. cost 6, so
the hash is written with triggers off for this one transaction (session_replication_role).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from stack import config, recipes
from stack.recipes import migrate
from stack.services import postgres

from .load import Request, connect, send

PASSWORD = "bench-password"
USER_PREFIX = "bench_cost_"


class StackNotUp(RuntimeError):
    pass


@dataclass(frozen=True)
class Stack:
    gateway: str
    postgrest: str
    conninfo: str


def current() -> Stack:
    """The stack this environment points at (STACK_STATE_DIR and the *_PORT settings pick it)."""
    ports = config.ports()
    # 127.0.0.1 rather than localhost: no name lookup or IPv6 attempt inside the timings.
    return Stack(
        gateway=f"http://127.0.0.1:{ports.gateway}",
        postgrest=f"http://127.0.0.1:{ports.postgrest}",
        conninfo=postgres.conninfo(),
    )


def require_up(stack: Stack) -> None:
    """Raise StackNotUp with the command that fixes it, rather than timing connection errors."""
    for name, url in (("the gateway (Caddy)", f"{stack.gateway}/rest/"), ("PostgREST", f"{stack.postgrest}/")):
        try:
            connection = connect(url)
            send(connection, Request("GET", url))  # any status will do: it answers
            connection.close()
        except OSError as error:
            raise StackNotUp(f"{name} does not answer at {url} ({type(error).__name__}): run `make up` first") from None
    try:
        psycopg.connect(stack.conninfo, connect_timeout=3).close()
    except psycopg.Error as error:
        raise StackNotUp(f"PostgreSQL refuses the superuser connection ({error}): run `make up` first") from None


def prepare(stack: Stack) -> list[str]:
    """Migrations applied and the page's recipe in force (the hardened one rotates refresh tokens,
    which a loop of refreshes with one token would trip); returns what had to be done."""
    require_up(stack)
    done = []
    if migrate.pending():
        migrate.migrate()
        done.append("applied pending migrations")
    if recipes.current() != "page":
        recipes.use("page")
        done.append("switched the stack to the page's recipe")
    return done


def user_name(cost: int) -> str:
    return f"{USER_PREFIX}{cost}"


def create_users(stack: Stack, costs: list[int]) -> dict[int, str]:
    """One user per bcrypt cost; returns each cost's hash (for timing crypt() on its own)."""
    hashes = {}
    with psycopg.connect(stack.conninfo) as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        for cost in costs:
            conn.execute('delete from auth."user" where username = %s', (user_name(cost),))
            hashes[cost] = conn.execute(
                'insert into auth."user" (username, password, role) '
                "values (%s, public.crypt(%s, public.gen_salt('bf', %s)), 'basic_subscriber') returning password",
                (user_name(cost), PASSWORD, cost),
            ).fetchone()[0]
    return hashes


def drop_users(stack: Stack) -> None:
    """Remove every bench user and the refresh tokens their logins left behind."""
    pattern = USER_PREFIX.replace("_", r"\_") + "%"
    with psycopg.connect(stack.conninfo) as conn, conn.transaction():
        conn.execute("delete from auth.refresh_token where username like %s", (pattern,))
        conn.execute('delete from auth."user" where username like %s', (pattern,))
