"""Docker Compose or native: which way this machine runs the stack.

Native is the default everywhere: it is the way CI runs every chapter and test, and the course's
helpers (Caddy reloads, logs, the browser) drive native processes. STACK_MODE=compose (in the
environment or .env) hands the services to Docker Compose instead, with the same compose.yaml.
"""

from __future__ import annotations

import functools
import os
import subprocess

from .. import config
from ..errors import StackError


@functools.cache
def uses_compose() -> bool:
    mode = (
        os.environ.get("STACK_MODE")
        or (config.read_env_file().get("STACK_MODE") if config.ENV_FILE.exists() else None)
        or "native"
    )
    if mode not in ("compose", "native"):
        raise StackError(
            f"STACK_MODE={mode} is neither native nor compose.", "set STACK_MODE=native or STACK_MODE=compose"
        )
    return mode == "compose"


def compose_command(*args: str) -> list[str]:
    """`docker compose` on this project; where Docker has no compose plugin, the one compose_cli built."""
    from . import compose_cli

    plugin_home = compose_cli.environment().get("DOCKER_CONFIG")
    return [
        "docker",
        *(["--config", plugin_home] if plugin_home else []),
        "compose",
        "--project-directory",
        str(config.STACK_DIR),
        "-f",
        str(config.COMPOSE_FILE),
        "--env-file",
        str(config.ENV_FILE),
        *args,
    ]


def run(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    """`docker compose <args>`, its output printed through Python's stdout, so that chapter.ready's
    redirect keeps it out of a cell (a subprocess writing to the terminal would reach the cell)."""
    result = subprocess.run(compose_command(*args), capture_output=True, text=True)
    for text in () if quiet else (result.stdout, result.stderr):
        if text.strip():
            print(text.rstrip(), flush=True)
    if check and result.returncode != 0:
        raise StackError(
            f"`docker compose {' '.join(args)}` failed with exit code {result.returncode} (its output is above).",
            "is Docker running? `make doctor` checks it",
        )
    return result
