"""Bounded loopback benchmark of the PostgREST-compatible server (or any PostgREST at `url`).

GET of a 10-row table: p50 with one client (the latency goal) and req/s with 8 concurrent clients
(the throughput goal); POST /rpc/login p50 against the bcrypt check alone timed in SQL.
`run(...) -> dict`; `python -m bench.postgrest_compat` prints a table; `python -m bench.postgrest_compat
--compare DIR_A DIR_B` compares the servers of two worktrees (two commits), interleaved.

The load generator is bench.load (one kept-alive http.client connection per thread), as for the
rest of `make bench`. Each result reports the CPU the generator and the server used per request,
so a busy machine cannot pass for a slow server.
Needs the conformance fixture (database pgrst_conformance, table api.items with 10 rows) for the GET
part, and the course's `app` database (auth.login, user demo) for the login part.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import requests

from .load import Budget, Request, check, connect, load_samples, send
from .timing import percentile, timed_ms

ROOT = Path(__file__).resolve().parents[1]
SERVER_LOG = ROOT / "build" / "postgrest-compat-bench.log"  # the server logs every request


def _cpu_seconds(pid: int | None) -> float:
    """User+system CPU of a process so far (psutil: Linux, macOS, Windows), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def get_load(url: str, path: str, clients: int = 8, seconds: float = 3.0, server_pid: int | None = None) -> dict:
    """GETs from `clients` keep-alive connections for `seconds`; with server_pid, its CPU per request too."""
    server_cpu, generator_cpu = _cpu_seconds(server_pid), time.process_time()
    summary = load_samples(Request("GET", url + path), clients, Budget(10**7, seconds)).summary()
    per_request = 1000 / max(summary.count, 1)
    result = {
        "clients": clients,
        "requests": summary.count,
        "p50_ms": summary.p50_ms,
        "p95_ms": summary.p95_ms,
        "rps": summary.per_second,
        "generator_cpu_ms_per_request": (time.process_time() - generator_cpu) * per_request,
    }
    if server_pid:
        result["server_cpu_ms_per_request"] = (_cpu_seconds(server_pid) - server_cpu) * per_request
    return result


def login_vs_bcrypt(url: str, conninfo: str, rounds: int = 200, warm_up: int = 20) -> dict:
    """POST /rpc/login against the same bcrypt check sent straight to PostgreSQL, taking turns call
    by call so that a busy neighbour slows both alike. Steady state: each pooled connection
    compiles auth.login's plpgsql and plans on first use, so the first calls are left out."""
    import psycopg

    login = Request(
        "POST",
        url + "/rpc/login",
        {"Content-Profile": "auth", "Content-Type": "application/json"},
        b'{"user_": "demo", "pass": "demo"}',
    )
    bcrypt = "select crypt('demo', password) = password from auth.user where username = 'demo'"
    connection = connect(login.url)
    durations, checks = [], []
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for _ in range(warm_up + rounds):
                durations.append(timed_ms(lambda: check(send(connection, login), login, 204)))
                checks.append(timed_ms(lambda: conn.execute(bcrypt).fetchone()))
    finally:
        connection.close()
    p50_login, p50_check = percentile(durations[warm_up:], 0.5), percentile(checks[warm_up:], 0.5)
    return {"login_p50_ms": p50_login, "bcrypt_p50_ms": p50_check, "ratio": p50_login / p50_check}


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url + "/items?limit=1", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering (see {SERVER_LOG})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer within {seconds} s (see {SERVER_LOG})")
        time.sleep(0.1)


def run(url: str | None = None, app_url: str | None = None, seconds: float = 3.0, clients: int = 8) -> dict:
    """Benchmark: start the compatible server on the conformance database unless `url` is given;
    the login part uses `app_url` (default: the native stack's PostgREST on port 3000)."""
    from stack import config
    from stack.harness import conformance
    from stack.services import postgres
    from stack.services.processes import free_port

    process = None
    if url is None:
        conformance.prepare_database()
        port = free_port()
        process = conformance.launch(conformance.server_env(port), SERVER_LOG)
        url = f"http://127.0.0.1:{port}"
    pid = process.pid if process else None
    try:  # the server is stopped even when it never starts answering
        if process:
            wait_until_serving(url, process)
        get_load(url, "/items", clients, 1)  # warm up (pool, caches)
        result = {
            "get_10_rows_1_client": get_load(url, "/items", 1, seconds, pid),
            "get_10_rows": get_load(url, "/items", clients, seconds, pid),
        }
    finally:
        if process:
            conformance.stop(process)
    app_url = app_url or f"http://127.0.0.1:{config.ports().postgrest}"
    try:
        result["login"] = login_vs_bcrypt(app_url, postgres.conninfo())
    except (requests.ConnectionError, AssertionError) as error:
        result["login"] = {"error": str(error)}
    return result


def verdict(value: float, limit: float, at_most: bool = True) -> str:
    return "met" if (value <= limit if at_most else value >= limit) else "MISSED"


def text(result: dict) -> str:
    """The figures as a table, each goal of issue 3 with its verdict."""
    one, get = result["get_10_rows_1_client"], result["get_10_rows"]
    rows = [
        f"{'measure':<40}{'value':>12}  {'goal':<9}",
        f"{'GET /items (10 rows) p50, 1 client':<40}{one['p50_ms']:>10.2f}ms  <= 3 ms   {verdict(one['p50_ms'], 3)}",
        f"{'GET /items req/s, 8 clients':<40}{get['rps']:>12.0f}  >= 400    {verdict(get['rps'], 400, False)}",
        f"{'GET /items p50 / p95, 8 clients':<40}{get['p50_ms']:>7.1f}/{get['p95_ms']:.1f}ms",
        f"{'server CPU per request':<40}{get.get('server_cpu_ms_per_request', 0):>10.2f}ms",
        f"{'load generator CPU per request':<40}{get['generator_cpu_ms_per_request']:>10.2f}ms",
    ]
    login = result["login"]
    if "error" in login:
        rows.append(f"login: skipped ({login['error']})")
    else:
        rows += [
            f"{'POST /rpc/login p50':<40}{login['login_p50_ms']:>10.2f}ms",
            f"{'bcrypt check alone p50':<40}{login['bcrypt_p50_ms']:>10.2f}ms",
            f"{'login / bcrypt':<40}{login['ratio']:>12.2f}  <= 1.5    {verdict(login['ratio'], 1.5)}",
        ]
    return "\n".join(rows)


def compare(roots: list[Path], rounds: int = 7, seconds: float = 2.0, clients: int = 8) -> dict:
    """A/B of the servers in two trees (`git worktree`s of two commits, say), both on the conformance
    database, measured in turns (A, B, B, A ...) so that a busy machine slows both alike; the medians over
    `rounds` of each one's GET p50 (1 client), req/s (`clients`) and the server's CPU per request under
    that load (the figure a busy machine disturbs least). On a loaded two-core machine the server started
    first served fewer req/s even when both trees held the same commit: run both orders."""
    import os
    import statistics
    import sys

    from stack.harness import conformance
    from stack.services.processes import free_port

    conformance.prepare_database()
    servers = {}
    try:
        for label, root in ((str(root), Path(root).resolve()) for root in roots):
            port = free_port()
            base = {k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}
            log = SERVER_LOG.with_name(f"postgrest-compat-bench-{len(servers)}.log")
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w") as output:
                process = subprocess.Popen(
                    [sys.executable, "-m", "stack.postgrest_compat"],
                    env={**base, **conformance.server_env(port), "PYTHONPATH": str(root)},
                    cwd=root,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            servers[label] = (process, f"http://127.0.0.1:{port}")
        for process, url in servers.values():
            wait_until_serving(url, process)
            get_load(url, "/items", clients, 1)  # warm up (pool, caches)
        samples = {label: {"p50_ms": [], "rps": [], "server_cpu_ms_per_request": []} for label in servers}
        for turn in range(rounds):  # A, B, then B, A: neither always goes first
            for label in list(servers)[:: 1 if turn % 2 == 0 else -1]:
                process, url = servers[label]
                samples[label]["p50_ms"].append(get_load(url, "/items", 1, seconds, process.pid)["p50_ms"])
                loaded = get_load(url, "/items", clients, seconds, process.pid)
                samples[label]["rps"].append(loaded["rps"])
                samples[label]["server_cpu_ms_per_request"].append(loaded["server_cpu_ms_per_request"])
    finally:
        for process, _ in servers.values():
            conformance.stop(process)
    return {
        label: {name: statistics.median(values) for name, values in found.items()} | {"rounds": rounds}
        for label, found in samples.items()
    }


def main() -> None:
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        result = compare([Path(sys.argv[2]), Path(sys.argv[3])])
        for label, found in result.items():
            print(
                f"{label}: GET /items p50 (1 client) {found['p50_ms']:.2f} ms, req/s (8 clients) {found['rps']:.0f},"
                f" server CPU {found['server_cpu_ms_per_request']:.2f} ms/request"
            )
        return
    print(text(run()))


if __name__ == "__main__":
    main()
