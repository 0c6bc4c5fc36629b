"""Each measurement of the benchmark, on its own, so the chapter can run a small version of any.

Server-side figures (bcrypt alone, auth.login in SQL, auth.sign_raw) are timed inside PostgreSQL
with clock_timestamp() around each call, so no network or driver time is in them; HTTP figures
are timed by the client, so they are what a browser would wait for.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import jwt
import psycopg
from psycopg.types.json import Json

from stack import config

from . import target
from .load import Budget, Request, check, connect, load, load_samples, send, send_once
from .target import Stack
from .timing import Samples, Summary, repeat, summarize, timed_ms

# Temporary (pg_temp) functions: they vanish with the connection, so nothing is left in the database.
SERVER_LOOPS = """
create function pg_temp.time_crypt(pw text, hash text, n int) returns setof double precision
language plpgsql as $$
declare started timestamptz; matches boolean;
begin
  for i in 1..n loop
    started := clock_timestamp();
    matches := public.crypt(pw, hash) = hash;
    if not matches then raise 'the bench password does not match its hash'; end if;
    return next extract(epoch from clock_timestamp() - started) * 1000;
  end loop;
end $$;

create function pg_temp.time_login(user_ text, pass text, n int) returns setof double precision
language plpgsql as $$
declare started timestamptz;
begin
  for i in 1..n loop
    started := clock_timestamp();
    perform auth.login(user_, pass);
    return next extract(epoch from clock_timestamp() - started) * 1000;
  end loop;
end $$;

create function pg_temp.time_sign_raw(payload json, secret text, n int) returns setof double precision
language plpgsql as $$
declare started timestamptz; token text;
begin
  for i in 1..n loop
    started := clock_timestamp();
    token := auth.sign_raw(payload, secret);
    return next extract(epoch from clock_timestamp() - started) * 1000;
  end loop;
end $$;
"""


def server_connection(stack: Stack) -> psycopg.Connection:
    conn = psycopg.connect(stack.conninfo, autocommit=True)
    conn.execute(SERVER_LOOPS)
    return conn


def server_times(conn: psycopg.Connection, function: str, *args) -> Summary:
    """Run one of the pg_temp loops; its rows are the per-call durations in ms."""
    placeholders = ", ".join(["%s"] * len(args))
    rows = conn.execute(f"select * from pg_temp.{function}({placeholders})", args).fetchall()
    return summarize([row[0] for row in rows])


def server_time(conn: psycopg.Connection, function: str, *args) -> float:
    """One call of a pg_temp loop (n = 1): the duration inside PostgreSQL, in ms."""
    return server_times(conn, function, *args, 1).p50_ms


# --- login against bcrypt cost ---------------------------------------------------------------


def login_request(base: str, cost: int) -> Request:
    body = json.dumps({"user_": target.user_name(cost), "pass": target.PASSWORD}).encode()
    return Request("POST", f"{base}/rpc/login", {"Content-Profile": "auth", "Content-Type": "application/json"}, body)


@dataclass(frozen=True)
class LoginAtCost:
    cost: int
    bcrypt: Summary  # crypt(pw, hash) = hash inside PostgreSQL: the physical price of a check
    sql: Summary  # auth.login(...) inside PostgreSQL: bcrypt plus signing and the refresh-token insert
    direct: Summary  # POST /rpc/login straight to PostgREST
    gateway: Summary  # POST /rpc/login through Caddy, as a browser does

    def as_dict(self) -> dict:
        return {
            "cost": self.cost,
            **{name: getattr(self, name).as_dict() for name in ("bcrypt", "sql", "direct", "gateway")},
            "gateway_over_bcrypt_p50": round(self.gateway.p50_ms / self.bcrypt.p50_ms, 2),
        }


def login_figures(conn: psycopg.Connection, http: dict, stack: Stack, cost: int, hash_: str) -> dict:
    """One sample of each figure, as a call returning milliseconds."""
    user = target.user_name(cost)
    direct, gateway = login_request(stack.postgrest, cost), login_request(stack.gateway, cost)
    return {
        "bcrypt": lambda: server_time(conn, "time_crypt", target.PASSWORD, hash_),
        "sql": lambda: server_time(conn, "time_login", user, target.PASSWORD),
        "direct": lambda: timed_ms(lambda: check(send(http["direct"], direct), direct, 204)),
        "gateway": lambda: timed_ms(lambda: check(send(http["gateway"], gateway), gateway, 204)),
    }


def login_against_cost(
    stack: Stack, costs: list[int], seconds_per_figure: float, min_samples: int = 3
) -> list[LoginAtCost]:
    """For each cost, as many samples as fit in ``seconds_per_figure`` (at least ``min_samples``, at most 40).

    The four figures take turns sample by sample, so a busy neighbour on the machine slows
    them alike and their ratios stay fair.
    """
    hashes = target.create_users(stack, costs)
    results = []
    http = {"direct": connect(stack.postgrest), "gateway": connect(stack.gateway)}
    with server_connection(stack) as conn:
        for cost in costs:
            figures = login_figures(conn, http, stack, cost, hashes[cost])
            probe = figures["bcrypt"]()  # not counted: it only sizes the sample
            samples = max(min_samples, min(40, int(seconds_per_figure * 1000 / probe)))
            durations = {name: [] for name in figures}
            # A busy machine can make each call several times slower: a wall-clock bound too.
            deadline = time.perf_counter() + 2 * len(figures) * seconds_per_figure
            for taken in range(samples):
                if taken >= min_samples and time.perf_counter() > deadline:
                    break
                for name, call in figures.items():
                    durations[name].append(call())
            results.append(LoginAtCost(cost, **{name: summarize(values) for name, values in durations.items()}))
    for connection in http.values():
        connection.close()
    return results


# --- protected read: gateway against PostgREST straight ---------------------------------------


def cookies(set_cookies: list[str]) -> dict[str, str]:
    """Set-Cookie headers as name -> value."""
    found = {}
    for header in set_cookies:
        name, _, rest = header.partition("=")
        found[name.strip()] = rest.split(";", 1)[0]
    return found


def login_cookies(stack: Stack, cost: int) -> dict[str, str]:
    """Log a bench user in through the gateway; its access_token and refresh_token cookies."""
    found = cookies(send_once(login_request(stack.gateway, cost), 204).set_cookies)
    if not {"access_token", "refresh_token"} <= found.keys():
        raise target.StackNotUp(f"login set no access_token/refresh_token cookie: {sorted(found)}")
    return found


def read_requests(stack: Stack, access_token: str) -> tuple[Request, Request]:
    """The same read of the task table, as a browser sends it (cookie, via Caddy) and as a direct client."""
    return (
        Request("GET", f"{stack.gateway}/rest/task", {"Cookie": f"access_token={access_token}"}),
        Request("GET", f"{stack.postgrest}/task", {"Authorization": f"Bearer {access_token}"}),
    )


@dataclass(frozen=True)
class ReadAtConcurrency:
    clients: int
    gateway: Summary
    direct: Summary

    def as_dict(self) -> dict:
        return {
            "clients": self.clients,
            "gateway": self.gateway.as_dict(),
            "direct": self.direct.as_dict(),
            "gateway_over_direct_p50": round(self.gateway.p50_ms / self.direct.p50_ms, 2),
            "direct_over_gateway_per_second": round(self.direct.per_second / self.gateway.per_second, 2),
        }


def protected_read(
    stack: Stack, access_token: str, levels: list[int], budget: Budget, rounds: int = 3
) -> list[ReadAtConcurrency]:
    """Gateway and direct take turns in ``rounds`` short runs each (the budget is split between them)."""
    via_gateway, direct = read_requests(stack, access_token)
    share = Budget(max(1, budget.requests // rounds), budget.max_seconds / rounds)
    results = []
    for clients in levels:
        measured = {"gateway": Samples(), "direct": Samples()}
        for round_ in range(rounds):
            order = [("gateway", via_gateway), ("direct", direct)]
            for name, request in order if round_ % 2 == 0 else reversed(order):
                measured[name].add(load_samples(request, clients, share))
        results.append(ReadAtConcurrency(clients, measured["gateway"].summary(), measured["direct"].summary()))
    return results


# --- refresh --------------------------------------------------------------------------------


def refresh(stack: Stack, refresh_token: str, budget: Budget) -> dict:
    headers = {"Cookie": f"refresh_token={refresh_token}", "Content-Profile": "auth"}
    gateway = load(Request("POST", f"{stack.gateway}/rpc/refresh_token", headers), 1, budget, 204)
    direct = load(Request("POST", f"{stack.postgrest}/rpc/refresh_token", headers), 1, budget, 204)
    with psycopg.connect(stack.conninfo) as conn:
        # The page's auth.refresh_token has no index on token and is never pruned: the lookup scans it all.
        rows = conn.execute("select count(*) from auth.refresh_token").fetchone()[0]
    return {"gateway": gateway.as_dict(), "direct": direct.as_dict(), "refresh_token_rows": rows}


# --- signing: auth.sign_raw in SQL against PyJWT -----------------------------------------------


def signing(stack: Stack, count: int, max_seconds: float) -> dict:
    """One access token, signed by the page's PL/pgSQL and by PyJWT (both HS256, same key and claims)."""
    claims = {"role": "basic_subscriber", "username": "demo", "sub": "demo", "exp": int(time.time()) + 600}
    secret = config.settings()["JWT_SECRET"]
    key = base64.b64decode(secret)
    with server_connection(stack) as conn:
        sql = server_times(conn, "time_sign_raw", Json(claims), secret, count)
    pyjwt = repeat(lambda: jwt.encode(claims, key, algorithm="HS256"), count, max_seconds)
    return {
        "sign_raw_sql": sql.as_dict(),
        "pyjwt": pyjwt.as_dict(),
        "sql_over_pyjwt_p50": round(sql.p50_ms / pyjwt.p50_ms, 1),
    }


# --- make up, warm --------------------------------------------------------------------------


def make_up_seconds() -> float:
    """Wall time of `make up` on a stack that is already up (python -m stack up where there is no make).

    `make setup` runs first, untimed: after requirements.txt changes, make reinstalls them once,
    and that is not what "warm" means.
    """
    has_make = shutil.which("make") is not None and (config.ROOT / "Makefile").exists()
    if has_make:
        subprocess.run(["make", "--no-print-directory", "setup"], cwd=config.ROOT, check=True, capture_output=True)
    command = ["make", "--no-print-directory", "up"] if has_make else [sys.executable, "-m", "stack", "up"]
    started = time.perf_counter()
    subprocess.run(command, cwd=config.ROOT, env=os.environ, check=True, capture_output=True)
    return time.perf_counter() - started


# --- login while ten backreference patterns run (issue 22) ---------------------------------------

# Ten groups and their backreferences: 12-62 s of backtracking on a 26-letter title without a limit (issue 22).
BACKREFERENCES = "^" + "(.*)" * 10 + "".join(f"\\{n}" for n in range(1, 11)) + "$"


def login_under_backreferences(stack: Stack, cost: int, rounds: int = 3, logins: int = 3) -> dict:
    """POST /rpc/login alone, then while ten `match` requests with backreferences run through the
    gateway (each stopped by the API roles' statement_timeout), round after round (A, B, A, B ...):
    the medians of both and their ratio. The slow requests' status and code are recorded too."""
    import concurrent.futures
    import urllib.parse

    request = login_request(stack.gateway, cost)
    token = login_cookies(stack, cost)["access_token"]
    with psycopg.connect(stack.conninfo, autocommit=True) as conn:
        (task_id,) = conn.execute(
            "insert into public.task (title) values ('abcdefghijklmnopqrstuvwxyz') returning id"
        ).fetchone()
    query = urllib.parse.urlencode({"id": f"eq.{task_id}", "title": f"match.{BACKREFERENCES}"})
    slow = Request("GET", f"{stack.gateway}/rest/task?{query}", {"Cookie": f"access_token={token}"})
    alone, during, answers = [], [], []
    connection = connect(stack.gateway)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            for _ in range(rounds):
                alone += [timed_ms(lambda: check(send(connection, request), request, 204)) for _ in range(logins)]
                running = [pool.submit(lambda: send(connect(stack.gateway), slow)) for _ in range(10)]
                time.sleep(1.0)  # all ten are inside PostgreSQL by now
                during += [timed_ms(lambda: check(send(connection, request), request, 204)) for _ in range(logins)]
                answers += [future.result() for future in running]
    finally:
        connection.close()
        with psycopg.connect(stack.conninfo, autocommit=True) as conn:
            conn.execute("delete from public.task where id = %s", [task_id])
    a, b = summarize(alone), summarize(during)
    return {
        "login_alone": a.as_dict(),
        "login_during_ten_backreferences": b.as_dict(),
        "during_over_alone_p50": round(b.p50_ms / a.p50_ms, 2),
        "backreference_answers": sorted(
            {f"{answer.status} {json.loads(answer.body or b'{}').get('code')}" for answer in answers}
        ),
    }
