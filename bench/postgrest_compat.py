"""Bounded loopback benchmark of the PostgREST-compatible server (or any PostgREST at `url`).

GET of a 10-row table with 8 concurrent clients (p50/p95, req/s), and POST /rpc/login p50 against
the bcrypt check alone timed in SQL. `run(...) -> dict`; `python -m bench.postgrest_compat` prints a table.
Needs the conformance fixture (database pgrst_conformance, table api.items with 10 rows) for the GET
part, and the course's `app` database (auth.login, user demo) for the login part.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def get_load(url: str, path: str, clients: int = 8, seconds: float = 3.0, headers: dict | None = None) -> dict:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        session = requests.Session()
        mine, bad = [], 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = session.get(url + path, headers=headers)
            mine.append((time.perf_counter() - started) * 1000)
            bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {
        "requests": len(latencies),
        "failures": failures[0],
        "p50_ms": statistics.median(latencies),
        "p95_ms": _percentile(latencies, 0.95),
        "rps": len(latencies) / elapsed,
    }


def login_vs_bcrypt(url: str, conninfo: str, rounds: int = 20) -> dict:
    import psycopg

    session = requests.Session()
    login = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = session.post(
            url + "/rpc/login", json={"user_": "demo", "pass": "demo"}, headers={"Content-Profile": "auth"}
        )
        login.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 204, response.text
    check = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            conn.execute("select crypt('demo', password) = password from auth.user where username = 'demo'").fetchone()
            check.append((time.perf_counter() - started) * 1000)
    p50_login, p50_check = statistics.median(login), statistics.median(check)
    return {"login_p50_ms": p50_login, "bcrypt_p50_ms": p50_check, "ratio": p50_login / p50_check}


def run(url: str | None = None, app_url: str | None = None, seconds: float = 3.0, clients: int = 8) -> dict:
    """Benchmark: start the compatible server on the conformance database unless `url` is given;
    the login part uses `app_url` (default: the native stack's PostgREST on port 3000)."""
    sys.path.insert(0, str(ROOT))
    import psycopg

    from stack import config, postgres
    from tests.postgrest_conformance import conftest

    process = None
    with psycopg.connect(conftest.superuser_conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [conftest.DATABASE]).fetchone():
            conn.execute(f'create database "{conftest.DATABASE}"')
    if url is None:
        with psycopg.connect(conftest.superuser_conninfo(conftest.DATABASE), autocommit=True) as conn:
            if not conn.execute("select to_regclass('api.items')").fetchone()[0]:
                conn.execute((ROOT / "tests/postgrest_conformance/fixtures.sql").read_text())
        port = conftest.free_port()
        process = conftest.launch(conftest.server_env(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(url + "/items?limit=1").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
    try:
        get_load(url, "/items", clients, 0.5)  # warm up (prepared statements, pool)
        result = {"get_10_rows": get_load(url, "/items", clients, seconds)}
    finally:
        if process:
            process.terminate()
            process.wait(5)
    app_url = app_url or f"http://127.0.0.1:{config.ports().postgrest}"
    try:
        result["login"] = login_vs_bcrypt(app_url, postgres.conninfo())
    except (requests.ConnectionError, AssertionError) as error:
        result["login"] = {"error": str(error)}
    return result


def main() -> None:
    result = run()
    get = result["get_10_rows"]
    print(f"{'measure':<34}{'value':>12}  goal")
    print(f"{'GET /items (10 rows) p50':<34}{get['p50_ms']:>10.2f}ms  <= 3 ms")
    print(f"{'GET /items p95':<34}{get['p95_ms']:>10.2f}ms")
    print(f"{'GET /items req/s (8 clients)':<34}{get['rps']:>12.0f}  >= 400")
    print(f"{'GET failures':<34}{get['failures']:>12}")
    login = result["login"]
    if "error" in login:
        print(f"login: skipped ({login['error']})")
    else:
        print(f"{'POST /rpc/login p50':<34}{login['login_p50_ms']:>10.2f}ms")
        print(f"{'bcrypt check alone p50':<34}{login['bcrypt_p50_ms']:>10.2f}ms")
        print(f"{'ratio':<34}{login['ratio']:>12.2f}  <= 1.5")


if __name__ == "__main__":
    main()
