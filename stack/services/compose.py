"""Docker Compose or native: which way this machine runs the stack.

Native is the default everywhere: it is the way CI runs every chapter and test, and the course's
helpers (Caddy reloads, logs, the browser) drive native processes. STACK_MODE=compose (in the
environment or .env) hands the services to Docker Compose instead, with the same compose.yaml.
"""

from __future__ import annotations

import functools
import os

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
    return [
        "docker",
        "compose",
        "--project-directory",
        str(config.STACK_DIR),
        "-f",
        str(config.COMPOSE_FILE),
        "--env-file",
        str(config.ENV_FILE),
        *args,
    ]
