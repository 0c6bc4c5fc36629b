"""`python -m stack <step>`: the seed page's steps, one command each (the Makefile calls these)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import config, secret
from .errors import StackError
from .recipes import migrate
from .services import caddy, lifecycle


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument(
        "step",
        choices=["secret", "caddy", "up", "migrate", "seed", "psql", "logs", "status", "down", "reset", "validate"],
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        if options.step == "secret":
            secret.ensure_secret()
        elif options.step == "caddy":
            caddy.ensure_built()
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
            if lifecycle.status().get("postgres", "").startswith("up"):
                warn_if_secrets_disagree()
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
