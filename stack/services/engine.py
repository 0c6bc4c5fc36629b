"""A Docker engine for STACK_MODE=compose: the one that answers, or a private one (`make engine`).

Where a Docker engine answers (Docker Desktop, a system dockerd, DOCKER_HOST), it is used and nothing
is changed. Where none answers and this is Linux as root, Debian's docker.io is installed if missing
and a private dockerd is started with its own data root, exec root and socket under
~/.cache/superstack-jwt/docker, on the vfs storage driver and without touching the host's network
rules (--iptables=false --ip-masq=false). `make engine-stop` stops that one, and only that one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil

from .. import config
from ..errors import StackError
from .processes import say

ENGINE_DIR = config.CACHE_DIR / "docker"
SOCKET = ENGINE_DIR / "docker.sock"
DATA_ROOT = ENGINE_DIR / "data"
EXEC_ROOT = ENGINE_DIR / "exec"
PID_FILE = ENGINE_DIR / "dockerd.pid"
LOG_FILE = ENGINE_DIR / "dockerd.log"
PRIVATE_HOST = f"unix://{SOCKET}"


def server_version(env: dict[str, str] | None = None) -> str | None:
    """The engine's version when `docker` reaches one with this environment, else None."""
    if not shutil.which("docker"):
        return None
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def private_pid() -> int | None:
    """The pid of the dockerd this module started, while it runs."""
    try:
        pid = int(PID_FILE.read_text())
        process = psutil.Process(pid)
        if str(EXEC_ROOT) in " ".join(process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE:
            return pid
    except (FileNotFoundError, ValueError, psutil.Error):
        pass
    return None


def private_environment() -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": PRIVATE_HOST}


def export_line() -> str:
    return f"export DOCKER_HOST={PRIVATE_HOST}"


def dockerd_command() -> list[str]:
    return [
        "dockerd",
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip-masq=false",
        f"--data-root={DATA_ROOT}",
        f"--exec-root={EXEC_ROOT}",
        f"--pidfile={ENGINE_DIR / 'dockerd.own.pid'}",
        f"--host={PRIVATE_HOST}",
    ]


def install_docker_io() -> None:
    """Debian's Docker Engine (20.10 on Debian 12), with apt's lists refreshed first."""
    if not shutil.which("apt-get"):
        raise StackError(
            "there is no `dockerd` and no apt-get to install it with.",
            "install Docker (https://docs.docker.com/engine/install/), then `make engine` again",
        )
    say("installing Debian's docker.io (apt-get update, then apt-get install docker.io)")
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "docker.io"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=quiet)
        if result.returncode != 0:
            raise StackError(
                f"`{' '.join(argv)}` failed:\n{result.stderr.strip()}", "fix apt, then `make engine` again"
            )


def start_private(timeout: float = 60) -> None:
    if not shutil.which("dockerd"):
        install_docker_io()
    for folder in (DATA_ROOT, EXEC_ROOT):
        folder.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    say(f"starting a private dockerd (vfs, no iptables) with its state in {ENGINE_DIR}")
    with open(LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            dockerd_command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(LOG_FILE.read_text(errors="replace").splitlines()[-5:])
            raise StackError(f"dockerd exited with code {process.returncode}:\n{tail}", f"read {LOG_FILE}")
        if server_version(private_environment()):
            return
        time.sleep(0.5)
    raise StackError(f"the private dockerd did not answer within {timeout:.0f} s.", f"read {LOG_FILE}")


def ensure() -> dict[str, str]:
    """An engine that answers; returns the environment that reaches it (DOCKER_HOST set for a private one)."""
    if private_pid() and server_version(private_environment()):
        return private_environment()
    version = server_version()
    if version:
        say(f"using the Docker engine that answers ({version}); nothing changed")
        return dict(os.environ)
    if os.environ.get("DOCKER_HOST"):
        raise StackError(
            f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer.",
            "start that engine, or unset DOCKER_HOST and run `make engine` again",
        )
    if sys.platform != "linux" or os.geteuid() != 0:
        raise StackError(
            "no Docker engine answers.",
            "start Docker Desktop (or your system's dockerd); only as root on Linux does `make engine` start one",
        )
    start_private()
    return private_environment()


def stop() -> bool:
    """Stop the private dockerd (and the containerd it started); never any other engine."""
    pid = private_pid()
    if pid is None:
        say("no private dockerd of this project runs; nothing stopped")
        PID_FILE.unlink(missing_ok=True)
        return False
    process = psutil.Process(pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    PID_FILE.unlink(missing_ok=True)
    say(f"stopped the private dockerd (pid {pid})")
    return True


def is_private(env: dict[str, str] | None = None) -> bool:
    return (env or os.environ).get("DOCKER_HOST") == PRIVATE_HOST
