"""Audience and issuer, and private auth tables (issue 18, items 5 and 7; chapter 19,
migrations/hardening/up.d/19-audience-and-keys.sql, stack/caddy/Caddyfile.hardened): on the hardened
recipe a token for another audience is refused by both layers, a token without `aud` by the gateway
(PostgREST's jwt-aud lets it through, as v16.2 documents), and no API role reaches an auth table."""

from __future__ import annotations

import re

import psycopg
import pytest
import requests

from stack import config, db, http, recipes, tokens

API_ROLES = ("anon", "basic_subscriber", "authenticator")
UP = recipes.HARDENING_DIR / "up.d" / "19-audience-and-keys.sql"


@pytest.fixture(scope="module", autouse=True)
def hardened(page_stack):
    recipes.use("hardened")
    yield
    recipes.use("page")


def through_gateway(token: str) -> requests.Response:
    return requests.get(http.gateway("/rest/task?select=id"), cookies={"access_token": token}, timeout=10)


def straight_to_postgrest(token: str) -> requests.Response:
    return requests.get(http.postgrest("/task?select=id"), headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_every_layer_names_the_same_issuer_and_audience():
    caddyfile = recipes.CADDYFILES["hardened"].read_text()
    assert re.search(rf"^\s*@other_issuer not vars {{http.auth.user.iss}} {tokens.ISSUER}$", caddyfile, re.M)
    assert re.search(rf"^\s*@other_audience not vars {{http.auth.user.aud}} {tokens.AUDIENCE}$", caddyfile, re.M)
    assert str(config.compose_services()["postgrest"]["environment"]["PGRST_JWT_AUD"]) == tokens.AUDIENCE
    sql = UP.read_text()
    assert f"'iss', '{tokens.ISSUER}', 'aud', '{tokens.AUDIENCE}'" in sql


def test_the_hardened_login_issues_iss_and_aud():
    claims = tokens.unverified_claims(http.cookie_value(http.login(), "access_token"))
    assert (claims["iss"], claims["aud"]) == (tokens.ISSUER, tokens.AUDIENCE)


def test_a_token_for_another_audience_is_refused_by_both_layers():
    other = tokens.make(aud="another-app")
    gateway, postgrest = through_gateway(other), straight_to_postgrest(other)
    assert gateway.status_code == 401 and gateway.json()["code"] == "GW401"
    assert postgrest.status_code == 401
    assert postgrest.json()["message"] == "JWT not in audience"
    assert through_gateway(tokens.make()).status_code == 200, "this stack's audience passes"


def test_another_issuer_is_refused_by_the_gateway():
    assert through_gateway(tokens.make(iss="someone-else")).status_code == 401
    assert through_gateway(tokens.make(iss=None)).status_code == 401


def test_no_aud_passes_jwt_aud_but_not_the_gateway():
    no_aud = tokens.make(aud=None)
    assert straight_to_postgrest(no_aud).status_code == 200, "v16.2: a token without aud is for every audience"
    assert through_gateway(no_aud).status_code == 401, "the gateway requires the claim"
    assert through_gateway(tokens.make(aud=[])).status_code == 401


@pytest.mark.parametrize(
    ("claims", "passes"),
    [
        ('{"role": "basic_subscriber", "aud": "superstack"}', True),
        ('{"role": "basic_subscriber", "aud": ["another-app", "superstack"]}', True),
        ('{"role": "anon"}', True),
        ('{"role": "basic_subscriber"}', False),
        ('{"role": "basic_subscriber", "aud": []}', False),
        ('{"role": "basic_subscriber", "aud": "another-app"}', False),
    ],
)
def test_require_audience_for_the_pre_request_function(claims, passes):
    with db.connect() as conn:
        try:
            with conn.transaction():
                conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                conn.execute("select auth.require_audience()")
            outcome = True
        except psycopg.Error as error:
            assert error.sqlstate == "PT401" and error.diag.message_primary == "JWT not in audience"
            outcome = False
    assert outcome is passes


def test_no_api_role_has_a_privilege_on_an_auth_table():
    held = db.query(
        """
        select r.rolname, c.relname, p.privilege
        from pg_class c
        cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
             as p(privilege)
        join pg_roles r on r.rolname = any(%s)
        where c.relnamespace = 'auth'::regnamespace and c.relkind in ('r', 'v', 'm', 'p', 'f')
          and has_table_privilege(r.oid, c.oid, p.privilege)
        union all
        select r.rolname, c.relname, 'USAGE'
        from pg_class c join pg_roles r on r.rolname = any(%s)
        where c.relnamespace = 'auth'::regnamespace and c.relkind = 'S' and has_sequence_privilege(r.oid, c.oid, 'USAGE')
        """,
        (list(API_ROLES), list(API_ROLES)),
    )
    assert held == []


def test_the_openapi_document_lists_no_auth_table():
    for who in ({}, {"Authorization": f"Bearer {tokens.make()}"}):
        response = requests.get(http.postgrest("/"), headers={"Accept-Profile": "auth", **who}, timeout=10)
        assert response.status_code == 200
        document = response.json()
        paths = set(document["paths"]) - {"/"}
        assert all(path.startswith("/rpc/") for path in paths), paths
        assert ("/rpc/login" in paths) == (not who), "anon sees the login; basic_subscriber nothing of auth"
        assert not document.get("definitions"), document.get("definitions")


def test_a_careless_grant_is_taken_back_when_the_recipe_is_applied():
    db.query("grant select on auth.user to basic_subscriber; select 1")
    try:
        assert db.query("select has_table_privilege('basic_subscriber', 'auth.user', 'SELECT')") == [(True,)]
        recipes.apply_sql("hardened")
        assert db.query("select has_table_privilege('basic_subscriber', 'auth.user', 'SELECT')") == [(False,)]
    finally:
        db.query("revoke select on auth.user from basic_subscriber; select 1")


def test_the_gateway_keeps_postgrests_leeway():
    """caddy-jwt's issuer_whitelist and audience_whitelist validate the token again without
    clock_skew: with them, a token that expired 10 s ago was refused by the gateway (chapter 10's
    W11 fix undone). The gateway checks iss and aud with matchers instead."""
    for lifetime, expected in ((-10, 200), (-40, 401)):
        token = tokens.make(lifetime=lifetime)
        answers = (through_gateway(token).status_code, straight_to_postgrest(token).status_code)
        assert answers == (expected, expected), lifetime


def test_a_fresh_token_passes_the_gateway_at_once():
    """With the whitelists (see above), a token whose iat had been rounded up to the next second
    was refused ("invalid issuer") when used within that second. iat and exp are now rounded down."""
    refused = []
    for _ in range(12):
        token = http.cookie_value(http.login(), "access_token")
        response = requests.get(http.gateway("/rest/task?select=id"), cookies={"access_token": token}, timeout=10)
        if response.status_code != 200:
            refused.append(tokens.unverified_claims(token)["iat"])
    assert refused == []
