"""Contract: error shape, SQLSTATE mapping, the root OpenAPI, schema reload, recovery, start-up failures."""

import contextlib
import os
import socket
import threading
import time

import jwt
import psycopg
import pytest
import requests

from stack.harness.conformance import SECRET, command, launch, pg_port, server_env, stop
from stack.services.processes import free_port

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


def test_raise_sqlstate_pgrst_controls_the_response(s):
    """RAISE SQLSTATE 'PGRST': MESSAGE is the JSON body, DETAIL gives status and headers."""
    r = s.post("/rpc/teapot")
    assert r.status_code == 418
    assert r.headers["X-Kettle"] == "on"
    assert r.json() == {"code": "T418", "message": "I am a teapot", "details": "short and stout", "hint": None}


def test_raise_sqlstate_pgrst_with_bad_json_is_pgrst121(s):
    """RAISE SQLSTATE 'PGRST' whose MESSAGE is not the JSON object PostgREST expects: 500 PGRST121."""
    r = s.post("/rpc/bad_raise")
    assert r.status_code == 500
    assert r.json()["code"] == "PGRST121"
    assert r.json()["details"] == "Invalid JSON value for MESSAGE: 'not json'"


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
    r = s.delete(
        "/items?id=eq.1",
        headers={"Authorization": "Bearer " + jwt.encode({"role": "pgrst_conf_anon", "sub": "x"}, SECRET)},
    )
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
        conn.execute(
            "drop table if exists api.late; create table api.late (id int); "
            "grant select on api.late to pgrst_conf_anon; notify pgrst, 'reload schema'"
        )
    deadline = time.monotonic() + 5
    while s.get("/late").status_code != 200:
        assert time.monotonic() < deadline, "schema cache was not reloaded"
        time.sleep(0.1)


def test_nul_byte_in_a_filter_value(s):
    """A NUL byte in a text value is PostgreSQL's 22021, passed on as a 400; the server stays up."""
    r = s.get("/items?name=eq.a%00b")
    assert r.status_code == 400
    assert r.json() == {
        "code": "22021",
        "details": None,
        "hint": None,
        "message": 'invalid byte sequence for encoding "UTF8": 0x00',
    }
    assert s.get("/items?limit=1").status_code == 200


def test_recovers_after_connections_are_killed(s, database):
    """Lost database connections: 503 while unavailable, then recovery by itself."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where usename = 'pgrst_conf_authenticator' and pid <> pg_backend_pid()"
        )
    deadline = time.monotonic() + 10
    while True:
        r = s.get("/items?limit=1")
        if r.status_code == 200:
            break
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline
        time.sleep(0.2)


needs_binary = pytest.mark.skipif(
    os.environ.get("POSTGREST_URL") and not os.environ.get("POSTGREST_BIN"),
    reason="POSTGREST_URL given without POSTGREST_BIN: cannot launch a process",
)


@needs_binary
def test_short_secret_exits_1(database):
    """A plain secret shorter than 32 characters stops start-up with exit 1 (13.0+)."""
    assert command()
    process = launch({**server_env(free_port()), "PGRST_JWT_SECRET": "short"})
    _, err = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "The JWT secret must be at least 32 characters long." in err


NOT_CONNECTED = {
    "code": "PGRST002",
    "details": None,
    "hint": None,
    "message": "Could not query the database for the schema cache. Retrying.",
}


def wait_for(url: str, status: int, seconds: float, process) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == status:
                return response
        except requests.ConnectionError:
            response = None
        assert process.poll() is None, f"server exited: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {status} within {seconds} s (last: {response and response.text})"
        time.sleep(0.1)


def assert_not_connected(response: requests.Response) -> None:
    assert response.status_code == 503
    assert response.json() == NOT_CONNECTED
    assert response.headers["Content-Type"] == JSON
    assert response.headers["Proxy-Status"] == "PostgREST; error=PGRST002"


@needs_binary
def test_refused_login_at_start_exits_1(database):
    """Start-up: a login role the database refuses (here: one that does not exist yet) is fatal.

    PostgREST 14.1 treats "password authentication failed" as fatal and exits 1 (AppState.hs;
    its test/io test_fail_with_invalid_password). The stack therefore starts PostgREST only once
    the migrations have created its login role."""
    env = server_env(free_port())
    env["PGRST_DB_URI"] = env["PGRST_DB_URI"].replace("pgrst_conf_authenticator:", "pgrst_conf_late_login:")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("drop role if exists pgrst_conf_late_login")
    process = launch(env)
    process.communicate(timeout=20)
    assert process.returncode == 1


class Relay:
    """A plain TCP relay to PostgreSQL: the database 'opens' when it starts, and cut() drops every
    connection through it at once, as a crash or a network failure does (no SQLSTATE, no goodbye)."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.sockets: list[socket.socket] = []
        self.cut_before: bytes | None = None  # cut instead of forwarding a client message holding this
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            upstream = socket.create_connection(("127.0.0.1", int(pg_port())))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, a is client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""  # the end of the previous chunk: a marker may straddle two
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client and self.cut_before and self.cut_before in tail + data:
                    self.cut()
                    return
                tail = data[-len(self.cut_before or b"") :]
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def close(self) -> None:
        self.stop.set()
        self.cut()
        self.listener.close()


@needs_binary
def test_database_unreachable_at_start(database):
    """Nothing listens on the database port at start-up: the server stays up, answers 503 PGRST002
    and retries with backoff; once the port answers it loads the schema cache and serves."""
    db_port = free_port()
    env = server_env(free_port())
    env["PGRST_DB_URI"] = env["PGRST_DB_URI"].replace(f":{pg_port()}/", f":{db_port}/")
    process = launch(env)
    relay = None
    try:
        url = f"http://127.0.0.1:{env['PGRST_SERVER_PORT']}/items?limit=1"
        assert_not_connected(wait_for(url, 503, 15, process))
        relay = Relay(db_port)
        assert wait_for(url, 200, 10, process).json() == [{"id": 1, "name": "item 1", "qty": 10}]
    finally:
        stop(process)
        if relay:
            relay.close()


CLIENT_ERROR = "Database client error. Retrying the connection."


def nap_get(base: str) -> requests.Response:
    return requests.get(f"{base}/rpc/nap?seconds=2", timeout=10)


def nap_post(base: str) -> requests.Response:
    return requests.post(f"{base}/rpc/nap", json={"seconds": 2}, timeout=10)


LOST_AT_COMMIT = "lost at commit"


def note_post_singular(base: str) -> requests.Response:
    """A singular insert: its COMMIT goes out on its own, once the row count is checked."""
    headers = {"Accept": "application/vnd.pgrst.object+json", "Prefer": "return=representation"}
    return requests.post(f"{base}/notes", json={"body": LOST_AT_COMMIT}, headers=headers, timeout=10)


@needs_binary
@pytest.mark.parametrize(
    "call, cut_before",
    [(nap_get, None), (nap_post, None), (note_post_singular, b"COMMIT\x00")],
    ids=["read-mid-query", "write-mid-query", "write-at-commit"],
)
def test_connection_lost(database, call, cut_before):
    """The connection drops while a query runs, or just as the COMMIT goes out: 503 PGRST001
    "Database client error", the libpq message as details, never a 500 (Error.hs: ClientError).
    Then the server reconnects by itself."""
    db_port = free_port()
    env = server_env(free_port())
    env["PGRST_DB_URI"] = env["PGRST_DB_URI"].replace(f":{pg_port()}/", f":{db_port}/")
    relay = Relay(db_port)
    process = launch(env)
    base = f"http://127.0.0.1:{env['PGRST_SERVER_PORT']}"
    try:
        wait_for(f"{base}/items?limit=1", 200, 15, process)
        relay.cut_before = cut_before
        answers = []
        caller = threading.Thread(target=lambda: answers.append(call(base)))
        caller.start()
        if cut_before is None:
            time.sleep(0.7)  # the query is now inside pg_sleep
            relay.cut()
        caller.join(10)
        relay.cut_before = None
        (response,) = answers
        assert response.status_code == 503, response.text
        body = response.json()
        assert (body["code"], body["message"], body["hint"]) == ("PGRST001", CLIENT_ERROR, None)
        assert "server closed the connection unexpectedly" in body["details"]
        assert response.headers["Content-Type"] == JSON
        wait_for(f"{base}/items?limit=1", 200, 10, process)
        with psycopg.connect(database) as conn:  # a transaction cut off before its COMMIT keeps nothing
            assert conn.execute("select count(*) from api.notes where body = %s", [LOST_AT_COMMIT]).fetchone() == (0,)
    finally:
        stop(process)
        relay.close()


def test_openapi_details_as_v16_2(s):
    """v16.2 src/library/PostgREST/Response/OpenAPI.hs: toSwaggerType (json/jsonb have no type, numeric is a
    number), toSwaggerFormat (integer is int32: OpenApiSpec "includes definitions to tables"), parseDefault (a string default unquoted, nextval(...) left out), the foreign-key note, and
    a volatile function offered as POST only (makeProcPathItem)."""
    doc = s.get("/").json()
    books = doc["definitions"]["books"]["properties"]
    assert books["meta"] == {"format": "jsonb"}
    assert books["year"] == {"format": "int32", "type": "integer"}
    assert books["author_id"]["description"] == (
        "Note:\nThis is a Foreign Key to `authors.id`.<fk table='authors' column='id'/>"
    )
    assert books["id"]["description"] == "Note:\nThis is a Primary Key.<pk/>"
    assert doc["definitions"]["upsertable"]["properties"]["note"]["default"] == "none"
    assert doc["definitions"]["tagged"]["properties"]["tags"] == {
        "format": "integer[]",
        "items": {"type": "integer"},
        "type": "array",
    }
    assert set(doc["paths"]["/rpc/nap"]) == {"post"}
    assert set(doc["paths"]["/rpc/add"]) == {"get", "post"}
