"""Each user's own rows (issue 18, item 1; migrations/hardening/up.d/16-own-rows.sql), through the
gateway on the hardened recipe: two users each see and change only their own tasks; a row given to
someone else is refused; a command without a policy is refused for everyone."""

from __future__ import annotations

import pytest
import requests

from stack import db, http, recipes

USERS = {"alice16": "alice-password", "bob16": "bob-password"}
RETURN = {"Prefer": "return=representation"}


@pytest.fixture(scope="module")
def cookies(page_stack):
    recipes.use("hardened")
    with db.connect() as conn:
        for name, password in USERS.items():
            conn.execute("delete from auth.user where username = %s", (name,))
            conn.execute("insert into auth.user values (%s, %s, 'basic_subscriber')", (name, password))
    found = {}
    for name, password in USERS.items():
        login = http.login(name, password)
        assert login.status_code == 204, login.text
        found[name] = {"Cookie": f"access_token={http.cookie_value(login, 'access_token')}"}
    login = http.login()
    found["demo"] = {"Cookie": f"access_token={http.cookie_value(login, 'access_token')}"}
    yield found
    db.query("delete from public.task where title like 'test_own_rows %' returning id")
    with db.connect() as conn:
        for name in USERS:
            conn.execute("delete from auth.refresh_token where username = %s", (name,))
            conn.execute("delete from auth.user where username = %s", (name,))
    recipes.use("page")


def rest(method: str, path: str, headers: dict, **kwargs) -> requests.Response:
    # The hardened gateway refuses a write without a JSON Content-Type (chapter 10's CSRF fix): a
    # DELETE has no body, so it says so itself.
    headers = {"Content-Type": "application/json", **headers}
    return requests.request(method, http.gateway(f"/rest/{path}"), headers=headers, timeout=10, **kwargs)


def test_each_user_sees_and_changes_only_their_own_tasks(cookies):
    alice, bob = cookies["alice16"], cookies["bob16"]
    made = {}
    for name, headers in (("alice16", alice), ("bob16", bob)):
        response = rest("POST", "task", {**headers, **RETURN}, json={"title": f"test_own_rows {name}"})
        assert response.status_code == 201, response.text
        [row] = response.json()
        assert row["owner"] == name, "the owner comes from the token's sub, not from the request"
        made[name] = row["id"]

    seen = {name: rest("GET", "task?select=title,owner", cookies[name]).json() for name in (*USERS, "demo")}
    assert seen["alice16"] == [{"title": "test_own_rows alice16", "owner": "alice16"}]
    assert seen["bob16"] == [{"title": "test_own_rows bob16", "owner": "bob16"}]
    assert seen["demo"] and all(row["owner"] == "demo" for row in seen["demo"]), "demo owns the seeded tasks"

    # Bob aims at Alice's row: no row matches his policies, so nothing changes (and nothing is said).
    patched = rest("PATCH", f"task?id=eq.{made['alice16']}", {**bob, **RETURN}, json={"title": "bob was here"})
    deleted = rest("DELETE", f"task?id=eq.{made['alice16']}", {**bob, **RETURN})
    assert (patched.status_code, patched.json()) == (200, [])
    assert (deleted.status_code, deleted.json()) == (200, [])
    assert db.query("select title, owner from public.task where id = %s", (made["alice16"],)) == [
        ("test_own_rows alice16", "alice16")
    ]

    # Her own row she can change and delete.
    mine = rest("PATCH", f"task?id=eq.{made['alice16']}", {**alice, **RETURN}, json={"done": True})
    assert [row["done"] for row in mine.json()] == [True]
    gone = rest("DELETE", f"task?id=eq.{made['alice16']}", {**alice, **RETURN})
    assert [row["id"] for row in gone.json()] == [made["alice16"]]


def test_a_row_cannot_be_given_to_someone_else(cookies):
    bob = cookies["bob16"]
    planted = rest("POST", "task", bob, json={"title": "test_own_rows planted", "owner": "alice16"})
    assert planted.status_code == 403
    assert planted.json()["code"] == "42501"
    [[made]] = db.query(
        "insert into public.task (title, owner) values ('test_own_rows bob16 keeps', 'bob16') returning id"
    )
    moved = rest("PATCH", f"task?id=eq.{made}", bob, json={"owner": "alice16"})
    assert moved.status_code == 403 and moved.json()["code"] == "42501"
    assert db.query("select owner from public.task where id = %s", (made,)) == [("bob16",)]


def test_a_command_without_a_policy_is_refused(cookies):
    policy = db.query("select pg_get_expr(polwithcheck, polrelid) from pg_policy where polname = 'task_insert'")[0][0]
    db.query("drop policy task_insert on public.task; select 1")
    try:
        refused = rest("POST", "task", cookies["alice16"], json={"title": "test_own_rows no policy"})
        read = rest("GET", "task?select=owner", cookies["alice16"])
    finally:
        db.query(
            f"create policy task_insert on public.task for insert to basic_subscriber with check ({policy}); select 1"
        )
    assert refused.status_code == 403
    assert refused.json()["message"] == 'new row violates row-level security policy for table "task"'
    assert read.status_code == 200, "the other commands keep their policies"
