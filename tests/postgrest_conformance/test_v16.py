"""Contract: what changed between PostgREST v14.1 and v16.2 (CHANGELOG.md), each case from v16.2's own
tests or source: the Vary header, client-error-verbosity, jwt-role-claim-key as RFC 9535 JSON Path (the
old syntax still accepted, with v16.2's warning), OpenAPI's integer formats and built-in types without
modifiers; and the start-up warning that names a PostgREST setting this server does not implement."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import jwt
import pytest
import requests

from stack.harness.conformance import SECRET, launch, server_env, stop
from stack.services.processes import free_port

needs_process = pytest.mark.skipif(
    os.environ.get("POSTGREST_URL") and not os.environ.get("POSTGREST_BIN"),
    reason="POSTGREST_URL given without POSTGREST_BIN: cannot launch a process",
)


@dataclass
class Running:
    process: object
    base: str
    session: requests.Session

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, timeout=5, **kw)

    def output(self) -> str:
        """Everything it printed, once it has stopped."""
        out, err = self.process.communicate(timeout=10)
        return out + err


@contextlib.contextmanager
def run(env: dict[str, str]):
    """As v16.2 test/io/postgrest.py run(): start it with `env`, wait until it answers, yield it, stop it
    however the test ends."""
    port = free_port()
    process = launch({**server_env(port), **env, "PGRST_SERVER_PORT": str(port)})
    running = Running(process, f"http://127.0.0.1:{port}", requests.Session())
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"server exited: {process.communicate()}"
            try:
                running.get("/")
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not answer within 15 s"
                time.sleep(0.1)
        yield running
    finally:
        stop(process)


def bearer(claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode({"aud": "conformance", **claims}, SECRET, algorithm="HS256")}


# ---- Vary ---------------------------------------------------------------------------------------


def test_vary_header_by_default(s):
    """v16.2 test/spec/Feature/HttpHeaderSpec.hs "Test default Vary header value matches default one"
    (App.hs varyHeader; CHANGELOG 16.0, #4609)."""
    assert s.get("/items").headers["Vary"] == "Accept, Prefer, Range"
    assert s.post("/rpc/add", json={"a": 1, "b": 2}).headers["Vary"] == "Accept, Prefer, Range"


def test_vary_header_set_by_the_database_wins(s):
    """v16.2 HttpHeaderSpec "Test default Vary header value is overridden in pre-request database
    function": a Vary in response.headers replaces the default (App.hs varyHeaderPresent)."""
    assert s.post("/rpc/custom_vary").headers["Vary"] == "X-Test-Accept"


def test_errors_carry_no_vary(s):
    """v16.2 App.hs: Vary is added in toWaiResponse, which errors (Error.hs errorResponseFor) never reach."""
    r = s.get("/itemsx")
    assert r.status_code == 404 and "Vary" not in r.headers


# ---- client-error-verbosity ---------------------------------------------------------------------


@needs_process
def test_client_error_verbosity_minimal():
    """v16.2 test/spec/Feature/Query/ErrorSpec.hs "hides details and hint when set to 'minimal'"."""
    with run({"PGRST_CLIENT_ERROR_VERBOSITY": "minimal"}) as postgrest:
        r = postgrest.get("/itemsx")
        assert r.status_code == 404
        assert r.json() == {"code": "PGRST205", "message": "Could not find the table 'api.itemsx' in the schema cache"}


def test_client_error_verbosity_verbose_by_default(s):
    """v16.2 ErrorSpec: 'verbose' is the default, with all four fields."""
    assert set(s.get("/itemsx").json()) == {"code", "message", "details", "hint"}


@needs_process
def test_invalid_client_error_verbosity():
    """v16.2 test/io/test_cli.py test_invalid_client_error_verbosity: exit non-zero, naming the setting."""
    process = launch({**server_env(free_port()), "PGRST_CLIENT_ERROR_VERBOSITY": "invalid"})
    try:
        out, err = process.communicate(timeout=20)
    finally:
        stop(process)
    assert process.returncode != 0
    assert "Invalid client-error-verbosity. Check your configuration." in out + err


# ---- jwt-role-claim-key -------------------------------------------------------------------------

ROLE = "pgrst_conf_user"
# v16.2 test/io/fixtures/fixtures.yaml roleclaims, as used by test/io/test_config.py test_role_claim_key;
# the role is this suite's, and a key that finds nothing gives the anonymous role (this suite has one).
ROLE_CLAIMS = [
    ("$.postgrest.a_role", {"postgrest": {"a_role": ROLE}, "other": "claims"}, ROLE),
    ("$.customObject.manyRoles[1]", {"customObject": {"manyRoles": ["other", ROLE]}, "other": {}}, ROLE),
    ('$["https://www.example.com/roles"][0].value', {"https://www.example.com/roles": [{"value": ROLE}]}, ROLE),
    ("$.myDomain[3]", {"myDomain": ["other", ROLE], "other": 1.23}, "pgrst_conf_anon"),
    ("$.myRole", {"role": ROLE, "other": True}, "pgrst_conf_anon"),
    (f'$.realm_access.roles[?(@ == "{ROLE}")]', {"realm_access": {"roles": ["other", ROLE]}}, ROLE),
    ('$.realm_access.roles[?(@ != "other")]', {"realm_access": {"roles": ["other", ROLE]}}, ROLE),
    # CHANGELOG "Migration to v16": ^== becomes search(@, "^...")
    ('$.realm_access.roles[?search(@, "^pgrst_conf_u")]', {"realm_access": {"roles": ["other", ROLE]}}, ROLE),
]


@needs_process
def test_role_claim_key_json_path():
    """v16.2 test/io/test_config.py test_role_claim_key (fixtures.yaml roleclaims), one server per key
    would be slow: each key gets its own server, the claims are checked through /rpc/whoami."""
    for key, claims, role in ROLE_CLAIMS:
        with run({"PGRST_JWT_ROLE_CLAIM_KEY": key}) as postgrest:
            r = postgrest.get("/rpc/whoami", headers=bearer(claims))
            assert r.status_code == 200, (key, r.text)
            assert r.json()["role"] == role, key


@needs_process
def test_deprecated_role_claim_key_still_works_with_a_warning():
    """v16.2 test/io/test_config.py test_deprecated_role_claim_key and
    test_deprecated_role_claim_key_warning (Logger.hs DeprecatedJSPathSyntaxObs, CHANGELOG 16.2, #5171)."""
    with run({"PGRST_JWT_ROLE_CLAIM_KEY": ".roles.user_role"}) as postgrest:
        r = postgrest.get("/rpc/whoami", headers=bearer({"roles": {"user_role": ROLE}}))
        assert r.json()["role"] == ROLE
    output = postgrest.output()
    assert (
        'WARNING: The config `jwt-role-claim-key=."roles"."user_role"` is using the deprecated JSPath syntax.'
    ) in output
    assert (
        'Update `jwt-role-claim-key=."roles"."user_role"` to the new JSONPath syntax as support for JSPath will '
        "be removed in a future release. See the migration guide on how to update: "
        "https://github.com/PostgREST/postgrest/blob/main/CHANGELOG.md#migration-to-v16"
    ) in output


@needs_process
def test_new_role_claim_key_syntax_logs_no_warning():
    """v16.2 test_deprecated_role_claim_key_warning, "new syntax": no warning."""
    with run({"PGRST_JWT_ROLE_CLAIM_KEY": "$.roles.user_role"}) as postgrest:
        postgrest.get("/")
    assert "deprecated JSPath" not in postgrest.output()


@needs_process
def test_role_claim_key_that_is_neither_syntax_is_refused():
    """v16.2 Config.hs parseRoleClaimKey: neither JSON Path nor the old syntax fails at start."""
    process = launch({**server_env(free_port()), "PGRST_JWT_ROLE_CLAIM_KEY": "$.roles.write-role"})
    try:
        out, err = process.communicate(timeout=20)
    finally:
        stop(process)
    assert process.returncode == 1
    assert "Invalid jwt-role-claim-key" in out + err


# ---- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_integer_formats_and_types_without_modifiers(s):
    """v16.2 src/library/PostgREST/Response/OpenAPI.hs toSwaggerFormat (int32/int64 since 14.8, #4641)
    and SchemaCache.hs data_type (a built-in type without its modifier: numeric(10,2) is a number)."""
    properties = s.get("/").json()["definitions"]["prices"]["properties"]
    assert properties["id"]["format"] == "int64" and properties["id"]["type"] == "integer"
    assert properties["small"] == {"format": "int32", "type": "integer"}
    assert properties["amount"] == {"format": "numeric", "type": "number"}
    assert properties["code"] == {"format": "character varying", "type": "string"}


# ---- settings this server does not implement -----------------------------------------------------


@needs_process
def test_a_setting_not_implemented_is_named_at_start():
    """The brief's rule (issue 20, item 3): a PostgREST setting that this server does not implement is
    named in a warning at start, never silently ignored. (v16.2 defaults.config lists the settings.)"""
    if os.environ.get("POSTGREST_BIN"):
        pytest.skip("PostgREST itself implements every setting")
    with run({"PGRST_DB_PLAN_ENABLED": "true", "PGRST_LOG_LEVEL": "info", "PGRST_NOT_A_SETTING": "x"}) as postgrest:
        postgrest.get("/")
    output = postgrest.output()
    assert "PGRST_DB_PLAN_ENABLED (db-plan-enabled)" in output and "PGRST_LOG_LEVEL (log-level)" in output
    assert "does not implement" in output and "NOT_A_SETTING" not in output


# ---- db-tx-end and Prefer: tx ---------------------------------------------------------------------


def user_headers(**extra) -> dict[str, str]:
    token = jwt.encode({"role": "pgrst_conf_user"}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}", **extra}


def persisted(postgrest, body: str) -> bool:
    return postgrest.get(f"/notes?body=eq.{body}", headers=user_headers()).json() != []


@needs_process
def test_tx_rollback_with_commit_allow_override():
    """v16.2 test/spec/Feature/RollbackSpec.hs "tx-allow-override = true", "Prefer tx=rollback": the
    write answers as usual with tx=rollback in Preference-Applied, and is not persisted; tx=commit is."""
    with run({"PGRST_DB_TX_END": "commit-allow-override"}) as postgrest:
        prefer = "return=representation, tx=rollback"
        r = postgrest.session.post(
            postgrest.base + "/notes?select=body", json={"body": "tx-rolled"}, headers=user_headers(Prefer=prefer)
        )
        assert r.status_code == 201 and r.json() == [{"body": "tx-rolled"}]
        assert r.headers["Preference-Applied"] == "return=representation, tx=rollback"
        assert not persisted(postgrest, "tx-rolled")
        r = postgrest.get("/items?id=eq.1&select=id", headers={"Prefer": "tx=rollback"})  # reads too
        assert r.json() == [{"id": 1}] and r.headers["Preference-Applied"] == "tx=rollback"
        r = postgrest.session.post(
            postgrest.base + "/notes", json={"body": "tx-kept"}, headers=user_headers(Prefer="tx=commit")
        )
        assert r.status_code == 201 and r.headers["Preference-Applied"] == "tx=commit"
        assert persisted(postgrest, "tx-kept")
        postgrest.session.delete(postgrest.base + "/notes?body=eq.tx-kept", headers=user_headers())


def test_tx_preference_ignored_by_default(s):
    """v16.2 RollbackSpec "tx-rollback-all = false, tx-allow-override = false" (db-tx-end = commit, the
    default): Prefer: tx=rollback is not applied, the write persists."""
    r = s.post("/notes", json={"body": "tx-ignored"}, headers=user_headers(Prefer="tx=rollback"))
    assert r.status_code == 201 and "Preference-Applied" not in r.headers
    assert s.get("/notes?body=eq.tx-ignored", headers=user_headers()).json() != []
    s.delete("/notes?body=eq.tx-ignored", headers=user_headers())


@needs_process
def test_db_tx_end_rollback():
    """v16.2 RollbackSpec "tx-rollback-all = true, tx-allow-override = false": nothing persists."""
    with run({"PGRST_DB_TX_END": "rollback"}) as postgrest:
        r = postgrest.session.post(postgrest.base + "/notes", json={"body": "tx-all"}, headers=user_headers())
        assert r.status_code == 201
        assert not persisted(postgrest, "tx-all")


@needs_process
def test_invalid_db_tx_end():
    """v16.2 src/library/PostgREST/Config.hs parseTxEnd: "Invalid transaction termination"."""
    process = launch({**server_env(free_port()), "PGRST_DB_TX_END": "sometimes"})
    try:
        out, err = process.communicate(timeout=20)
    finally:
        stop(process)
    assert process.returncode == 1
    assert "Invalid transaction termination. Check your configuration." in out + err


# ---- db-max-rows --------------------------------------------------------------------------------


@needs_process
def test_db_max_rows():
    """v16.2 test/spec/Feature/Query/QueryLimitedSpec.hs (db-max-rows = 2): "restricts results",
    "respects additional client limiting", "works on all levels" (a to-many embed too), "should work
    with limit 0"; set-returning calls are read the same way."""
    with run({"PGRST_DB_MAX_ROWS": "2"}) as postgrest:
        r = postgrest.get("/items?select=id&order=id")
        assert r.json() == [{"id": 1}, {"id": 2}] and r.headers["Content-Range"] == "0-1/*"
        r = postgrest.get("/items?select=id&order=id", headers={"Range": "0-0"})
        assert r.json() == [{"id": 1}] and r.headers["Content-Range"] == "0-0/*"
        r = postgrest.get("/items?limit=0")
        assert r.json() == [] and r.headers["Content-Range"] == "*/*"
        r = postgrest.get("/items?select=id&order=id", headers={"Prefer": "count=exact"})
        assert r.status_code == 206 and r.headers["Content-Range"] == "0-1/10"
        r = postgrest.get("/rpc/list_items?select=id")
        assert r.json() == [{"id": 1}, {"id": 2}]
    with run({"PGRST_DB_MAX_ROWS": "1"}) as postgrest:  # Ann has two books
        r = postgrest.get("/authors?select=id,books(id)&order=id&books.order=id")
        assert r.json() == [{"id": 1, "books": [{"id": 1}]}]
