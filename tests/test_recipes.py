"""stack.recipes switches the stack between the page's recipe and the hardened one (issue 5):
idempotent both ways, read from the stack itself, and the page's behaviour exactly restored."""

from __future__ import annotations

import hashlib
import time

import pytest
import requests

from conftest import run_stack
from stack import config, db, http, recipes, tokens
from stack.services import caddy

AUTH = {"Content-Profile": "auth"}
DEFINITIONS = """
select p.oid::regprocedure::text, pg_get_functiondef(p.oid), coalesce(p.proacl::text, '')
from pg_proc p where p.pronamespace = 'auth'::regnamespace order by 1
"""
COLUMNS = """
select column_name, data_type, is_nullable, coalesce(column_default, '') from information_schema.columns
where table_schema = 'auth' and table_name = 'refresh_token' order by ordinal_position
"""


@pytest.fixture(scope="module", autouse=True)
def page_afterwards(page_stack):
    """Every other test file expects the page's recipe: leave it so, whatever happens here."""
    yield
    recipes.use("page")


def post(path: str, cookie: str | None = None) -> requests.Response:
    headers = {**AUTH, **({"Cookie": cookie} if cookie else {})}
    return requests.post(http.gateway(path), headers=headers, timeout=10)


def page_fingerprint() -> dict:
    """What the page's recipe looks like from outside and inside, minus the volatile values."""
    login = http.login()
    access = http.cookie_value(login, "access_token")
    logout = post("/rpc/logout", f"access_token={access}")
    return {
        "definitions": db.query(DEFINITIONS),
        "columns": db.query(COLUMNS),
        "login": [http.shorten(header) for header in http.set_cookies(login)],
        "logout": http.set_cookies(logout),
        "claims": sorted(tokens.unverified_claims(access)),
        "lifetime": tokens.unverified_claims(access)["exp"] - int(time.time()),
    }


def test_use_is_idempotent_both_ways(capsys):
    for recipe in ("page", "hardened", "page"):
        assert recipes.use(recipe) == recipe
        capsys.readouterr()
        assert recipes.use(recipe) == recipe
        assert capsys.readouterr().out == "", "a second use() must find nothing to do"
        assert recipes.current() == recipe
        assert recipes.parts() == {"database": recipe, "gateway": recipe}


def test_current_reads_the_stack_not_a_variable():
    recipes.use("hardened")
    # Behind use()'s back: the gateway gets the page's Caddyfile (as after a Caddy restart).
    caddy.reload(config.settings(), caddyfile=config.CADDYFILE)
    assert recipes.parts() == {"database": "hardened", "gateway": "page"}
    assert recipes.current() == "mixed"
    recipes.use("hardened")
    assert recipes.current() == "hardened"
    # And the database half alone goes back to the page's.
    recipes.apply_sql("page")
    assert recipes.parts() == {"database": "page", "gateway": "hardened"}
    recipes.use("page")
    assert recipes.current() == "page"


def test_a_round_trip_restores_the_page_exactly():
    recipes.use("page")
    before = page_fingerprint()
    assert before["logout"] == [
        "access_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;",
        "refresh_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;",
    ]
    assert before["login"] == [
        "access_token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.‹payload›.‹signature›; Path=/; HttpOnly;",
        "refresh_token=‹uuid›; Path=/rpc/refresh_token; HttpOnly;",
    ]
    assert 595 <= before["lifetime"] <= 601  # exp is now() + 600, rounded
    recipes.use("hardened")
    assert page_fingerprint() != before
    recipes.use("page")
    after = page_fingerprint()
    assert {k: v for k, v in after.items() if k != "lifetime"} == {k: v for k, v in before.items() if k != "lifetime"}
    assert 595 <= after["lifetime"] <= 601


def test_the_hardened_recipe_rotates_hashes_and_revokes():
    recipes.use("hardened")
    login = http.login()
    first = http.cookie_value(login, "refresh_token")
    session = tokens.unverified_claims(http.cookie_value(login, "access_token"))["sid"]
    assert not db.query("select 1 from auth.refresh_token where token = %s", (first,))
    assert db.query(
        "select 1 from auth.refresh_token where token_hash = %s", (hashlib.sha256(first.encode()).hexdigest(),)
    )

    rotated = post("/rpc/refresh_token", f"refresh_token={first}")
    assert rotated.status_code == 200
    second = http.cookie_value(rotated, "refresh_token")
    assert second and second != first
    access = http.cookie_value(rotated, "access_token")
    lifetime = tokens.unverified_claims(access)["exp"] - tokens.unverified_claims(access)["iat"]
    assert lifetime == int(config.compose_services()["postgrest"]["environment"]["PGRST_APP_SETTINGS_JWT_EXP"])

    reused = post("/rpc/refresh_token", f"refresh_token={first}")
    assert reused.status_code == 401 and reused.json()["code"] == "PT401"
    assert post("/rpc/refresh_token", f"refresh_token={second}").status_code == 401, "the family is revoked"
    assert db.query("select bool_and(revoked), count(*) from auth.refresh_token where family = %s", (session,)) == [
        (True, 2)
    ]

    # A browser's logout sends only the access cookie (the refresh cookie's Path is /rpc/refresh_token).
    login = http.login()
    refresh = http.cookie_value(login, "refresh_token")
    logout = post("/rpc/logout", f"access_token={http.cookie_value(login, 'access_token')}")
    assert logout.status_code == 204
    assert "refresh_token=; Path=/rpc/refresh_token; Max-Age=0; HttpOnly; Secure; SameSite=Strict" in (
        http.set_cookies(logout)
    )
    assert post("/rpc/refresh_token", f"refresh_token={refresh}").status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 on purpose
def test_the_hardened_gateway():
    recipes.use("hardened")
    task = http.gateway("/rest/task?select=id")
    valid = tokens.make()
    assert requests.get(task, headers={"Authorization": f"Bearer {valid}"}, timeout=10).status_code == 200
    for refused in (tokens.make(algorithm="HS512"), tokens.make(exp=None), "garbage"):
        response = requests.get(task, headers={"Cookie": f"access_token={refused}"}, timeout=10)
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("application/json")
        assert sorted(response.json()) == ["code", "details", "hint", "message"]


def test_make_status_names_the_recipe_and_make_recipe_switches():
    assert "recipe: page;" in run_stack("status").stdout
    switched = run_stack("recipe", "hardened")
    assert switched.returncode == 0 and switched.stdout.rstrip().endswith("recipe: hardened")
    assert "recipe: hardened; switch with `make recipe NAME=page`" in run_stack("status").stdout
    refused = run_stack("recipe", "both")
    assert refused.returncode == 2 and "fix: make recipe NAME=page or NAME=hardened" in refused.stderr
    assert run_stack("recipe", "page").returncode == 0
    assert recipes.current() == "page"
