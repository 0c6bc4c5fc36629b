"""A logout that logs out, and sessions that end (issue 18 items 2 and 3; chapter 17), through the
gateway on the hardened recipe: an access token of a session that ended gets PostgREST's 401 at
once (db-pre-request auth.check_session), not when its exp passes."""

from __future__ import annotations

import time

import pytest
import requests

from stack import db, http, recipes, tokens

AUTH = {"Content-Profile": "auth"}
USER = "session_probe"
PASSWORD = "session probe password"


@pytest.fixture(scope="module", autouse=True)
def hardened(page_stack):
    recipes.use("hardened")
    db.query(
        "insert into auth.user (username, password, role) values (%s, %s, 'basic_subscriber') "
        "on conflict (username) do update set password = excluded.password returning username",
        (USER, PASSWORD),
    )
    wait_for_pre_request()
    yield
    db.query("delete from auth.refresh_token where username = %s returning 1", (USER,))
    db.query("delete from auth.user where username = %s returning 1", (USER,))
    db.query("delete from auth.login_failure returning 1")
    recipes.use("page")


def wait_for_pre_request(timeout: float = 5) -> None:
    """PostgREST reads db-pre-request on NOTIFY 'reload config', which the recipe sends after its
    schema reload (the one stack.recipes waits for): a token naming no live session is refused once it has."""
    token = tokens.make({"role": "basic_subscriber", "sub": USER, "sid": "00000000-0000-0000-0000-000000000000"})
    deadline = time.monotonic() + timeout
    while read(token).status_code != 401:
        assert time.monotonic() < deadline, "db-pre-request not in force"
        time.sleep(0.05)


def login() -> tuple[str, str]:
    """(access token, refresh token) of a new session of USER."""
    response = http.login(USER, PASSWORD)
    assert response.status_code == 204, response.text
    return http.cookie_value(response, "access_token"), http.cookie_value(response, "refresh_token")


def read(access: str) -> requests.Response:
    return requests.get(http.gateway("/rest/task?limit=1"), headers={"Authorization": f"Bearer {access}"}, timeout=10)


def post(path: str, cookie: str = "", json: dict | None = None, access: str | None = None) -> requests.Response:
    headers = {**AUTH, **({"Cookie": cookie} if cookie else {})}
    if access:
        headers["Authorization"] = f"Bearer {access}"
    return requests.post(http.gateway(path), headers=headers, json=json, timeout=10)


def assert_session_ended(response: requests.Response) -> None:
    """PostgREST's own 401 (a JSON body with its code), not the gateway's: the signature still verifies."""
    assert response.status_code == 401, response.text
    assert http.refused_by(response) == "PostgREST"
    assert response.json()["code"] == "PT401"
    assert response.json()["message"] == "Session ended (logged out, expired or revoked)"


def test_a_logged_out_access_token_is_refused_at_once():
    access, _ = login()
    other, _ = login()
    assert read(access).status_code == 200
    assert post("/rpc/logout", f"access_token={access}").status_code == 204
    assert tokens.unverified_claims(access)["exp"] > time.time() + 60, "not yet expired"
    assert_session_ended(read(access))
    assert read(other).status_code == 200, "another session of the same user goes on"


def test_log_out_everywhere_ends_every_session_of_the_user():
    first, _ = login()
    second, refresh = login()
    demo = http.cookie_value(http.login(), "access_token")
    response = post("/rpc/logout_everywhere", f"access_token={first}")
    assert response.status_code == 204, response.text
    assert_session_ended(read(first))
    assert_session_ended(read(second))
    assert post("/rpc/refresh_token", f"refresh_token={refresh}").status_code == 401
    assert read(demo).status_code == 200, "another user's session goes on"


def test_log_out_everywhere_needs_a_login():
    response = post("/rpc/logout_everywhere")
    assert response.status_code == 401 and response.json()["code"] == "GW401", "the gateway refuses it"


def test_a_token_issued_before_a_password_change_is_refused():
    other, _ = login()
    current, _ = login()
    try:
        changed = post(
            "/rpc/change_password", json={"old_pass": PASSWORD, "new_pass": "a new long password"}, access=current
        )
        assert changed.status_code == 204, changed.text
        assert_session_ended(read(other))
        assert read(current).status_code == 200, "the session that changed it goes on"
        assert http.login(USER, PASSWORD).status_code == 401
        assert http.login(USER, "a new long password").status_code == 204
    finally:
        db.query("update auth.user set password = %s where username = %s returning 1", (PASSWORD, USER))


def test_a_session_past_its_absolute_lifetime_cannot_be_refreshed():
    access, refresh = login()
    sid = tokens.unverified_claims(access)["sid"]
    # Refreshed a day ago, so never idle: only its start, 31 days back, ends it.
    db.query(
        "update auth.refresh_token set family_started_at = now() - interval '31 days', "
        "created_at = now() - interval '1 day' where family = %s returning 1",
        (sid,),
    )
    refused = post("/rpc/refresh_token", f"refresh_token={refresh}")
    assert refused.status_code == 401 and refused.json()["message"].startswith("Session ended: it started"), (
        refused.text
    )
    assert_session_ended(read(access))


def test_rotation_keeps_the_start_of_the_session():
    access, refresh = login()
    sid = tokens.unverified_claims(access)["sid"]
    db.query(
        "update auth.refresh_token set family_started_at = now() - interval '29 days' where family = %s returning 1",
        (sid,),
    )
    rotated = post("/rpc/refresh_token", f"refresh_token={refresh}")
    assert rotated.status_code == 200, rotated.text
    starts = db.query(
        "select distinct family_started_at < now() - interval '28 days' from auth.refresh_token where family = %s",
        (sid,),
    )
    assert starts == [(True,)], "the new token keeps the family's start"


def test_an_idle_session_cannot_be_refreshed():
    access, refresh = login()
    sid = tokens.unverified_claims(access)["sid"]
    db.query(
        "update auth.refresh_token set created_at = now() - interval '8 days' where family = %s returning 1", (sid,)
    )
    assert post("/rpc/refresh_token", f"refresh_token={refresh}").status_code == 401
    assert_session_ended(read(access))


def test_ended_sessions_are_deleted():
    live, _ = login()
    ended, _ = login()
    post("/rpc/logout", f"access_token={ended}")
    families = [tokens.unverified_claims(t)["sid"] for t in (live, ended)]
    db.query("select auth.delete_ended_sessions()")
    left = db.query(
        "select family::text from auth.refresh_token where family = any(%s::uuid[]) group by family", (families,)
    )
    assert left == [(families[0],)]


def test_tokens_without_a_session_id_are_not_checked():
    """A token made with the secret (no sid) names no session: the pre-request lets it through."""
    assert read(tokens.make({"role": "basic_subscriber", "sub": USER})).status_code == 200


def test_a_malformed_session_id_is_refused():
    assert_session_ended(read(tokens.make({"role": "basic_subscriber", "sub": USER, "sid": "x' or true --"})))


def test_the_gateway_alone_cannot_revoke_app_before_exp():
    """/app/ is served by Caddy without PostgREST: a logged-out token keeps reading it until exp."""
    access, _ = login()
    post("/rpc/logout", f"access_token={access}")
    assert_session_ended(read(access))
    assert requests.get(http.gateway("/app/"), cookies={"access_token": access}, timeout=10).status_code == 200
