"""Another local Unix user on the same machine, probing a learner's stack (issue 22).

On a laptop or a workshop server every other account shares the loopback interface and the
process table with the stack. `run()` creates such a user (root only: useradd), yields it, and
removes it (with anything it left running) however the test ends. `Neighbour.probe()` runs a
standard-library-only script as that user, never as root, and reports what it could reach:

- every TCP port and Unix socket the stack's Caddy listens on: does it serve the admin API?
- files: can it read them (.env, the state folder's secrets)?
- any file the test names: the services' process environments hold JWT_SECRET and passwords
- PostgreSQL as its superuser with no password: does the server let it in?
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time

import psutil

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

PROBE = r"""
import json, os, socket, struct, sys
targets = json.loads(sys.argv[1])
found = {}

def http_get(sock, path, host):
    sock.settimeout(5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data.decode(errors="replace")

def admin_answer(reply):
    status = reply.split(" ", 2)[1] if reply.startswith("HTTP/") else "?"
    body = reply.split("\r\n\r\n", 1)[-1]
    return "admin API served its config" if status == "200" and '"apps"' in body else f"no admin API (HTTP {status})"

for port in targets["tcp_ports"]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            found[f"tcp {port}"] = admin_answer(http_get(sock, "/config/", f"localhost:{port}"))
    except OSError as error:
        found[f"tcp {port}"] = f"refused: {type(error).__name__}"
for path in targets["unix_sockets"]:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(path)
            found[f"unix {path}"] = admin_answer(http_get(sock, "/config/", "127.0.0.1"))
    except OSError as error:
        found[f"unix {path}"] = f"refused: {type(error).__name__}"
for path in targets["files"]:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        found[f"file {path}"] = "read"
    except OSError as error:
        found[f"file {path}"] = f"refused: {type(error).__name__}"
if "postgres" in targets:
    port, user = targets["postgres"]
    # A protocol 3.0 StartupMessage as `user` with no password: the server asks for one (R, code
    # 10 SASL or 5 MD5 or 3 cleartext), refuses (E), or lets us in (R, code 0).
    params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", "app")))
    body = struct.pack("!i", 196608) + params + b"\0"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(struct.pack("!i", len(body) + 4) + body)
            kind = sock.recv(1)
            length = struct.unpack("!i", sock.recv(4))[0]
            rest = sock.recv(length - 4)
            code = struct.unpack("!i", rest[:4])[0] if kind == b"R" else None
            found["postgres superuser"] = "logged in" if code == 0 else (
                "asked for a password" if kind == b"R" else "refused")
    except OSError as error:
        found["postgres superuser"] = f"unreachable: {type(error).__name__}"
print(json.dumps(found))
"""


def listening(pid: int) -> tuple[list[int], list[str]]:
    """The TCP ports and Unix socket paths a process (and its children) listens on (as root)."""
    tcp, unix = set(), set()
    process = psutil.Process(pid)
    for each in [process, *process.children(recursive=True)]:
        for connection in each.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                tcp.add(connection.laddr.port)
        for connection in each.net_connections(kind="unix"):
            if connection.laddr and connection.status in (psutil.CONN_LISTEN, psutil.CONN_NONE):
                unix.add(connection.laddr)
    return sorted(tcp), sorted(unix)


class Neighbour:
    def __init__(self, name: str):
        self.name = name

    def probe(self, targets: dict, timeout: float = 60) -> dict[str, str]:
        """Run PROBE as this user with the system's Python (one under /root would be out of reach)."""
        python = shutil.which("python3", path=SYSTEM_PATH) or sys.executable
        result = subprocess.run(
            ["runuser", "-u", self.name, "--", str(python), "-I", "-c", PROBE, json.dumps(targets)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if result.returncode != 0:
            raise RuntimeError(f"the probe failed as {self.name}: {result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def run(env: dict[str, str] | None = None):
    """A new unprivileged Unix user for the duration of the block; removed however it ends."""
    if os.geteuid() != 0:
        raise PermissionError("creating another Unix user needs root")
    name = (env or {}).get("NEIGHBOUR_NAME") or f"neighbour{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield Neighbour(name)
    finally:
        uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True).stdout.strip() or -1)
        for process in psutil.process_iter(["uids"]):
            if process.info["uids"] and process.info["uids"].real == uid:
                with contextlib.suppress(psutil.Error):
                    process.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["userdel", name], capture_output=True).returncode in (0, 6):
                break
            time.sleep(0.2)
