"""Starting and stopping the native services as background processes."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from ..config import LOG_DIR, RUN_DIR
from ..errors import StackError

if TYPE_CHECKING:
    import pwd

SERVICE_USER = "superstack"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on right now (held open together, so they are distinct)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    return free_ports(1)[0]


def port_is_free(port: int) -> bool:
    """Nobody listens on the port on IPv4 or IPv6 loopback, nor on every interface (Caddy binds all).

    A connection attempt finds any listener, a wildcard one included; the bind then finds a port
    held without listening. SO_REUSEADDR (so TIME_WAIT left by a stopped service does not count)
    only on Linux: on macOS and BSD it lets the bind succeed beside a wildcard listener.
    """
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            probe = socket.socket(family)
        except OSError:  # no IPv6 on this machine
            continue
        with probe:
            probe.settimeout(0.5)
            try:
                if probe.connect_ex((host, port)) == 0:
                    return False
            except OSError:
                pass
        with socket.socket(family) as probe:
            if sys.platform == "linux":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if family == socket.AF_INET6 and error.errno == errno.EADDRNOTAVAIL:  # ::1 not configured
                    continue
                return False
    return True


def who_listens(port: int) -> str:
    """The process holding a port, when the system tells (it names the culprit in the error)."""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
                if connection.pid:
                    return describe_process(connection.pid)
    except (psutil.AccessDenied, OSError):  # macOS without root, or no procfs
        pass
    if shutil.which("lsof"):  # macOS ships it; it sees the user's own processes without root
        out = subprocess.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], capture_output=True, text=True, timeout=5
        ).stdout
        fields = dict((line[0], line[1:]) for line in out.splitlines() if line[:1] in ("p", "c"))
        if "p" in fields:
            return f"{fields.get('c', '?')} (pid {fields['p']})"
    return ""


def describe_process(pid: int) -> str:
    try:
        return f"{psutil.Process(pid).name()} (pid {pid})"
    except psutil.Error:
        return f"pid {pid}"


def require_free_port(port: int, service: str, setting: str) -> None:
    if not port_is_free(port):
        holder = who_listens(port)
        raise StackError(
            f"port {port}, which {service} needs, is already taken" + (f" by {holder}" if holder else "") + ".",
            f"stop that program, or set {setting}=<another port> in .env",
        )


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen | None = None, name: str = "", log: Path | None = None
) -> None:
    log = log or log_path(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(
                f"{name} exited with code {process.returncode} while starting.",
                f"read its log: {log} (or `make logs`)",
            )
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise StackError(f"{name} did not listen on port {port} within {timeout:.0f} s.", f"read its log: {log}")


def log_path(name: str) -> Path:
    return LOG_DIR / f"{name}.log"


def private_log(name: str) -> Path:
    """A service's log, readable by its owner only: logs hold requests, and the page's recipe has
    PostgreSQL log the JWT secret. The folder is 0700, or 0710 for the group of the system user
    PostgreSQL runs as under root, so that it can open its own log there and list nothing."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    user = unprivileged_user()
    if user is None:
        LOG_DIR.chmod(0o700)
    else:
        os.chown(LOG_DIR, -1, user.pw_gid)
        LOG_DIR.chmod(0o710)
    path = log_path(name)
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    path.chmod(0o600)  # a log made before this rule
    return path


def pid_path(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


@functools.cache
def process_table_readable() -> bool:
    """psutil sees processes here (on Linux it reads procfs, which a container or sandbox may hide)."""
    try:
        return bool(psutil.Process(os.getpid()).cmdline())
    except (psutil.Error, OSError):
        return False


def ours(pid: int) -> bool:
    """A process with this pid exists and is ours to signal (a zombie counts), by POSIX's signal 0."""
    if os.name == "nt":  # os.kill(pid, 0) would end it there
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except OSError:  # ProcessLookupError: gone; PermissionError: another user's
        return False
    return True


def running_pid(name: str) -> int | None:
    """The pid recorded for a service, if that process is alive and still is that service.

    After a reboot a pid file can name some other process; its command line tells them apart,
    so `make down` never signals a stranger. Where the process table cannot be read at all,
    an existing process of ours with that pid is taken to be the service.
    """
    try:
        pid = int(pid_path(name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not ours(pid):
        return None
    if not process_table_readable():
        return pid
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    return pid if name in command else None


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """Start a long-running service detached from this process, logging to state/logs."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(private_log(name), "ab") as log:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_path(name).write_text(str(process.pid))
    # Whoever stops it (make down, from another process), this process is its parent and must reap it:
    # a long-lived parent such as a notebook's kernel would otherwise keep a `<defunct>` entry.
    threading.Thread(target=process.wait, name=f"reap {name}", daemon=True).start()
    return process


def stop(name: str, timeout: float = 10) -> bool:
    """Ask the service's process group to stop, then kill what is left. True if something ran."""
    pid = running_pid(name)
    pid_path(name).unlink(missing_ok=True)
    if pid is None:
        return False
    for force, grace in ((False, timeout), (True, 2)):
        try:
            signal_group(pid, force)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            reap(pid)
            if not alive(pid):
                return True
            time.sleep(0.05)
    return True


def signal_group(pid: int, force: bool) -> None:
    """SIGTERM/SIGKILL the group spawn() started (POSIX); on Windows, the process and its children."""
    if hasattr(os, "killpg"):
        os.killpg(pid, signal.SIGKILL if force else signal.SIGTERM)
        return
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill() if force else process.terminate()


def alive(pid: int) -> bool:
    """Running, and not a zombie: an exited service whose parent (often PID 1 here) has not reaped it
    yet still answers kill(pid, 0), and waiting for it would cost seconds."""
    if not ours(pid):
        return False
    if not process_table_readable():
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def reap(pid: int) -> None:
    if os.name == "nt":
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root; when we are root, run it as a system user."""
    if os.name == "nt" or os.geteuid() != 0:
        return None
    import pwd  # POSIX only

    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        say(f"running as root: creating system user '{SERVICE_USER}' for PostgreSQL (it refuses to run as root)")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER], check=True
        )
        return pwd.getpwnam(SERVICE_USER)


def make_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Let the service user traverse every folder above ``path`` (a clone under /root is 0700)."""
    for folder in reversed(path.resolve().parents):
        mode = folder.stat().st_mode
        if not mode & 0o001:
            say(
                f"allowing other users to traverse {folder} (chmod o+x) so '{user.pw_name}' can reach the database files"
            )
            folder.chmod(mode | 0o001)
