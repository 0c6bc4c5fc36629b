"""`python -m stack <step>`: the seed page's steps, one command each (the Makefile calls these)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import config, recipes, secret
from .errors import StackError
from .recipes import migrate
from .services import caddy, compose, lifecycle


def psql(args: list[str]) -> int:
    """Superuser psql; SQL on stdin works like the page's `bin/postgres psql < file`."""
    from . import db

    argv, env = db.psql_argv(*args)
    code = subprocess.run(argv, env=env).returncode
    if code == 2:  # psql's code for "no connection to the server"
        print("  fix: is the stack up? `make up` (then `make status`)", file=sys.stderr)
    return code


def warn_if_secrets_disagree(prefix: str = "") -> None:
    """.env's JWT_SECRET and the one PostgreSQL signs with (migration 02) must be the same."""
    warning = secret.disagreement(config.settings())
    if warning:
        print(f"{prefix}{warning}", flush=True)


def recipe_line() -> str:
    """Which recipe the running stack serves, for `make status`."""
    try:
        halves = recipes.parts()
    except Exception:  # the auth schema or the Caddy admin API is not there yet
        return "recipe: none yet (run `make migrate`)"
    found = recipes.current()
    detail = f" (database {halves['database']}, gateway {halves['gateway']})" if found == "mixed" else ""
    return f"recipe: {found}{detail}; switch with `make recipe NAME={'page' if found == 'hardened' else 'hardened'}`"


def switch_recipe(args: list[str]) -> int:
    """`make recipe NAME=page|hardened`: both halves of the running stack to that recipe."""
    if len(args) != 1 or args[0] not in recipes.RECIPES:
        print(f"error: which recipe? got {' '.join(args) or 'none'}", file=sys.stderr)
        print(f"  fix: make recipe NAME={' or NAME='.join(recipes.RECIPES)}", file=sys.stderr)
        return 2
    recipes.use(args[0])
    print(f"recipe: {recipes.current()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument(
        "step",
        choices=[
            *("secret", "caddy", "up", "migrate", "seed", "psql", "logs", "status", "recipe", "down", "reset"),
            "validate",
        ],
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        if options.step == "secret":
            secret.ensure_secret()
        elif options.step == "caddy" and compose.uses_compose():
            compose.run("build", "caddy")  # the page's `docker compose build caddy`
        elif options.step == "caddy":
            caddy.ensure_built()
        elif options.step == "validate" and compose.uses_compose():
            compose.run("run", "--rm", "--no-deps", "caddy", "caddy", "validate", "--config", "/etc/caddy/Caddyfile")
        elif options.step == "validate":
            caddy.validate()
            print(f"Caddyfile valid: {config.CADDYFILE.relative_to(config.ROOT)}")
        elif options.step == "up":
            lifecycle.up()
            warn_if_secrets_disagree(prefix="==> ")
        elif options.step == "migrate":
            migrate.migrate()
            lifecycle.serve_after_migrations()
        elif options.step == "seed":
            migrate.seed()
            lifecycle.serve_after_migrations()
        elif options.step == "psql":
            return psql(options.args)
        elif options.step == "logs":
            lifecycle.logs()
        elif options.step == "status":
            lines = lifecycle.status()
            if lines.get("postgres", "").startswith("up"):
                warn_if_secrets_disagree()
                if lines.get("caddy", "").startswith("up"):
                    print(recipe_line())
        elif options.step == "recipe":
            return switch_recipe(options.args)
        elif options.step == "down":
            lifecycle.down()
        elif options.step == "reset":
            lifecycle.reset()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        detail = (
            (error.stderr or b"").decode(errors="replace").strip() if isinstance(error.stderr, bytes) else error.stderr
        )
        print(
            f"error: {' '.join(map(str, error.cmd))} exited with {error.returncode}\n{detail or ''}".rstrip(),
            file=sys.stderr,
        )
        print("  fix: read the message above, then `make logs` and `make status`", file=sys.stderr)
        return 1
    return 0
