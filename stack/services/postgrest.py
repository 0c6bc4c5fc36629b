"""PostgREST: the real binary when one is installed, otherwise the compatible server."""

from __future__ import annotations

import shutil
import subprocess
import sys

from .. import config
from . import processes
from .processes import say

COMPATIBLE = "PostgREST-compatible server (stack.postgrest_compat)"


def real_binary(variables: dict[str, str] | None = None) -> str | None:
    variables = config.settings() if variables is None else variables
    named = variables.get("POSTGREST_BIN")
    return named or shutil.which("postgrest")


def describe(variables: dict[str, str] | None = None) -> str:
    """Which PostgREST serves: the real binary and its version, or the compatible server."""
    binary = real_binary(variables)
    if binary:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
        return f"real PostgREST {version or '(version unknown)'} at {binary}"
    from ..postgrest_compat import __version__

    return f"{COMPATIBLE} {__version__}, following PostgREST {config.pins()['POSTGREST_VERSION']}"


def command(variables: dict[str, str] | None = None) -> list[str]:
    binary = real_binary(variables)
    return [binary] if binary else [sys.executable, "-m", "stack.postgrest_compat"]


def start(variables: dict[str, str]) -> None:
    if processes.running_pid("postgrest"):
        return
    port = config.ports(variables).postgrest
    processes.require_free_port(port, "PostgREST", "NATIVE_POSTGREST_PORT")
    say(f"starting {describe(variables)} on 127.0.0.1:{port}")
    process = processes.spawn("postgrest", command(variables), config.native_environment("postgrest", variables))
    processes.wait_for_port(port, 15, process, "postgrest")


def stop() -> bool:
    if processes.stop("postgrest"):
        say("stopped PostgREST")
        return True
    return False
