"""STACK_MODE=compose: make installs only the notebooks' Python packages; nothing native (issue 10).

Docker runs PostgreSQL, PostgREST and Caddy then, so no target may install their wheels or build
Caddy on the host. `make -n -B` prints every command a target would run, its set-up included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from stack import config

NATIVE = ("requirements-native.txt", "-m stack caddy", "xcaddy")


def targets() -> list[str]:
    text = (config.ROOT / "Makefile").read_text()
    return re.findall(r"^([a-z-]+):.*## ", text, re.M)


def dry_run(target: str, mode: str) -> str:
    result = subprocess.run(
        ["make", "-n", "-B", target, f"STACK_MODE={mode}"], cwd=config.ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("target", [t for t in targets() if t not in ("caddy", "validate")])
def test_no_target_installs_or_builds_a_native_service_in_compose_mode(target):
    commands = dry_run(target, "compose")
    assert not [mark for mark in NATIVE if mark in commands], commands


def test_natively_setup_installs_them_and_up_builds_caddy():
    """The same check passes only because compose mode leaves them out."""
    commands = dry_run("up", "native")
    assert "requirements-native.txt" in commands and "-m stack caddy" in commands


def test_make_caddy_in_compose_mode_is_docker_compose_build(tmp_path):
    """The page's `docker compose build caddy`; here there is no engine, so it fails saying so, and builds nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "stack", "caddy"],
        cwd=config.ROOT,
        env={**os.environ, "STACK_MODE": "compose", "XDG_CACHE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "docker compose build caddy" in result.stderr or result.returncode == 0
    assert not list(tmp_path.rglob("caddy")), "a native Caddy was built"
