"""up, down and up again on a second stack: down leaves no process and keeps the data (issue 2)."""

from __future__ import annotations

import socket
from pathlib import Path

from conftest import run_stack
from stack.services import processes


def listening(port: str) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", int(port))) == 0


def test_down_stops_everything_and_keeps_the_data(elsewhere):
    state = Path(elsewhere["STACK_STATE_DIR"])
    try:
        assert run_stack("up", **elsewhere).returncode == 0
        assert run_stack("migrate", **elsewhere).returncode == 0
        # Logs are private (issue 13): the page's recipe makes PostgreSQL log the JWT secret.
        logs = state / "logs"
        assert logs.stat().st_mode & 0o007 == 0, oct(logs.stat().st_mode)
        assert sorted(log.name for log in logs.iterdir()) == ["caddy.log", "postgres.log", "postgrest.log"]
        assert all(log.stat().st_mode & 0o077 == 0 for log in logs.iterdir()), [
            (log.name, oct(log.stat().st_mode)) for log in logs.iterdir()
        ]
        marker = run_stack("psql", "-c", "create table public.survives_down (id int)", **elsewhere)
        assert marker.returncode == 0, marker.stderr
        # read the pids before down: down deletes the pid files
        pids = [int((state / "run" / name).read_text()) for name in ("postgrest.pid", "caddy.pid")]
        assert all(processes.alive(pid) for pid in pids)

        down = run_stack("down", **elsewhere)
        assert down.returncode == 0, down.stderr
        assert not any(processes.alive(pid) for pid in pids)  # exited (a zombie awaiting its reaper counts as gone)
        ports = ("CADDY_HTTP_PORT", "NATIVE_POSTGREST_PORT", "NATIVE_POSTGRES_PORT")
        assert not any(listening(elsewhere[name]) for name in ports)
        assert "nothing was running" in run_stack("down", **elsewhere).stdout

        assert run_stack("up", **elsewhere).returncode == 0
        kept = run_stack("psql", "-Atc", "select to_regclass('public.survives_down') is not null", **elsewhere)
        assert kept.stdout.strip() == "t"
    finally:
        run_stack("down", **elsewhere)
