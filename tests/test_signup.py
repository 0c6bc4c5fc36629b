"""Sign-up and password change (issue 18 item 4; chapter 18) on the hardened recipe: POST
/rpc/signup (public) and POST /rpc/change_password (behind jwtauth), both Content-Profile: auth."""

from __future__ import annotations

import pytest
import requests

from stack import db, http, recipes

AUTH = {"Content-Profile": "auth"}
NAMES = ("signup_probe", "signup_probe_2", "taken_probe")
GOOD = "a long enough password"


@pytest.fixture(scope="module", autouse=True)
def hardened(page_stack):
    recipes.use("hardened")
    clean()
    yield
    clean()
    recipes.use("page")


@pytest.fixture(autouse=True)
def no_failures():
    clean()
    db.query("delete from auth.login_failure returning 1")
    yield
    db.query("delete from auth.login_failure returning 1")


def clean() -> None:
    db.query("delete from auth.refresh_token where username = any(%s) returning 1", (list(NAMES),))
    db.query("delete from auth.user where username = any(%s) returning 1", (list(NAMES),))


def signup(user: str, password: str, address: str | None = None) -> requests.Response:
    """Through the gateway; with `address`, straight to PostgREST with the X-Forwarded-For Caddy would write."""
    if address is None:
        return requests.post(
            http.gateway("/rpc/signup"), json={"user_": user, "pass": password}, headers=AUTH, timeout=10
        )
    return requests.post(
        http.postgrest("/rpc/signup"),
        json={"user_": user, "pass": password},
        headers={**AUTH, "X-Forwarded-For": address},
        timeout=10,
    )


def test_sign_up_then_log_in():
    response = signup("signup_probe", GOOD)
    assert response.status_code == 201, response.text
    assert response.json() == {"username": "signup_probe"}
    assert db.query("select role from auth.user where username = 'signup_probe'") == [("basic_subscriber",)]
    assert http.login("signup_probe", GOOD).status_code == 204


def test_a_taken_name_gets_the_same_generic_refusal_as_a_reserved_one():
    assert signup("taken_probe", GOOD).status_code == 201
    taken = signup("taken_probe", "another long password")
    reserved = signup("admin", "another long password")
    assert taken.status_code == reserved.status_code == 409
    assert (
        taken.json()
        == reserved.json()
        == {
            "code": "PT409",
            "message": "This user name cannot be used",
            "details": None,
            "hint": "Choose another user name",
        }
    )
    assert http.login("taken_probe", "another long password").status_code == 401, "the password stayed"


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [
        ("ab", GOOD, "A user name is 3 to 32 characters of a-z, 0-9 and _"),
        ("Signup Probe", GOOD, "A user name is 3 to 32 characters of a-z, 0-9 and _"),
        ("signup_probe_2", "short", "A password has at least 10 characters"),
        ("signup_probe_2", "x" * 73, "A password has at most 72 bytes (bcrypt ignores the rest)"),
        ("signup_probe_2", "my signup_probe_2 pw", "A password must not contain the user name"),
    ],
)
def test_the_rules_are_checked_and_named(user, password, message):
    response = signup(user, password)
    assert response.status_code == 400 and response.json()["message"] == message
    assert not db.query("select 1 from auth.user where username = %s", (user,))


def test_sign_ups_count_against_the_addresss_login_limit():
    address = "203.0.113.9"
    answers = [signup("taken_probe" if n % 2 else f"free_{n}_x", "z" * 12, address).status_code for n in range(12)]
    try:
        assert answers[:10].count(429) == 0 and answers[10:] == [429, 429], answers
        login = requests.post(
            http.postgrest("/rpc/login"),
            json={"user_": "demo", "pass": "demo"},
            headers={**AUTH, "X-Forwarded-For": address},
            timeout=10,
        )
        assert login.status_code == 429, "logins from this address wait too"
        assert signup("signup_probe_2", GOOD, "203.0.113.10").status_code == 201, "another address does not"
    finally:
        db.query("delete from auth.user where username like 'free\\_%%\\_x' returning 1")


def test_failed_logins_count_against_sign_ups():
    address = "203.0.113.11"
    for n in range(10):
        requests.post(
            http.postgrest("/rpc/login"),
            json={"user_": "demo", "pass": f"guess {n}"},
            headers={**AUTH, "X-Forwarded-For": address},
            timeout=10,
        )
    assert signup("signup_probe_2", GOOD, address).status_code == 429


def test_sign_up_refuses_get():
    url = http.postgrest("/rpc/signup?user_=signup_probe_2&pass=whatever12")
    response = requests.get(url, headers={"Accept-Profile": "auth"}, timeout=10)
    assert response.status_code == 405 and response.json()["message"] == "Sign up with POST"


def test_change_password_needs_the_current_one_and_a_login():
    assert signup("signup_probe_2", GOOD).status_code == 201
    access = http.cookie_value(http.login("signup_probe_2", GOOD), "access_token")
    headers = {**AUTH, "Authorization": f"Bearer {access}"}
    url = http.gateway("/rpc/change_password")
    wrong = requests.post(url, json={"old_pass": "not the password", "new_pass": "new long password"}, headers=headers)
    assert wrong.status_code == 403 and wrong.json()["message"] == "Wrong current password"
    assert db.query("select count(*) from auth.login_failure where key = 'user:signup_probe_2'") == [(1,)]
    weak = requests.post(url, json={"old_pass": GOOD, "new_pass": "short"}, headers=headers)
    assert weak.status_code == 400 and weak.json()["message"] == "A password has at least 10 characters"
    anonymous = requests.post(url, json={"old_pass": GOOD, "new_pass": "new long password"}, headers=AUTH)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "GW401"
    assert (
        requests.post(url, json={"old_pass": GOOD, "new_pass": "new long password"}, headers=headers).status_code == 204
    )
    assert http.login("signup_probe_2", "new long password").status_code == 204
