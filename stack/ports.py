"""Ports for a new .env: the defaults where they are free, else the next free ones, so any number of
copies of the course (other clones, other users on a workshop server) run side by side.

A port nobody listens on yet may already belong to another copy whose stack is down, or whose
`make secret` runs at this very moment. So every choice is recorded, under a lock, in a claims file
in the system's temporary folder that all users share, and a claimed port is never chosen again
while the .env that claimed it still exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .services.processes import free_port, port_is_free

# The settings example.env gives a port, in the order they are chosen.
# (Caddy's admin API has no port: it listens on a Unix socket in the state folder, issue 22.)
SETTINGS = ("CADDY_HTTP_PORT", "NATIVE_POSTGREST_PORT", "NATIVE_POSTGRES_PORT")
CLAIMS_FILE = Path(os.environ.get("STACK_PORT_CLAIMS", Path(tempfile.gettempdir()) / "superstack-jwt-ports.json"))
SEARCH = 200  # how far above a default port to look before taking any free one


def _open_shared(path: Path) -> int:
    """Open the claims file read-write, creating it writable by every user (learners share it).
    An existing file is opened without O_CREAT: Linux's protected_regular refuses O_CREAT on
    another user's file in /tmp even when its mode allows writing."""
    try:
        return os.open(path, os.O_RDWR)
    except FileNotFoundError:
        pass
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:  # another copy created it between the two calls
        return os.open(path, os.O_RDWR)
    with contextlib.suppress(PermissionError):
        os.fchmod(descriptor, 0o666)  # the umask took some bits away
    return descriptor


def _lock(shared) -> None:
    """An exclusive lock on the open claims file until it is closed (Unix; Windows locks its first byte)."""
    try:
        import fcntl
    except ImportError:
        import msvcrt

        shared.seek(0)
        msvcrt.locking(shared.fileno(), msvcrt.LK_LOCK, 1)
        return
    fcntl.flock(shared, fcntl.LOCK_EX)


def _still_claimed(claim: dict) -> bool:
    """A claim lapses when its .env is gone; when that cannot be told (another user's private
    home folder), it holds."""
    try:
        return Path(claim["env"]).exists()
    except (OSError, KeyError, TypeError):
        return True


def _taken(claims: list[dict], port: int) -> bool:
    return any(claim.get("port") == port for claim in claims) or not port_is_free(port)


def _pick(default: int, claims: list[dict], chosen: set[int]) -> int:
    for port in range(default, min(default + SEARCH, 65536)):
        if port not in chosen and not _taken(claims, port):
            return port
    while (port := free_port()) in chosen or _taken(claims, port):
        pass
    return port


def choose(defaults: dict[str, int], env_file: Path, claims_file: Path | None = None) -> dict[str, int]:
    """A free, unclaimed port for each setting (its default when possible), claimed for env_file."""
    descriptor = _open_shared(claims_file or CLAIMS_FILE)
    with os.fdopen(descriptor, "r+") as shared:
        _lock(shared)  # two `make secret` at once must not pick the same ports
        try:
            claims = json.loads(shared.read() or "[]")
        except ValueError:
            claims = []  # a damaged file only loses hints: the ports are still checked for listeners
        claims = [claim for claim in claims if isinstance(claim, dict) and _still_claimed(claim)]
        chosen: dict[str, int] = {}
        for setting, default in defaults.items():
            chosen[setting] = _pick(default, claims, set(chosen.values()))
        claims += [{"port": port, "env": str(env_file)} for port in chosen.values()]
        shared.seek(0)
        shared.truncate()
        shared.write(json.dumps(claims, indent=0))
    return chosen
