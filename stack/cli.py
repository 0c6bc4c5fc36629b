"""`python -m stack <step>`: the seed page's steps, one command each (the Makefile calls these)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import caddy, config, migrate, secret, services
from .errors import StackError


def psql(args: list[str]) -> int:
    """Superuser psql; SQL on stdin works like the page's `bin/postgres psql < file`."""
    from . import db

    argv, env = db.psql_argv(*args)
    code = subprocess.run(argv, env=env).returncode
    if code == 2:  # psql's code for "no connection to the server"
        print("  fix: is the stack up? `make up` (then `make status`)", file=sys.stderr)
    return code


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
            services.up()
        elif options.step == "migrate":
            migrate.migrate()
        elif options.step == "seed":
            migrate.seed()
        elif options.step == "psql":
            return psql(options.args)
        elif options.step == "logs":
            services.logs()
        elif options.step == "status":
            services.status()
        elif options.step == "down":
            services.down()
        elif options.step == "reset":
            services.reset()
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
