"""up, down and up again on a second stack: down leaves no process and keeps the data (issue 2)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from conftest import run_stack


def alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return True


def listening(port: str) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", int(port))) == 0


def test_down_stops_everything_and_keeps_the_data(elsewhere):
    state = Path(elsewhere["STACK_STATE_DIR"])
    try:
        assert run_stack("up", **elsewhere).returncode == 0
        assert run_stack("migrate", **elsewhere).returncode == 0
        marker = run_stack("psql", "-c", "create table public.survives_down (id int)", **elsewhere)
        assert marker.returncode == 0, marker.stderr
        pid_files = [state / "run" / "postgrest.pid", state / "run" / "caddy.pid"]
        assert all(alive(p) for p in pid_files)

        down = run_stack("down", **elsewhere)
        assert down.returncode == 0, down.stderr
        assert not any(alive(p) for p in pid_files)
        ports = ("CADDY_HTTP_PORT", "NATIVE_POSTGREST_PORT", "NATIVE_POSTGRES_PORT", "NATIVE_CADDY_ADMIN_PORT")
        assert not any(listening(elsewhere[name]) for name in ports)
        assert "nothing was running" in run_stack("down", **elsewhere).stdout

        assert run_stack("up", **elsewhere).returncode == 0
        kept = run_stack("psql", "-Atc", "select to_regclass('public.survives_down') is not null", **elsewhere)
        assert kept.stdout.strip() == "t"
    finally:
        run_stack("down", **elsewhere)
