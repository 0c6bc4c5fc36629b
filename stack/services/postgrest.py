"""PostgREST: the real binary when one is installed, otherwise the compatible server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from .. import config
from . import processes
from .processes import say

COMPATIBLE = "PostgREST-compatible server (stack.postgrest_compat)"


def binary_version(binary: str) -> str:
    """`postgrest --version` says "PostgREST 16.2"; the number, or '' when it does not run."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else ""


def _major(version: str) -> str:
    return version.lstrip("v").split(".")[0]


def version_warning(variables: dict[str, str] | None = None) -> str | None:
    """A real PostgREST whose major version is not the pinned one's, named with both versions."""
    variables = config.settings() if variables is None else variables
    pinned = config.pins()["POSTGREST_VERSION"]
    named = variables.get("POSTGREST_BIN")
    binary = named or shutil.which("postgrest")
    if not binary:
        return None
    version = binary_version(binary)
    if _major(version) == _major(pinned):
        return None
    used = "used anyway, as POSTGREST_BIN names it" if named else "not used: the compatible server serves instead"
    return (
        f"{binary} is PostgREST {version or '(version unknown)'}, but the course follows {pinned} ({used}). "
        f"fix: install PostgREST {pinned} (https://github.com/PostgREST/postgrest/releases/tag/{pinned}), "
        "or remove that one from PATH"
    )


def real_binary(variables: dict[str, str] | None = None) -> str | None:
    """POSTGREST_BIN, else a `postgrest` on PATH of the pinned major version."""
    variables = config.settings() if variables is None else variables
    named = variables.get("POSTGREST_BIN")
    if named:
        return named
    found = shutil.which("postgrest")
    if found and _major(binary_version(found)) == _major(config.pins()["POSTGREST_VERSION"]):
        return found
    return None


def describe(variables: dict[str, str] | None = None) -> str:
    """Which PostgREST serves: the real binary and its version, or the compatible server."""
    binary = real_binary(variables)
    if binary:
        return f"real PostgREST {binary_version(binary) or '(version unknown)'} at {binary}"
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
    warning = version_warning(variables)
    if warning:
        say(f"warning: {warning}")
    say(f"starting {describe(variables)} on 127.0.0.1:{port}")
    process = processes.spawn("postgrest", command(variables), config.native_environment("postgrest", variables))
    processes.wait_for_port(port, 15, process, "postgrest")


def stop() -> bool:
    if processes.stop("postgrest"):
        say("stopped PostgREST")
        return True
    return False
