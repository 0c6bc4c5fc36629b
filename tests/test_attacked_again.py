"""Attacked again (issue 22): each finding as the attacker showed it, now refused.

1. another local Unix user reaches nothing of the stack (admin API, .env, secret, superuser);
2. a backreference pattern is cancelled at the role's statement_timeout, and login still answers;
3. on the hardened recipe every login attempt is counted, whatever the method;
4-6. log lines escape control characters, the inputs that gave a 500 give PostgREST's 4xx, and
   the duplicate access_token cookie check catches a tab.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from stack import config
from stack.harness import neighbour
from stack.services import compose, processes

# --- 1. another local user ---------------------------------------------------------------------


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser") or not sys.platform.startswith("linux"),
    reason="needs root (useradd, runuser) on Linux",
)
@pytest.mark.skipif(compose.uses_compose(), reason="probes the native processes")
def test_another_local_user_reaches_nothing_of_the_stack(page_stack):
    caddy_pid = processes.running_pid("caddy")
    tcp_ports, unix_sockets = neighbour.listening(caddy_pid)
    gateway = config.ports().gateway
    pids = {name: processes.running_pid(name) for name in ("caddy", "postgrest")}
    secrets_on_disk = [config.ENV_FILE, *(f"/proc/{pid}/environ" for pid in pids.values())]
    targets = {
        "tcp_ports": tcp_ports,
        "unix_sockets": unix_sockets,
        "files": [str(path) for path in secrets_on_disk],
        "postgres": [config.ports().postgres, config.settings()["POSTGRES_USER"]],
    }
    with neighbour.run() as other:
        found = other.probe(targets)
    # Caddy's only TCP port is the gateway, which serves no admin API; its admin socket refuses them.
    assert tcp_ports == [gateway], (tcp_ports, found)
    assert unix_sockets, "Caddy listens on no Unix socket: where is its admin API?"
    assert not any("served its config" in answer for answer in found.values()), found
    assert all(found[f"unix {path}"] == "refused: PermissionError" for path in unix_sockets), found
    assert all(found[f"file {path}"] == "refused: PermissionError" for path in targets["files"]), found
    assert found["postgres superuser"] == "asked for a password", found
    # The socket's folder: the stack's user only.
    folder = config.caddy_admin_socket().parent
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == os.geteuid()
