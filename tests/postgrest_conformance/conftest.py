"""Conformance suite for the PostgREST-compatible server, modelled on PostgREST's test/io.

By default a session fixture (re)creates the fixture schema in the database `pgrst_conformance`
(fixtures.sql; conformance-only roles `pgrst_conf_*`), starts `python -m stack.postgrest_compat`
configured only by PGRST_* environment variables (SERVER_ENV below), waits until it answers, yields
a requests session, and stops it afterwards.

Checking the suite against a real PostgREST (the release pinned in stack/compose.yaml):
  1. run the suite once (or `psql -d pgrst_conformance -f tests/postgrest_conformance/fixtures.sql`)
     so the database and roles exist;
  2. start the real binary with the variables printed by
     `python -m tests.postgrest_conformance.conftest` (same PGRST_* as used here), e.g.
     `env $(python -m tests.postgrest_conformance.conftest 3100) postgrest`;
  3. `POSTGREST_URL=http://127.0.0.1:3100 POSTGREST_BIN=$(which postgrest) pytest tests/postgrest_conformance`.
With POSTGREST_URL set nothing is started; the start-up-failure tests launch POSTGREST_BIN when
given (else they are skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from stack import config, postgres
from stack.config import BUILD_DIR
from stack.proc import free_port

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "pgrst_conformance"
SECRET = "conformance-secret-of-sixty-four-characters-for-every-hmac-alg!!"
AUDIENCE = "conformance"
# The server logs every request: the session server writes there, not to a pipe nobody reads (a full pipe stalls it).
LOG_FILE = BUILD_DIR / "postgrest-conformance.log"


def superuser_conninfo(dbname: str) -> str:
    return postgres.conninfo(dbname=dbname)


def pg_port() -> str:
    return str(config.ports().postgres)


def server_env(port: int) -> dict[str, str]:
    return {
        "PGRST_DB_URI": f"postgres://pgrst_conf_authenticator:conformance@127.0.0.1:{pg_port()}/{DATABASE}",
        "PGRST_DB_SCHEMAS": "api, other",
        "PGRST_DB_ANON_ROLE": "pgrst_conf_anon",
        "PGRST_JWT_SECRET": SECRET,
        "PGRST_JWT_AUD": AUDIENCE,
        "PGRST_DB_PRE_REQUEST": "api.pre_req",
        "PGRST_APP_SETTINGS_GREETING": "hi",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": str(port),
    }


def command() -> list[str] | None:
    binary = os.environ.get("POSTGREST_BIN")
    if binary:
        return [binary]
    if os.environ.get("POSTGREST_URL"):
        return None
    return [sys.executable, "-m", "stack.postgrest_compat"]


def launch(env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Output (stdout and stderr) to `log` when given; else to pipes, for a test that reads them with communicate()."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}
    if log is None:
        return subprocess.Popen(
            command(), env={**base, **env}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        return subprocess.Popen(command(), env={**base, **env}, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    """Terminate, and kill if it has not exited within 5 s."""
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Session(requests.Session):
    def __init__(self, base: str):
        super().__init__()
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, self.base + url, *args, **kwargs)


def prepare_database() -> str:
    """(Re)create the conformance database's fixture schema; its superuser conninfo."""
    with psycopg.connect(superuser_conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(superuser_conninfo(DATABASE), autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "fixtures.sql").read_text())
    return superuser_conninfo(DATABASE)


@pytest.fixture(scope="session")
def database() -> str:
    return prepare_database()


@pytest.fixture(scope="session")
def server(database):
    """(session, process or None): the server under test, answering on its base URL."""
    url = os.environ.get("POSTGREST_URL")
    process = None
    if not url:
        port = free_port()
        process = launch(server_env(port), LOG_FILE)
        url = f"http://127.0.0.1:{port}"
    try:  # stopped even when it never answers
        session = Session(url)
        deadline = time.monotonic() + 15
        while True:
            try:
                if session.get("/").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process and process.poll() is not None:
                raise RuntimeError(f"server exited ({LOG_FILE}): {LOG_FILE.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer within 15 s (its log: {LOG_FILE})")
            time.sleep(0.1)
        yield session, process
    finally:
        if process:
            stop(process)


@pytest.fixture
def s(server) -> Session:
    return server[0]


if __name__ == "__main__":
    print(" ".join(f"{k}='{v}'" for k, v in server_env(int(sys.argv[1]) if len(sys.argv) > 1 else 3000).items()))
