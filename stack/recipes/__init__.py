"""Which recipe the stack runs: the seed page's as written ("page"), or the hardened one.

Chapters before the hardening chapter call use("page"); the hardening chapter and those
after it call use("hardened"). Switching is idempotent and works in both directions, so
every chapter reruns on its own.

A recipe has two halves, each read from the running stack, never remembered here:
- the database: migrations/hardening/up.sql then each up.d/*.sql in name order, or each
  down.d/*.sql in reverse name order then down.sql, run like migrations (psql with
  ON_ERROR_STOP, $VAR substitution) but not recorded as such; the last, up.d/99-recipe-marker.sql,
  marks the auth schema with a comment, down.sql removes it. A chapter that adds a fix to the hardened recipe adds
  its own pair, up.d/NN-name.sql and down.d/NN-name.sql;
- the gateway: stack/caddy/Caddyfile.hardened or the page's Caddyfile, loaded into the
  running Caddy; the hardened one sets `vars recipe hardened`, visible in Caddy's config.
`make up` always starts Caddy with the page's Caddyfile, so after a Caddy restart use()
notices the gateway half is missing and loads it again.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import requests

from .. import config, db, http, secret
from ..errors import StackError
from ..services import caddy
from ..services.processes import say
from . import migrate

RECIPES = ("page", "hardened")
HARDENING_DIR = config.MIGRATIONS_DIR / "hardening"
SQL = {"hardened": HARDENING_DIR / "up.sql", "page": HARDENING_DIR / "down.sql"}
CADDYFILES = {"hardened": config.STACK_DIR / "caddy" / "Caddyfile.hardened", "page": config.CADDYFILE}
MARKER = "recipe: hardened"
PAGE_FUNCTIONS = "-- <page functions>"
_FUNCTION = re.compile(r"^create (?:or replace )?function .*?^\$\$[^;\n]*;", re.S | re.M)


def page_functions() -> str:
    """Every function of the page's auth migration, as `create or replace` (down.sql restores them)."""
    page = (config.MIGRATIONS_DIR / "02-create_auth_schema.sql").read_text()
    return "\n\n".join(re.sub(r"^create function", "create or replace function", f) for f in _FUNCTION.findall(page))


def database_recipe() -> str:
    marker = db.query("select obj_description('auth'::regnamespace, 'pg_namespace')")[0][0]
    return "hardened" if marker == MARKER else "page"


def gateway_config() -> dict:
    """The running Caddy's JSON configuration, from its admin API (stack.services.caddy's socket)."""
    return caddy.admin_config()


def gateway_recipe() -> str:
    servers = gateway_config().get("apps", {}).get("http", {}).get("servers", {})
    for server in servers.values():
        for route in server.get("routes", []):
            for handler in route.get("handle", []):
                if handler.get("handler") == "vars" and handler.get("recipe") == "hardened":
                    return "hardened"
    return "page"


def parts() -> dict[str, str]:
    """Each half's recipe, e.g. {"database": "hardened", "gateway": "page"} after a Caddy restart."""
    return {"database": database_recipe(), "gateway": gateway_recipe()}


def current() -> str:
    """The recipe in force: "page" or "hardened", or "mixed" when the two halves disagree."""
    database, gateway = parts().values()
    return database if database == gateway else "mixed"


def sql_files(recipe: str) -> list[Path]:
    """The files that bring the database to ``recipe``, in the order they run."""
    if recipe == "hardened":
        return [SQL["hardened"], *sorted((HARDENING_DIR / "up.d").glob("*.sql"))]
    return [*sorted((HARDENING_DIR / "down.d").glob("*.sql"), reverse=True), SQL["page"]]


def apply_sql(recipe: str) -> None:
    variables = config.compose_services()["postgres"]["environment"]
    for path in sql_files(recipe):
        sql = path.read_text().replace(PAGE_FUNCTIONS, page_functions())
        result = db.psql(
            "-v", "ON_ERROR_STOP=1", "-q", "-f", "-", input=migrate.substitute(sql, variables), check=False
        )
        if result.returncode != 0:
            raise migrate.failure(migrate.label(path), result.stderr)


def wait_for_schema_cache(recipe: str, timeout: float = 5) -> None:
    """Until PostgREST has reloaded its schema cache (it names the auth schema by its comment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(http.gateway("/rest/"), headers={"Accept-Profile": "auth"}, timeout=5)
        if response.ok and (response.json().get("info", {}).get("title") == MARKER) == (recipe == "hardened"):
            return
        time.sleep(0.05)
    raise StackError(f"PostgREST did not reload its schema cache within {timeout:.0f} s.", "read `make logs`")


def wait_for_signing_secret(recipe: str, timeout: float = 5) -> None:
    """Until new sessions see pgrst.jwt_secret as the recipe keeps it: the page's functions read
    it there, the hardened recipe removes it (a configuration reload is not instant)."""
    wanted = config.settings().get("JWT_SECRET") if recipe == "page" else None
    deadline = time.monotonic() + timeout
    while secret.in_database() != wanted:
        if time.monotonic() > deadline:
            raise StackError("PostgreSQL did not reload its configuration.", "read `make logs`")
        time.sleep(0.05)


def load_caddyfile(recipe: str) -> None:
    load_caddyfile_file(CADDYFILES[recipe])


def load_caddyfile_file(path: Path, variables: dict[str, str] | None = None) -> None:
    """`caddy reload` with this Caddyfile into the running gateway (natively, or inside its container:
    stack.services.caddy.reload); Caddy validates it first and keeps the configuration it had when it
    refuses, with its message."""
    caddy.reload(config.settings() if variables is None else variables, caddyfile=path)


def use(recipe: str) -> str:
    """Bring both halves to ``recipe``; does nothing for a half that is already there."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}")
    if database_recipe() != recipe:
        say(f"database: applying {migrate.label(SQL[recipe])}")
        apply_sql(recipe)
        wait_for_signing_secret(recipe)
        wait_for_schema_cache(recipe)
    if gateway_recipe() != recipe:
        say(f"gateway: loading {migrate.label(CADDYFILES[recipe])}")
        load_caddyfile(recipe)
    if current() != recipe:
        raise StackError(f"the stack is {parts()} after switching to {recipe!r}.", "read `make logs`")
    return recipe


@contextlib.contextmanager
def caddyfile_served(caddyfile: Path, variables: dict[str, str] | None = None):
    """Serve another Caddyfile for the duration of a `with` block, then always reload the recipe's own."""
    previous = CADDYFILES[gateway_recipe()]
    load_caddyfile_file(caddyfile, variables)
    try:
        yield
    finally:
        load_caddyfile_file(previous, variables)
