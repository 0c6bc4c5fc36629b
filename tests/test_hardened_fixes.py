"""One test per fix of the hardened recipe (issue 17, item 4): each fails when that fix alone is
removed from migrations/hardening/up.sql or stack/caddy/Caddyfile.hardened (tests/mutations.py
removes them one at a time and prints which test caught each), plus the page's own guards that a
chapter relied on (its 30-day refresh limit, anon without select on auth.user).

A test that names the layer that must refuse asserts that layer's answer: the gateway's own error
body (`GW401`, `GW403`, `GW413`, from Caddyfile.hardened's handle_errors), or PostgREST's.
Refusals at the gateway are asked of /app/ (static files, no PostgREST behind them), so that
PostgREST cannot refuse in the gateway's place.
"""

from __future__ import annotations

import hashlib

import psycopg
import pytest
import requests

from stack import config, db, http, recipes, tokens

AUTH = {"Content-Profile": "auth"}
APP = "/app/"
HINT = "Log in at /rpc/login, or refresh at /rpc/refresh_token"
USER = "hardfix_probe"
HELPERS = (
    "auth.token_hash(text)",
    "auth.access_token_lifetime()",
    "auth.verified_claims(text)",
    "auth.request_cookie(text)",
    "auth.session_cookies(text, text)",
    "auth.expired_cookies()",
    "auth.generate_access_token(text, text, text, uuid)",
    "auth.jwt_secret()",
    "auth.dummy_hash()",
    "auth.bcrypt_cost(text)",
    "auth.client_address()",
    "auth.retry_after(text, integer)",
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 on purpose


@pytest.fixture(scope="module", autouse=True)
def page_afterwards(page_stack):
    """Every other test file expects the page's recipe: leave it so, whatever happens here."""
    yield
    db.query("delete from auth.user where username like 'hardfix%%' returning username")
    db.query("delete from auth.login_failure")
    recipes.use("page")


@pytest.fixture
def hardened() -> None:
    recipes.use("hardened")
    db.query("delete from auth.login_failure")


def post(path: str, cookie: str | None = None, **headers: str) -> requests.Response:
    """POST through the gateway, with the Cookie header a browser would send."""
    headers = {**AUTH, **headers, **({"Cookie": cookie} if cookie else {})}
    return requests.post(http.gateway(path), headers=headers, timeout=10)


def app(**headers: str) -> requests.Response:
    return requests.get(http.gateway(APP), headers=headers, timeout=10)


def assert_gateway_refused(response: requests.Response, status: int, message: str) -> None:
    """The hardened gateway's own answer (handle_errors), not PostgREST's, not caddy-jwt's empty one."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("Content-Type") == "application/json; charset=utf-8", response.headers
    body = response.json()
    assert body["code"] == f"GW{status}" and body["message"] == message, body


def refresh_row(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_roles() -> list[str]:
    """Every role a client can become: PostgREST's login role and each role it may SET ROLE to."""
    granted = db.query(
        "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
        "where m.member = 'authenticator'::regrole order by 1"
    )
    return ["authenticator", *(name for (name,) in granted)]


def make_user(name: str, password: str, cost: int | None = None) -> None:
    """A user; with `cost`, its hash made at that bcrypt cost behind the trigger's back (an old hash)."""
    with db.connect() as conn:
        conn.execute("delete from auth.user where username = %s", (name,))
        if cost is None:
            conn.execute("insert into auth.user values (%s, %s, 'basic_subscriber')", (name, password))
            return
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")  # no triggers
            conn.execute(
                "insert into auth.user values (%s, public.crypt(%s, public.gen_salt('bf', %s)), 'basic_subscriber')",
                (name, password, cost),
            )


def crypt_calls_of_login(user: str, password: str) -> tuple[dict, int]:
    """auth.login's answer and how many crypt() runs it cost (rolled back: no failure recorded)."""
    with db.connect() as conn:
        conn.execute("set track_functions = 'all'")
        with conn.transaction(force_rollback=True):
            answer = conn.execute("select auth.login(%s, %s)", (user, password)).fetchone()[0]
            calls = conn.execute(
                "select pg_stat_get_xact_function_calls('public.crypt(text, text)'::regprocedure)"
            ).fetchone()[0]
    return answer, calls


# --- The gateway (stack/caddy/Caddyfile.hardened) ---


def test_gateway_errors_are_json_in_postgrests_shape(hardened):
    refused = requests.get(http.gateway("/rest/task?select=id"), timeout=10)
    assert refused.headers.get("WWW-Authenticate") == "Bearer"
    assert_gateway_refused(refused, 401, "Missing, invalid or expired access token")
    assert refused.json() == {
        "code": "GW401",
        "message": "Missing, invalid or expired access token",
        "details": None,
        "hint": HINT,
    }


def test_gateway_refuses_an_hs512_cookie(hardened):
    assert app(Cookie=f"access_token={tokens.make()}").status_code == 200
    refused = app(Cookie=f"access_token={tokens.make(algorithm='HS512')}")
    assert_gateway_refused(refused, 401, "Access token is not an HS256 JWT")


def test_gateway_refuses_an_hs512_bearer_header(hardened):
    assert app(Authorization=f"Bearer {tokens.make()}").status_code == 200
    refused = app(Authorization=f"Bearer {tokens.make(algorithm='HS512')}")
    assert_gateway_refused(refused, 401, "Access token is not an HS256 JWT")


def test_gateway_refuses_a_second_access_token_cookie(hardened):
    refused = app(Cookie=f"Access_Token={tokens.make()}; access_token={tokens.make(algorithm='HS512')}")
    assert_gateway_refused(refused, 401, "More than one access_token cookie")


def test_gateway_refuses_a_token_without_exp(hardened):
    refused = app(Cookie=f"access_token={tokens.make(exp=None)}")
    assert_gateway_refused(refused, 401, "Token has no exp claim")


def test_gateway_allows_postgrests_30_s_of_clock_skew(hardened):
    assert app(Cookie=f"access_token={tokens.make(lifetime=-10)}").status_code == 200
    refused = app(Cookie=f"access_token={tokens.make(lifetime=-40)}")
    assert_gateway_refused(refused, 401, "Missing, invalid or expired access token")


def test_gateway_keeps_a_clients_own_authorization_header(hardened):
    own = requests.get(
        http.gateway("/rest/task?select=id"), headers={"Authorization": f"Bearer {tokens.make()}"}, timeout=10
    )
    assert own.status_code == 200, own.text


def test_gateway_refuses_a_cross_origin_write(hardened):
    title = "hardfix cross-origin"
    try:
        refused = requests.post(
            http.gateway("/rest/task"),
            json={"title": title},
            headers={"Cookie": f"access_token={tokens.make()}", "Origin": "http://localhost:1"},
            timeout=10,
        )
        assert_gateway_refused(refused, 403, "Cross-origin request refused")
    finally:
        db.query("delete from public.task where title = %s returning id", (title,))


def test_gateway_refuses_a_write_a_form_can_send(hardened):
    title = "hardfix form"
    try:
        for content_type in ("application/x-www-form-urlencoded", "text/plain"):
            refused = requests.post(
                http.gateway("/rest/task"),
                data=f"title={title}",
                headers={"Cookie": f"access_token={tokens.make()}", "Content-Type": content_type},
                timeout=10,
            )
            assert_gateway_refused(
                refused, 403, "A request that changes data needs a JSON body or a Content-Profile header"
            )
    finally:
        db.query("delete from public.task where title like %s returning id", (f"%{title}%",))


def test_gateway_refuses_a_body_over_1_mb(hardened):
    refused = requests.post(
        http.gateway("/rpc/login"),
        data=b'{"user_": "' + b"x" * 1_100_000 + b'", "pass": "x"}',
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert refused.status_code == 413, refused.text[:200]
    assert refused.json()["code"] == "GW413"


# --- Sessions: refresh and logout (migrations/hardening/up.sql) ---


def test_refresh_tokens_are_stored_only_as_digests(hardened):
    token = http.cookie_value(http.login(), "refresh_token")
    assert db.query("select token from auth.refresh_token where token_hash = %s", (refresh_row(token),)) == [(None,)]
    assert not db.query("select 1 from auth.refresh_token where token = %s", (token,))


def test_page_sessions_survive_hardening_as_digests():
    recipes.use("page")
    token = http.cookie_value(http.login(), "refresh_token")
    recipes.use("hardened")
    assert not db.query("select 1 from auth.refresh_token where token = %s", (token,)), "no plain text left"
    assert post("/rpc/refresh_token", f"refresh_token={token}").status_code == 200


def test_a_refresh_rotates_the_token(hardened):
    first = http.cookie_value(http.login(), "refresh_token")
    rotated = post("/rpc/refresh_token", f"refresh_token={first}")
    second = http.cookie_value(rotated, "refresh_token")
    assert rotated.status_code == 200 and second and second != first
    assert db.query("select revoked from auth.refresh_token where token_hash = %s", (refresh_row(first),)) == [(True,)]
    assert post("/rpc/refresh_token", f"refresh_token={second}").status_code == 200


def test_reusing_a_rotated_token_revokes_the_whole_family(hardened):
    first = http.cookie_value(http.login(), "refresh_token")
    second = http.cookie_value(post("/rpc/refresh_token", f"refresh_token={first}"), "refresh_token")
    reused = post("/rpc/refresh_token", f"refresh_token={first}")
    assert reused.status_code == 401 and reused.json()["code"] == "PT401"
    assert post("/rpc/refresh_token", f"refresh_token={second}").status_code == 401


def test_the_hardened_refresh_ends_after_30_days(hardened):
    """30 days from the session's login, however recently it was refreshed (the session's start is
    kept across rotations, up.d/17-sessions.sql; refreshed a day ago, so the 7-day idle limit is not it)."""
    tokens_by_age = {}
    for days in (29, 31):
        token = http.cookie_value(http.login(), "refresh_token")
        db.query(
            "update auth.refresh_token set family_started_at = family_started_at - %s * interval '1 day', "
            "created_at = created_at - interval '1 day' where token_hash = %s returning id",
            (days, refresh_row(token)),
        )
        tokens_by_age[days] = token
    assert post("/rpc/refresh_token", f"refresh_token={tokens_by_age[29]}").status_code == 200
    expired = post("/rpc/refresh_token", f"refresh_token={tokens_by_age[31]}")
    assert expired.status_code == 401 and expired.json()["code"] == "PT401"
    assert expired.json()["message"] == "Session ended: it started more than 30 days ago"


def test_the_page_refresh_ends_after_30_days():
    recipes.use("page")
    token = http.cookie_value(http.login(), "refresh_token")
    db.query(
        "update auth.refresh_token set created_at = created_at - interval '31 days' where token = %s returning id",
        (token,),
    )
    expired = post("/rpc/refresh_token", f"refresh_token={token}")
    assert expired.status_code == 401 and expired.json()["message"] == "Invalid or expired refresh token"


def test_logout_with_the_refresh_cookie_revokes_the_session(hardened):
    token = http.cookie_value(http.login(), "refresh_token")
    assert post("/rpc/logout", f"refresh_token={token}").status_code == 204
    assert post("/rpc/refresh_token", f"refresh_token={token}").status_code == 401


def test_logout_with_the_access_cookie_revokes_the_session(hardened):
    """What a browser sends to /rpc/logout: the access cookie only (the refresh cookie's Path)."""
    login = http.login()
    token = http.cookie_value(login, "refresh_token")
    assert post("/rpc/logout", f"access_token={http.cookie_value(login, 'access_token')}").status_code == 204
    assert post("/rpc/refresh_token", f"refresh_token={token}").status_code == 401


def test_logout_trusts_only_a_sid_this_database_signed(hardened):
    login = http.login()
    token = http.cookie_value(login, "refresh_token")
    sid = tokens.unverified_claims(http.cookie_value(login, "access_token"))["sid"]
    for forged in (tokens.make(sid=sid, key=b"x" * 32), tokens.make(sid=sid, algorithm="HS512")):
        assert post("/rpc/logout", f"access_token={forged}").status_code == 204
    assert post("/rpc/refresh_token", f"refresh_token={token}").status_code == 200, "the session was not revoked"


def test_logout_expires_both_cookies_where_they_live(hardened):
    logout = post("/rpc/logout", f"access_token={http.cookie_value(http.login(), 'access_token')}")
    assert http.set_cookies(logout) == [
        "access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
        "refresh_token=; Path=/rpc/refresh_token; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
    ]


def test_session_cookies_are_secure_and_same_site(hardened):
    shortened = [http.shorten(header) for header in http.set_cookies(http.login())]
    assert shortened == [
        "access_token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.‹payload›.‹signature›; Path=/; HttpOnly; Secure; SameSite=Lax",
        "refresh_token=‹uuid›; Path=/rpc/refresh_token; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict",
    ]


def test_the_access_token_lives_as_long_as_postgrest_says(hardened):
    claims = tokens.unverified_claims(http.cookie_value(http.login(), "access_token"))
    jwt_exp = config.compose_services()["postgrest"]["environment"]["PGRST_APP_SETTINGS_JWT_EXP"]
    assert claims["exp"] - claims["iat"] == int(jwt_exp)
    assert {"sid", "iat", "exp", "role", "sub"} <= set(claims)


# --- Passwords and login ---


def test_every_auth_function_pins_its_search_path(hardened):
    unpinned = db.query(
        "select p.oid::regprocedure::text from pg_proc p where p.pronamespace = 'auth'::regnamespace "
        "and not coalesce('search_path=\"\"' = any (p.proconfig), false) order by 1"
    )
    assert unpinned == []


def test_a_password_over_72_bytes_is_not_stored(hardened):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="at most 72 bytes"):
        make_user("hardfix_long", "a" * 73)
    make_user("hardfix_long", "a" * 72)


def test_a_password_over_72_bytes_is_refused_at_login(hardened):
    refused = requests.post(
        http.gateway("/rpc/login"), json={"user_": "demo", "pass": "demo" + "a" * 69}, headers=AUTH, timeout=10
    )
    assert refused.status_code == 400 and refused.json()["code"] == "22023", refused.text


def test_new_hashes_use_bcrypt_cost_10(hardened):
    make_user("hardfix_cost", "a password")
    assert db.query("select left(password, 7) from auth.user where username = 'hardfix_cost'") == [("$2a$10$",)]


def test_an_old_hash_is_remade_at_cost_10_when_its_user_logs_in(hardened):
    make_user("hardfix_old", "old password", cost=6)
    assert http.login("hardfix_old", "old password").status_code == 204
    assert db.query("select left(password, 7) from auth.user where username = 'hardfix_old'") == [("$2a$10$",)]


def test_an_unknown_user_costs_one_bcrypt_run(hardened):
    answer, calls = crypt_calls_of_login("hardfix_nobody", "a guess")
    assert answer["code"] == "PT401" and calls == 1


def test_a_wrong_password_for_an_old_hash_costs_a_cost_10_run_too(hardened):
    make_user("hardfix_old", "old password", cost=6)
    answer, calls = crypt_calls_of_login("hardfix_old", "a guess")
    assert answer["code"] == "PT401" and calls == 2, "the cost-6 check, then the dummy's cost-10 run"


def test_a_null_password_or_unknown_user_is_refused(hardened):
    for user, password in (("demo", None), ("hardfix_nobody", "demo"), (None, "demo")):
        refused = requests.post(
            http.gateway("/rpc/login"), json={"user_": user, "pass": password}, headers=AUTH, timeout=10
        )
        assert refused.status_code == 401 and refused.json()["code"] == "PT401", (user, password, refused.text)


def test_a_login_meanwhile_is_told_to_retry(hardened):
    with db.connect() as holder:
        holder.execute("select pg_advisory_lock(hashtext('auth.login user demo'))")
        meanwhile = http.login()
        holder.execute("select pg_advisory_unlock(hashtext('auth.login user demo'))")
    assert meanwhile.status_code == 429 and meanwhile.headers["Retry-After"] == "1", meanwhile.text
    assert meanwhile.json()["message"] == "Another login for this name or from this address is in progress"


def test_the_throttle_counts_the_address_caddy_wrote(hardened):
    requests.post(
        http.postgrest("/rpc/login"),
        json={"user_": "demo", "pass": "a guess"},
        headers={**AUTH, "X-Forwarded-For": "198.51.100.1, 192.0.2.77"},
        timeout=10,
    )
    assert db.query("select key from auth.login_failure where key like 'address:%'") == [("address:192.0.2.77",)]


def test_guesses_from_one_address_are_throttled(hardened):
    statuses = [http.login("demo", f"guess-{n}").status_code for n in range(11)]
    assert statuses == [401] * 10 + [429]


def test_guesses_at_one_name_from_many_addresses_are_throttled(hardened):
    statuses = [
        requests.post(
            http.postgrest("/rpc/login"),
            json={"user_": "demo", "pass": f"guess-{n}"},
            headers={**AUTH, "X-Forwarded-For": f"192.0.2.{n}"},
            timeout=10,
        ).status_code
        for n in range(1, 22)
    ]
    assert statuses == [401] * 20 + [429]


# --- The signing secret and the database's grants ---


def test_no_role_a_client_can_become_reads_the_signing_secret(hardened):
    secret = config.settings()["JWT_SECRET"]
    roles = client_roles()
    assert {"authenticator", "anon", "basic_subscriber"} <= set(roles)
    with db.connect() as conn:
        for role in roles:
            conn.execute(f"set role {role}")
            assert conn.execute("select current_setting('pgrst.jwt_secret', true)").fetchone()[0] in ("", None)
            for sql in ("select jwt_secret from auth.private_settings", "select auth.jwt_secret()"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(sql)
            conn.execute("reset role")
    # Over HTTP: anonymous (no token) and with a token for each role, straight to PostgREST and
    # through the gateway; the table, and the function, in the auth schema.
    asked = 0
    for role in [None, *roles]:
        bearer = {"Authorization": f"Bearer {tokens.make(role=role)}"} if role else {}
        for base in (http.postgrest, lambda path: http.gateway("/rest" + path)):
            answers = (
                requests.get(base("/private_settings"), headers={"Accept-Profile": "auth", **bearer}, timeout=10),
                requests.post(base("/rpc/jwt_secret"), json={}, headers={**AUTH, **bearer}, timeout=10),
            )
            for answer in answers:
                asked += 1
                assert answer.status_code in (401, 403, 404) and secret not in answer.text, (role, answer.text)
    assert asked == 4 * (len(roles) + 1)


def test_no_role_a_client_can_become_reads_an_auth_table(hardened):
    readable = [
        (role, table)
        for role in client_roles()
        for table in ("auth.user", "auth.refresh_token", "auth.login_failure", "auth.private_settings")
        if db.query("select has_table_privilege(%s, %s, 'select')", (role, table))[0][0]
    ]
    assert readable == []


def test_no_role_a_client_can_become_runs_the_auth_helpers(hardened):
    runnable = [
        (role, helper)
        for role in client_roles()
        for helper in HELPERS
        if db.query("select has_function_privilege(%s, %s, 'execute')", (role, helper))[0][0]
    ]
    assert runnable == []


def test_sign_raw_refuses_an_algorithm_it_does_not_implement(hardened):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unsupported JWT algorithm"):
        db.query("select auth.sign_raw('{}'::json, %s, 'none')", (config.settings()["JWT_SECRET"],))


@pytest.mark.parametrize("recipe", ["page", "hardened"])
def test_anon_cannot_read_auth_user(recipe):
    recipes.use(recipe)
    with db.connect() as conn:
        conn.execute("set role anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute('select * from auth."user"')
    for answer in (
        requests.get(http.postgrest("/user"), headers={"Accept-Profile": "auth"}, timeout=10),
        requests.get(
            http.gateway("/rest/user"),
            headers={"Accept-Profile": "auth", "Cookie": f"access_token={tokens.make(role='anon')}"},
            timeout=10,
        ),
    ):
        assert answer.status_code in (401, 403) and "$2a$" not in answer.text, answer.text
