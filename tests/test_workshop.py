"""For workshops: a wheelhouse makes `make setup` install without network (README, "For workshops").

The real thing was checked by hand: `make wheelhouse`, then `unshare -n make setup` in a fresh clone
(no network at all) installs everything. Here, what setup would run, with and without one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stack import config


def setup_commands(wheelhouse: Path) -> str:
    """`make setup`'s commands as make would run them (-n: print only; -B: as if nothing were installed)."""
    result = subprocess.run(
        ["make", "-n", "-B", "setup", f"WHEELHOUSE={wheelhouse}"],
        cwd=config.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_setup_installs_from_a_wheelhouse_without_network(tmp_path):
    (tmp_path / "psycopg-3.3.9-cp311-none-any.whl").write_bytes(b"")  # make only looks for *.whl
    commands = setup_commands(tmp_path)
    pip_line = next(line for line in commands.splitlines() if "pip install" in line and "uv==" in line)
    uv_line = next(line for line in commands.splitlines() if "uv pip install" in line)
    assert f"--no-index --find-links {tmp_path}" in pip_line
    assert f"--offline --no-index --find-links {tmp_path}" in uv_line


def test_setup_uses_the_index_without_a_wheelhouse(tmp_path):
    commands = setup_commands(tmp_path)  # an empty folder: no wheels
    assert "--no-index" not in commands and "--offline" not in commands
