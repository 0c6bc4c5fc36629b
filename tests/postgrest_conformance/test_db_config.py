"""In-database configuration of db-pre-request, as PostgREST v16.2 reads it.

Sources (PostgREST at tag v16.2):
- src/library/PostgREST/Config/Database.hs, queryDbSettings: the login role's `pgrst.*` settings
  from pg_db_role_setting, one set for this database (ALTER ROLE .. IN DATABASE) before one for all;
- src/library/PostgREST/Config.hs, overrideFromDbOrEnvironment: `dbConf <|> env`, a setting in the
  database wins over the PGRST_* variable;
- docs/references/configuration.rst: db-pre-request is reloadable, in-database name
  pgrst.db_pre_request; db-config (default true) turns it off; `NOTIFY pgrst, 'reload config'`
  reloads it (test/io/test_reloading.py does so through fixtures/schema.sql's pg_notify calls);
- test/io/fixtures/db_config.sql: `ALTER ROLE db_config_authenticator SET pgrst.db_pre_request = ..`.

Each test starts its own server logged in as pgrst_conf_db_config (fixtures.sql sets its
pgrst.db_pre_request to api.pre_req_db), with PGRST_DB_PRE_REQUEST still naming api.pre_req.
"""

from __future__ import annotations

import contextlib
import time

import jwt
import psycopg
import pytest
import requests

from stack.harness.conformance import AUDIENCE, SECRET, command, launch, server_env, stop
from stack.services.processes import free_port

pytestmark = pytest.mark.skipif(command() is None, reason="POSTGREST_URL names a server this test cannot configure")


@contextlib.contextmanager
def run(env: dict[str, str]):
    """One server with `env`, answering on its base URL; stopped however the test ends."""
    process = launch(env)
    try:
        url = f"http://127.0.0.1:{env['PGRST_SERVER_PORT']}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, f"server exited: {process.communicate()}"
            assert time.monotonic() < deadline, "server did not answer within 20 s"
            time.sleep(0.1)
        process.url = url
        yield process
    finally:
        stop(process)


def db_config_env(**extra: str) -> dict[str, str]:
    env = server_env(free_port())
    env["PGRST_DB_URI"] = env["PGRST_DB_URI"].replace("pgrst_conf_authenticator:", "pgrst_conf_db_config:")
    return {**env, **extra}


def pre(url: str) -> str | None:
    """Which pre-request ran: api.pre_req sets conformance.pre to 'ran', api.pre_req_db to 'from the database'."""
    return requests.post(url + "/rpc/whoami", timeout=5).json()["pre"]


def until(check, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.1)


def test_in_database_pre_request_wins_over_the_environment(database):
    with run(db_config_env()) as server:
        assert pre(server.url) == "from the database"


def test_db_config_false_ignores_the_database(database):
    with run(db_config_env(PGRST_DB_CONFIG="false")) as server:
        assert pre(server.url) == "ran"


def test_reload_config_notification_applies_a_changed_setting(database):
    """Set IN DATABASE (which wins over the role-wide setting), NOTIFY 'reload config', then reset."""
    with run(db_config_env()) as server, psycopg.connect(database, autocommit=True) as conn:
        try:
            conn.execute(
                "alter role pgrst_conf_db_config in database pgrst_conformance set pgrst.db_pre_request = 'api.pre_req'"
            )
            assert pre(server.url) == "from the database"  # not before the reload
            conn.execute("notify pgrst, 'reload config'")
            until(lambda: pre(server.url) == "ran")
        finally:
            conn.execute("alter role pgrst_conf_db_config in database pgrst_conformance reset pgrst.db_pre_request")
        conn.execute("notify pgrst, 'reload config'")
        until(lambda: pre(server.url) == "from the database")


def test_the_pre_request_reads_the_claims_and_its_pt401_is_the_response(database):
    """As v16.2's test/spec/Feature/Auth/AuthSpec.hs "custom pre-request proc acting on id claim": the
    function sees request.jwt.claims and its error is the response; a PT401 is status 401 with
    WWW-Authenticate: Bearer (src/library/PostgREST/Error.hs, headers of a 401). Chapter 17's session check."""
    with run(db_config_env()) as server:

        def whoami(sid: str) -> requests.Response:
            token = jwt.encode({"role": "pgrst_conf_user", "aud": AUDIENCE, "sid": sid}, SECRET, algorithm="HS256")
            return requests.post(server.url + "/rpc/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5)

        assert whoami("live").status_code == 200
        ended = whoami("ended")
        assert ended.status_code == 401
        assert ended.json() == {"code": "PT401", "message": "Session ended", "details": None, "hint": None}
        assert ended.headers["WWW-Authenticate"] == "Bearer"
