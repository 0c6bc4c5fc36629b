"""The seed page's curl walk-through, step by step, against the gateway on :8000 (issue 2)."""

from __future__ import annotations

import time

import requests

from stack import db, http, tokens


def test_login_sets_both_cookies(page_stack):
    # curl --show-headers -X POST -H 'Content-Profile: auth' -H 'Content-Type: application/json'
    #      --data '{"user_": "demo", "pass": "demo"}' http://localhost:8000/rpc/login
    response = http.login("demo", "demo")
    assert response.status_code == 204
    assert response.content == b""
    cookies = http.set_cookies(response)
    assert len(cookies) == 2
    access, refresh = cookies
    assert access.startswith("access_token=eyJ") and access.endswith("; Path=/; HttpOnly;")
    assert refresh.startswith("refresh_token=") and refresh.endswith("; Path=/rpc/refresh_token; HttpOnly;")


def test_access_token_verifies_with_the_decoded_secret(page_stack):
    token = http.cookie_value(http.login(), "access_token")
    claims = tokens.verify(token)
    assert set(claims) == {"role", "username", "sub", "exp"}
    assert claims["role"] == "basic_subscriber"
    assert claims["username"] == claims["sub"] == "demo"
    # The page says one hour; auth.generate_access_token hard-codes 600 s.
    assert 590 <= claims["exp"] - time.time() <= 601
    assert tokens.header(token) == {"alg": "HS256", "typ": "JWT"}


def test_task_with_cookie_is_200_json(page_stack):
    token = http.cookie_value(http.login(), "access_token")
    response = requests.get(http.gateway("/rest/task"), headers={"Cookie": f"access_token={token}"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    rows = response.json()
    # Every row of the table (the page's recipe has no row-level security): the seed's five, and any a
    # chapter run before this test left (test_editions runs chapters only up to their exercise).
    every_row = db.query("select id from public.task order by id")
    assert sorted(row["id"] for row in rows) == [id_ for (id_,) in every_row] and len(every_row) >= 5
    assert {"id", "title", "done"} == set(rows[0])


def test_task_without_cookie_is_refused_by_caddy(page_stack):
    response = requests.get(http.gateway("/rest/task"), timeout=10)
    assert response.status_code == 401
    assert response.content == b""  # caddy-jwt answers, PostgREST never sees it


def test_refresh_gives_a_new_access_token(page_stack):
    first = http.login()
    refresh_token = http.cookie_value(first, "refresh_token")
    # The page's example quotes the cookie wrongly; this is the request it means.
    response = requests.post(
        http.gateway("/rpc/refresh_token"),
        headers={"Content-Profile": "auth", "Cookie": f"refresh_token={refresh_token}"},
        timeout=10,
    )
    assert response.status_code == 204
    cookies = http.set_cookies(response)
    assert len(cookies) == 1 and cookies[0].startswith("access_token=eyJ")
    assert tokens.verify(http.cookie_value(response, "access_token"))["sub"] == "demo"


def test_logout_expires_both_cookies(page_stack):
    response = requests.post(http.gateway("/rpc/logout"), headers={"Content-Profile": "auth"}, timeout=10)
    assert response.status_code == 204
    assert http.set_cookies(response) == [
        "access_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;",
        "refresh_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;",
    ]


def test_rest_root_is_the_public_openapi_description(page_stack):
    response = requests.get(http.gateway("/rest/"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openapi+json")
    assert response.json()["swagger"] == "2.0"
