"""Process and port code that works the same on Linux, macOS and Windows (issue 10).

Liveness, "who holds this port" and group stop go through psutil or POSIX calls, never Linux's
process folder; where that folder is hidden (as on a Mac, which has none), the stack still starts
and stops: shown in a mount namespace with an empty tmpfs over it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import run_stack
from stack import config
from stack.services import processes


def in_state_dir(tmp_path, code: str) -> subprocess.CompletedProcess:
    """Run `code` with a private STACK_STATE_DIR, where spawn() keeps its pid files."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=config.ROOT,
        env={**os.environ, "STACK_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_no_linux_only_process_code_in_the_stack():
    for path in (config.ROOT / "stack").rglob("*.py"):
        text = path.read_text()
        assert "/proc" not in text, path
        assert not re.search(r"^import pwd", text, re.M), f"{path}: pwd does not exist on Windows; import it where used"
        assert not re.search(r"errno\s*==\s*\d", text), f"{path}: compare errno names, not Linux numbers"


def test_a_wildcard_listener_makes_the_port_taken_and_is_named():
    port = processes.free_port()
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", port))
        listener.listen()
        assert not processes.port_is_free(port)
        assert processes.who_listens(port) == f"{processes.describe_process(os.getpid())}"
    assert processes.port_is_free(port)


def test_an_ipv6_loopback_listener_makes_the_port_taken():
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with listener:
        listener.listen()
        assert not processes.port_is_free(listener.getsockname()[1])


def test_a_stale_pid_file_naming_a_stranger_is_ignored(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "caddy.pid").write_text(str(stranger.pid))
        result = in_state_dir(
            tmp_path,
            "from stack.services import processes; print(processes.running_pid('caddy'), processes.stop('caddy'))",
        )
        assert result.stdout.split() == ["None", "False"]
        assert stranger.poll() is None  # never signalled
        assert not (tmp_path / "run" / "caddy.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_ends_the_whole_process_group(tmp_path):
    """A service's children (uvicorn's workers, a shell's sleep) go with it."""
    result = in_state_dir(
        tmp_path,
        """
        import time
        from stack.services import processes
        process = processes.spawn("grouptest", ["sh", "-c", "sleep 60 & echo $! > child.pid; wait", "grouptest"], {})
        while not __import__("pathlib").Path("child.pid").exists():
            time.sleep(0.05)
        print(process.pid, open("child.pid").read().strip())
        """.replace("child.pid", str(tmp_path / "child.pid")),
    )
    leader, child = map(int, result.stdout.split())
    try:
        (tmp_path / "run" / "grouptest.pid").write_text(str(leader))
        stopped = in_state_dir(tmp_path, "from stack.services import processes; print(processes.stop('grouptest'))")
        assert stopped.stdout.strip() == "True"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (processes.alive(leader) or processes.alive(child)):
            time.sleep(0.05)
        assert not processes.alive(leader) and not processes.alive(child)
    finally:
        for pid in (leader, child):
            if processes.ours(pid):
                os.kill(pid, 9)


@pytest.mark.skipif(
    os.name == "nt" or os.geteuid() != 0 or not shutil.which("unshare"), reason="hiding procfs needs root and unshare"
)
def test_up_and_down_work_without_procfs(elsewhere):
    """As on macOS: an empty tmpfs over Linux's process folder, in a private mount namespace."""
    steps = " && ".join(f"{sys.executable} -m stack {step}" for step in ("up", "migrate", "seed", "status", "down"))
    script = f"mount -t tmpfs none /proc && {sys.executable} -c 'from stack.services import processes; assert not processes.process_table_readable()' && {steps}"
    try:
        result = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            cwd=config.ROOT,
            env={**os.environ, **elsewhere},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"^up\s+PostgREST", result.stdout, re.M) and "stopped Caddy" in result.stdout
        ports = (elsewhere[name] for name in ("CADDY_HTTP_PORT", "NATIVE_POSTGREST_PORT", "NATIVE_POSTGRES_PORT"))
        assert all(processes.port_is_free(int(port)) for port in ports), "down left a service running"
    finally:
        run_stack("down", **elsewhere)
