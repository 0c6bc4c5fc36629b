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
        assert response.json()["code"] == "GW401", "the gateway refuses it, not PostgREST"


def test_make_status_names_the_recipe_and_make_recipe_switches():
    recipes.use("page")  # the test before this one leaves the hardened recipe
    assert "recipe: page;" in run_stack("status").stdout
    switched = run_stack("recipe", "hardened")
    assert switched.returncode == 0 and switched.stdout.rstrip().endswith("recipe: hardened")
    assert "recipe: hardened; switch with `make recipe NAME=page`" in run_stack("status").stdout
    refused = run_stack("recipe", "both")
    assert refused.returncode == 2 and "fix: make recipe NAME=page or NAME=hardened" in refused.stderr
    assert run_stack("recipe", "page").returncode == 0
    assert recipes.current() == "page"


# --- Issue 13: throttling, the refresh race, the signing secret ---

THROTTLED_USER = "throttle_probe"


def login_from(address: str, password: str) -> requests.Response:
    """Straight to PostgREST with the X-Forwarded-For Caddy would write: many client addresses."""
    return requests.post(
        http.postgrest("/rpc/login"),
        json={"user_": THROTTLED_USER, "pass": password},
        headers={**AUTH, "X-Forwarded-For": address},
        timeout=10,
    )


def test_the_hardened_login_throttles_per_address_and_per_name():
    recipes.use("hardened")
    db.query("delete from auth.login_failure")
    try:
        _throttles()
    finally:
        db.query("delete from auth.login_failure")
        db.query("delete from auth.user where username = %s returning username", (THROTTLED_USER,))


def _throttles():
    db.query(
        "insert into auth.user (username, password, role) values (%s, 'right-password', 'basic_subscriber') "
        "on conflict (username) do update set password = excluded.password returning username",
        (THROTTLED_USER,),
    )
    # One address guessing, through the gateway: 10 answers, then 429 with Retry-After.
    guesses = [http.login(THROTTLED_USER, f"guess-{n}") for n in range(15)]
    assert [r.status_code for r in guesses] == [401] * 10 + [429] * 5
    wait = int(guesses[-1].headers["Retry-After"])
    assert 1 <= wait <= 60 and guesses[-1].json()["code"] == "PT429"
    assert http.login(THROTTLED_USER, "right-password").status_code == 429, "this address waits"
    assert login_from("192.0.2.1", "right-password").status_code == 204, "the user, elsewhere, is not locked out"

    # Many addresses guessing one name: 20 failures a minute, then the name waits too.
    db.query("delete from auth.login_failure")
    spread = [login_from(f"192.0.2.{n}", f"guess-{n}").status_code for n in range(1, 23)]
    assert spread == [401] * 20 + [429] * 2
    assert login_from("198.51.100.7", "right-password").status_code == 429
    # At most a minute: once the failures are 61 s old, the name and the address are free again.
    db.query("update auth.login_failure set at = at - interval '61 seconds'")
    assert login_from("198.51.100.7", "right-password").status_code == 204
    assert http.login(THROTTLED_USER, "right-password").status_code == 204


def test_the_first_of_two_concurrent_refreshes_wins():
    """Two refreshes with one token while it is being rotated: one rotates, the other is refused
    and revokes nothing, so the winner's new token works (10 rounds)."""
    import threading

    recipes.use("hardened")
    for _ in range(10):
        token = http.cookie_value(http.login(), "refresh_token")
        answers: list[requests.Response] = []
        with db.connect(autocommit=False) as holder:
            # Hold the token's row as a refresh in progress would, so that both requests meet it locked.
            holder.execute(
                "select 1 from auth.refresh_token where token_hash = encode(sha256(convert_to(%s, 'utf8')), 'hex') "
                "for update",
                (token,),
            )
            threads = [
                threading.Thread(
                    target=lambda token=token, answers=answers: answers.append(
                        post("/rpc/refresh_token", f"refresh_token={token}")
                    )
                )
                for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            holder.rollback()
        for thread in threads:
            thread.join(10)
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        winner = next(r for r in answers if r.status_code == 200)
        loser = next(r for r in answers if r.status_code == 409)
        assert loser.json()["code"] == "PT409" and not http.set_cookies(loser), "the loser clears no cookie"
        follow = post("/rpc/refresh_token", f"refresh_token={http.cookie_value(winner, 'refresh_token')}")
        assert follow.status_code == 200, follow.text


def test_ordinary_roles_cannot_read_the_signing_secret():
    secret = config.settings()["JWT_SECRET"]
    readable = {}
    for recipe in ("page", "hardened"):
        recipes.use(recipe)
        with db.connect_as_authenticator() as conn:
            for role in ("authenticator", "anon", "basic_subscriber"):
                conn.execute(f"set role {role}")
                value = conn.execute("select current_setting('pgrst.jwt_secret', true)").fetchone()[0]
                readable[(recipe, role)] = value == secret
                conn.execute("reset role")
    assert readable == {
        **{("page", role): True for role in ("authenticator", "anon", "basic_subscriber")},
        **{("hardened", role): False for role in ("authenticator", "anon", "basic_subscriber")},
    }
    with db.connect_as_authenticator() as conn:
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("select jwt_secret from auth.private_settings")
    assert http.login().status_code == 204, "the hardened login still signs"
