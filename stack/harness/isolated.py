"""A throw-away second stack beside the shared one, for tests that break things on purpose.

It runs in subprocesses with its own STACK_STATE_DIR and its own free ports, so restarting
its PostgreSQL, killing its PostgREST or interrupting its migrations never disturbs the
stack the chapters use. Same .env (same JWT secret), so stack.tokens works for both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from .. import config
from ..services import postgres, processes

PORT_SETTINGS = ("CADDY_HTTP_PORT", "NATIVE_POSTGREST_PORT", "NATIVE_POSTGRES_PORT")


class IsolatedStack:
    """up/migrate/seed/stop a private stack; start, stop or kill one of its services."""

    def __init__(self, state_dir: Path | None = None):
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="stack-isolated-"))
        # mkdtemp makes it 0700; PostgreSQL runs as another user when we are root.
        self.state_dir.chmod(0o755)
        self.ports = dict(zip(PORT_SETTINGS, processes.free_ports(len(PORT_SETTINGS)), strict=True))
        # Native whatever .env says: this stack is local processes the tests start, kill and restart.
        overrides = {
            "STACK_MODE": "native",
            "STACK_STATE_DIR": str(self.state_dir),
            **{k: str(v) for k, v in self.ports.items()},
        }
        self.env = {**os.environ, **overrides}
        # What stack.config would read inside the subprocesses, for helpers called from here.
        self.variables = {**config.settings(), **overrides}

    # --- running the stack's own commands in a subprocess ---

    def python(self, code: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run Python with this stack's environment (stack.config reads it at import)."""
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=config.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def step(self, name: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """`python -m stack <name>` for this stack; raise with its output when it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "stack", name],
            cwd=config.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"isolated `stack {name}` failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self) -> IsolatedStack:
        # One process for every step: each `python -m stack` costs a second of start-up.
        self.python(
            "from stack.recipes import migrate\nfrom stack.services import lifecycle\n"
            "lifecycle.up(); migrate.migrate(); migrate.seed(); lifecycle.serve_after_migrations()"
        )
        return self

    def stop(self) -> None:
        """Stop every service of this stack (only this one), then delete its state.

        Caddy and PostgREST are killed rather than drained: the stack is thrown away, and a
        graceful stop waits for Caddy's idle connections for seconds.
        """
        for name in ("caddy", "postgrest"):
            if (self.state_dir / "run" / f"{name}.pid").exists():
                with contextlib.suppress(ProcessLookupError):
                    self.kill(name)
        self.step("down")
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- single services ---

    def stop_service(self, name: str) -> None:
        self.python(f"from stack.services import {name}; {name}.stop()")

    def start_service(self, name: str) -> None:
        self.python(f"from stack import config; from stack.services import {name}; {name}.start(config.settings())")

    def pid(self, name: str) -> int:
        return int((self.state_dir / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        """SIGKILL a service's process group: a crash, not a shutdown."""
        os.killpg(self.pid(name), signal.SIGKILL)
        # Nobody may reap it (PID 1 in a container often does not), and a zombie still answers
        # kill(pid, 0): drop the pid file so that start_service() starts a new one.
        (self.state_dir / "run" / f"{name}.pid").unlink()

    def spawn(self, code: str) -> subprocess.Popen:
        """Python in its own process group, so a test can kill it together with its children."""
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=config.ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    # --- talking to it ---

    def gateway(self, path: str = "") -> str:
        return f"http://localhost:{self.ports['CADDY_HTTP_PORT']}{path}"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(postgres.conninfo(self.variables), autocommit=True, connect_timeout=5)

    def execute(self, sql: str, params=None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)

    def query(self, sql: str, params=None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()
