"""A PostgREST, real or compatible, on the conformance fixture: its database, its PGRST_* environment,
launch and stop. Shared by the conformance suite (tests/postgrest_conformance) and the benchmark
(bench/postgrest_compat.py).

`python -m stack.harness.conformance [PORT]` prints that environment, to start a real binary with:
`env $(python -m stack.harness.conformance 3100) postgrest`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from .. import config
from ..services import postgres

DATABASE = "pgrst_conformance"
SECRET = "conformance-secret-of-sixty-four-characters-for-every-hmac-alg!!"
AUDIENCE = "conformance"
FIXTURES = config.ROOT / "tests" / "postgrest_conformance" / "fixtures.sql"


def superuser_conninfo(dbname: str) -> str:
    return postgres.conninfo(dbname=dbname)


def pg_port() -> str:
    return str(config.ports().postgres)


def server_env(port: int) -> dict[str, str]:
    return {
        "PGRST_DB_URI": f"postgres://pgrst_conf_authenticator:conformance@127.0.0.1:{pg_port()}/{DATABASE}",
        "PGRST_DB_SCHEMAS": "api,other",
        "PGRST_DB_ANON_ROLE": "pgrst_conf_anon",
        "PGRST_JWT_SECRET": SECRET,
        "PGRST_JWT_AUD": AUDIENCE,
        "PGRST_DB_PRE_REQUEST": "api.pre_req",
        "PGRST_APP_SETTINGS_GREETING": "hi",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": str(port),
    }


def command() -> list[str] | None:
    """POSTGREST_BIN when given; None when only POSTGREST_URL is (a server someone else started);
    else the compatible server. Unlike the stack, PATH is not searched: the suite tests what it is told to."""
    binary = os.environ.get("POSTGREST_BIN")
    if binary:
        return [binary]
    if os.environ.get("POSTGREST_URL"):
        return None
    return [sys.executable, "-m", "stack.postgrest_compat"]


def launch(env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Output (stdout and stderr) to `log` when given; else to pipes, for a caller that reads them with communicate()."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}
    if log is None:
        return subprocess.Popen(
            command(), env={**base, **env}, cwd=config.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        return subprocess.Popen(
            command(), env={**base, **env}, cwd=config.ROOT, stdout=output, stderr=subprocess.STDOUT
        )


def stop(process: subprocess.Popen) -> None:
    """Terminate, and kill if it has not exited within 5 s."""
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def prepare_database() -> str:
    """(Re)create the conformance database's fixture schema; its superuser conninfo."""
    with psycopg.connect(superuser_conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(superuser_conninfo(DATABASE), autocommit=True) as conn:
        conn.execute(FIXTURES.read_text())
    return superuser_conninfo(DATABASE)


if __name__ == "__main__":
    # Plain NAME=value words, no quotes and no spaces, so that `env $(python -m stack.harness.conformance)` works.
    words = [f"{name}={value}" for name, value in server_env(int(sys.argv[1]) if len(sys.argv) > 1 else 3000).items()]
    assert not any(" " in word for word in words), words
    print(" ".join(words))
