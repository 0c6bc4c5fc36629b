"""Starting and stopping the native services as background processes."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..config import LOG_DIR, RUN_DIR
from ..errors import StackError

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
    """Nobody listens on the port on IPv4 or IPv6 loopback (Caddy binds every interface)."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            probe = socket.socket(family)
        except OSError:  # no IPv6 on this machine
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if family == socket.AF_INET6 and error.errno == 99:  # ::1 not configured
                    continue
                return False
    return True


def who_listens(port: int) -> str:
    """The process holding a port, when ss can tell (it names the culprit in the error)."""
    if not shutil.which("ss"):
        return ""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return out.split("users:", 1)[1].strip() if "users:" in out else ""


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


def pid_path(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def running_pid(name: str) -> int | None:
    """The pid recorded for a service, if that process is alive and still is that service.

    After a reboot a pid file can name some other process; its command line tells them apart,
    so `make down` never signals a stranger.
    """
    try:
        pid = int(pid_path(name).read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if name.encode() in command else None


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """Start a long-running service detached from this process, logging to state/logs."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(log_path(name), "ab") as log:
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
    return process


def stop(name: str, timeout: float = 10) -> bool:
    """SIGTERM the service's process group, then SIGKILL what is left. True if something ran."""
    pid = running_pid(name)
    pid_path(name).unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            reap(pid)
            if not alive(pid):
                return True
            time.sleep(0.05)
    return True


def alive(pid: int) -> bool:
    """Running, and not a zombie: an exited service whose parent (often PID 1 here) has not reaped it
    yet still answers kill(pid, 0), and waiting for it would cost seconds."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root; when we are root, run it as a system user."""
    if os.geteuid() != 0:
        return None
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
