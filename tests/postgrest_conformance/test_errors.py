"""Contract: error shape, SQLSTATE mapping, the root OpenAPI, schema reload, recovery, start-up failures."""

import os
import time

import jwt
import psycopg
import pytest

from .conftest import SECRET, command, free_port, launch, server_env

JSON = "application/json; charset=utf-8"


def user():
    return {"Authorization": "Bearer " + jwt.encode({"role": "pgrst_conf_user"}, SECRET, algorithm="HS256")}


def test_error_shape(s):
    """Errors: exactly code, message, details, hint; application/json; charset=utf-8."""
    r = s.post("/rpc/pt402")
    assert r.headers["Content-Type"] == JSON
    assert set(r.json()) == {"code", "message", "details", "hint"}


def test_ptnnn_sets_status(s):
    """PTnnn: status nnn; message/details/hint are the error's own."""
    r = s.post("/rpc/pt402")
    assert r.status_code == 402
    assert r.json() == {"code": "PT402", "message": "Payment needed", "details": "pay first", "hint": "use a card"}


def test_pt401_has_www_authenticate(s):
    """A 401 from SQL carries WWW-Authenticate: Bearer."""
    r = s.post("/rpc/pt401")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_raise_exception_is_400_p0001(s):
    """P0001 (plain RAISE): 400."""
    r = s.post("/rpc/boom")
    assert r.status_code == 400
    assert r.json() == {"code": "P0001", "message": "boom", "details": None, "hint": None}


def test_42501_anonymous_is_401_with_www_authenticate(s):
    """42501 for the anonymous role: 401 + WWW-Authenticate: Bearer."""
    r = s.get("/secrets")
    assert r.status_code == 401
    assert r.json()["code"] == "42501"
    assert r.json()["message"] == "permission denied for table secrets"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_42501_authenticated_is_403(s):
    """42501 for an authenticated role: 403, no WWW-Authenticate."""
    r = s.post("/secrets", json={"id": 2}, headers={**user(), "Prefer": "return=representation"})
    assert r.status_code == 201
    r = s.get("/secrets", headers={"Authorization": "Bearer " + jwt.encode({"sub": "x"}, SECRET)})
    assert r.status_code == 401  # no role claim: anonymous
    r = s.delete("/items?id=eq.1", headers={"Authorization": "Bearer " + jwt.encode(
        {"role": "pgrst_conf_anon", "sub": "x"}, SECRET)})
    assert r.status_code == 401  # the anonymous role, even with a token


def test_42501_authenticated_user_403(s, database):
    """42501 when authenticated: 403."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("revoke select on api.items_view from pgrst_conf_user")
    try:
        r = s.get("/items_view", headers=user())
        assert r.status_code == 403
        assert r.json()["code"] == "42501"
        assert "WWW-Authenticate" not in r.headers
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("grant select on api.items_view to pgrst_conf_user")


def test_root_is_openapi(s):
    """GET /: OpenAPI 2.0 of the default schema as application/openapi+json."""
    r = s.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/openapi+json; charset=utf-8"
    body = r.json()
    assert body["swagger"] == "2.0"
    assert "/items" in body["paths"] and "/rpc/add" in body["paths"]
    assert s.get("/", headers={"Accept": "application/json"}).status_code == 200


def test_root_other_accept_406(s):
    """GET / with an unsupported Accept: 406."""
    assert s.get("/", headers={"Accept": "text/html"}).status_code == 406


def test_schema_reload_on_notify(s, database):
    """A migration becomes visible after NOTIFY pgrst, 'reload schema'."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("drop table if exists api.late; create table api.late (id int); "
                     "grant select on api.late to pgrst_conf_anon; notify pgrst, 'reload schema'")
    deadline = time.monotonic() + 5
    while s.get("/late").status_code != 200:
        assert time.monotonic() < deadline, "schema cache was not reloaded"
        time.sleep(0.1)


def test_recovers_after_connections_are_killed(s, database):
    """Lost database connections: 503 while unavailable, then recovery by itself."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where usename = 'pgrst_conf_authenticator' and pid <> pg_backend_pid()")
    deadline = time.monotonic() + 10
    while True:
        r = s.get("/items?limit=1")
        if r.status_code == 200:
            break
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline
        time.sleep(0.2)


needs_binary = pytest.mark.skipif(os.environ.get("POSTGREST_URL") and not os.environ.get("POSTGREST_BIN"),
                                  reason="POSTGREST_URL given without POSTGREST_BIN: cannot launch a process")


@needs_binary
def test_short_secret_exits_1(database):
    """A plain secret shorter than 32 characters stops start-up with exit 1 (13.0+)."""
    assert command()
    process = launch({**server_env(free_port()), "PGRST_JWT_SECRET": "short"})
    _, err = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "The JWT secret must be at least 32 characters long." in err


@needs_binary
def test_invalid_password_exits_1(database):
    """Connecting with an invalid password fails without retries: exit 1."""
    env = server_env(free_port())
    env["PGRST_DB_URI"] = env["PGRST_DB_URI"].replace(":conformance@", ":wrong@")
    process = launch(env)
    process.communicate(timeout=15)
    assert process.returncode == 1
