"""What chapters 17 and 18 cost, on the hardened recipe (issue 18):

- the db-pre-request check (auth.check_session) per request: the same protected read through the
  gateway, in alternating blocks with the check in force and switched off (the authenticator role's
  pgrst.db_pre_request reset, NOTIFY 'reload config'), medians per arm;
- sign-up with a taken name against a free one: alternating, straight to PostgREST with a new
  X-Forwarded-For each time and the throttle's rows cleared, so that no 429 is timed.

`run()` switches the stack to the hardened recipe and back to the one it found; it removes its users.
Chapters 17 and 18 call it with fewer rounds (0 rounds leaves a measurement out).
"""

from __future__ import annotations

import statistics
import time

import psycopg

from stack import recipes

from .load import Request, connect, send
from .target import Stack

USER = "bench_session"
PASSWORD = "bench session password"
PRE_REQUEST = "auth.check_session"


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _timed(connection, request: Request, status: int) -> float:
    started = time.perf_counter()
    answer = send(connection, request)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status != status:
        raise RuntimeError(f"{request.method} {request.url}: {answer.status}, expected {status}: {answer.body[:200]!r}")
    return elapsed


def set_pre_request(conn: psycopg.Connection, stack: Stack, name: str | None, access_token: str) -> None:
    """Set (or reset) the in-database db-pre-request, reload PostgREST's config, and wait until it
    holds: a token naming an ended session gets 401 exactly while the check is in force."""
    if name:
        conn.execute(f"alter role authenticator set pgrst.db_pre_request = '{name}'")
    else:
        conn.execute("alter role authenticator reset pgrst.db_pre_request")
    conn.execute("notify pgrst, 'reload config'")
    probe = Request("GET", f"{stack.gateway}/rest/task?limit=1", {"Cookie": f"access_token={access_token}"})
    connection = connect(probe.url)
    deadline = time.monotonic() + 5
    while (send(connection, probe).status == 401) != bool(name):
        if time.monotonic() > deadline:
            raise RuntimeError("PostgREST did not reload its configuration within 5 s")
        time.sleep(0.02)
    connection.close()


def _login(stack: Stack) -> str:
    body = f'{{"user_": "{USER}", "pass": "{PASSWORD}"}}'.encode()
    request = Request(
        "POST",
        f"{stack.gateway}/rpc/login",
        {"Content-Profile": "auth", "Content-Type": "application/json"},
        body,
    )
    connection = connect(request.url)
    answer = send(connection, request)
    connection.close()
    if answer.status != 204:
        raise RuntimeError(f"login: {answer.status} {answer.body[:200]!r}")
    return next(c.split("=", 1)[1].split(";", 1)[0] for c in answer.set_cookies if c.startswith("access_token="))


def pre_request_cost(stack: Stack, conn: psycopg.Connection, rounds: int = 10, per_block: int = 30) -> dict:
    """Alternating blocks of the protected read (with, without, without, with, ...), medians per arm."""
    live = _login(stack)
    ended = _login(stack)
    logout = Request(
        "POST", f"{stack.gateway}/rpc/logout", {"Content-Profile": "auth", "Cookie": f"access_token={ended}"}
    )
    send(connect(logout.url), logout)
    read = Request("GET", f"{stack.gateway}/rest/task", {"Cookie": f"access_token={live}"})
    times: dict[str, list[float]] = {"with": [], "without": []}
    connection = connect(read.url)
    try:
        for round_ in range(rounds):
            arms = ("with", "without") if round_ % 2 == 0 else ("without", "with")
            for arm in arms:
                set_pre_request(conn, stack, PRE_REQUEST if arm == "with" else None, ended)
                _timed(connection, read, 200)  # the first request after a reload is not timed
                times[arm] += [_timed(connection, read, 200) for _ in range(per_block)]
    finally:
        set_pre_request(conn, stack, PRE_REQUEST, ended)
        connection.close()
    with_ms, without_ms = _median(times["with"]), _median(times["without"])
    return {
        "requests_per_arm": len(times["with"]),
        "with_check_p50_ms": with_ms,
        "without_check_p50_ms": without_ms,
        "check_p50_ms": round(with_ms - without_ms, 3),
    }


def signup_timing(stack: Stack, conn: psycopg.Connection, rounds: int = 8) -> dict:
    """A taken name and a free one, alternating (taken, free, free, taken, ...); medians of each."""
    url = f"{stack.postgrest}/rpc/signup"
    times: dict[str, list[float]] = {"taken": [], "free": []}
    connection = connect(url)
    try:
        for round_ in range(rounds):
            arms = ("taken", "free") if round_ % 2 == 0 else ("free", "taken")
            for arm in arms:
                conn.execute("delete from auth.login_failure")
                name = USER if arm == "taken" else f"{USER}_{round_}"
                body = f'{{"user_": "{name}", "pass": "another bench password"}}'.encode()
                headers = {
                    "Content-Profile": "auth",
                    "Content-Type": "application/json",
                    "X-Forwarded-For": f"198.18.0.{round_ + 1}",
                }
                times[arm].append(
                    _timed(connection, Request("POST", url, headers, body), 409 if arm == "taken" else 201)
                )
    finally:
        connection.close()
        conn.execute("delete from auth.login_failure")
    return {
        "per_arm": rounds,
        "taken_p50_ms": _median(times["taken"]),
        "free_p50_ms": _median(times["free"]),
        "taken_over_free_p50": round(_median(times["taken"]) / _median(times["free"]), 2),
    }


def drop_users(conn: psycopg.Connection) -> None:
    conn.execute("delete from auth.refresh_token where username like %s", (USER + "%",))
    conn.execute("delete from auth.user where username like %s", (USER + "%",))


def run(stack: Stack, rounds: int = 10, per_block: int = 30, signup_rounds: int = 8) -> dict:
    before = recipes.current()
    recipes.use("hardened")
    with psycopg.connect(stack.conninfo, autocommit=True) as conn:
        try:
            drop_users(conn)
            conn.execute(
                "insert into auth.user (username, password, role) values (%s, %s, 'basic_subscriber')",
                (USER, PASSWORD),
            )
            results = {}
            if rounds:
                results["pre_request"] = pre_request_cost(stack, conn, rounds, per_block)
            if signup_rounds:
                results["signup"] = signup_timing(stack, conn, signup_rounds)
        finally:
            drop_users(conn)
            if before in recipes.RECIPES:
                recipes.use(before)
    results["method"] = "interleaved blocks (A, B, B, A, ...), medians per arm, one kept-alive connection"
    return results
