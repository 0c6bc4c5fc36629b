"""Docker Compose or native: which way this machine runs the stack."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from . import config


@functools.cache
def uses_compose() -> bool:
    """STACK_MODE=compose|native; by default compose only where a Docker engine answers."""
    mode = os.environ.get("STACK_MODE") or (
        config.read_env_file().get("STACK_MODE") if config.ENV_FILE.exists() else None
    )
    if mode in ("compose", "native"):
        return mode == "compose"
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


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
