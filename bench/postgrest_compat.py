"""Bounded loopback benchmark of the PostgREST-compatible server (or any PostgREST at `url`).

GET of a 10-row table: p50 with one client (the latency goal) and req/s with 8 concurrent clients
(the throughput goal); POST /rpc/login p50 against the bcrypt check alone timed in SQL.
`run(...) -> dict`; `python -m bench.postgrest_compat` prints a table.

The load generator must be light: on 2 cores it shares the CPU with the server and PostgreSQL.
It is `wrk` when installed (Debian: `apt-get install wrk`; ~0.05 ms CPU per request), else a
small asyncio HTTP/1.1 keep-alive client in this file. Each result reports the CPU the generator
and the server used per request, so a busy machine cannot pass for a slow server.
Needs the conformance fixture (database pgrst_conformance, table api.items with 10 rows) for the GET
part, and the course's `app` database (auth.login, user demo) for the login part.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_seconds(pid: int | None) -> float:
    """User+system CPU of a process so far (Linux /proc), 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _load_wrk(url: str, clients: int, seconds: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "generator": "wrk",
        "requests": total,
        "failures": (int(failures.group(1)) if failures else 0) + (sum(map(int, errors.groups())) if errors else 0),
        "p50_ms": _wrk_ms(re.search(r"50%\s+(\S+)", out).group(1)),
        "p99_ms": _wrk_ms(re.search(r"99%\s+(\S+)", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "generator_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


async def _client(host: str, port: int, path: str, stop: float, latencies: list[float]) -> int:
    """One keep-alive connection sending GETs back to back; returns how many answers were not 200."""
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    bad = 0
    try:
        while time.monotonic() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            bad += not head.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()
    return bad


def _load_asyncio(url: str, clients: int, seconds: float) -> dict:
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    latencies: list[float] = []
    cpu, began = time.process_time(), time.monotonic()

    async def main():
        stop = time.monotonic() + seconds
        return await asyncio.gather(*(_client(host, port, path, stop, latencies) for _ in range(clients)))

    failures = sum(asyncio.run(main()))
    elapsed = time.monotonic() - began
    return {
        "generator": "asyncio (wrk not installed)",
        "requests": len(latencies),
        "failures": failures,
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "rps": len(latencies) / elapsed,
        "generator_cpu_s": time.process_time() - cpu,
    }


def get_load(url: str, path: str, clients: int = 8, seconds: float = 3.0, server_pid: int | None = None) -> dict:
    """GETs from `clients` keep-alive connections for `seconds`; with server_pid, its CPU per request too."""
    cpu = _cpu_seconds(server_pid)
    load = _load_wrk if shutil.which("wrk") else _load_asyncio
    result = load(url + path, clients, seconds)
    result["clients"] = clients
    result["generator_cpu_ms_per_request"] = 1000 * result.pop("generator_cpu_s") / max(result["requests"], 1)
    if server_pid:
        result["server_cpu_ms_per_request"] = 1000 * (_cpu_seconds(server_pid) - cpu) / max(result["requests"], 1)
    return result


def login_vs_bcrypt(url: str, conninfo: str, rounds: int = 30, warm_up: int = 10) -> dict:
    """Steady state: each pooled connection compiles auth.login's plpgsql and plans on first use,
    so the first calls (like the first bcrypt checks) are left out."""
    import psycopg

    session = requests.Session()
    login = []
    for attempt in range(warm_up + rounds):
        started = time.perf_counter()
        response = session.post(
            url + "/rpc/login", json={"user_": "demo", "pass": "demo"}, headers={"Content-Profile": "auth"}
        )
        if attempt >= warm_up:
            login.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 204, response.text
    check = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(warm_up):
            conn.execute("select crypt('demo', password) = password from auth.user where username = 'demo'").fetchone()
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
        # not conftest.launch: its stdout pipe, never read here, would fill with the per-request log and stall the server
        base = {k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}
        process = subprocess.Popen(
            conftest.command(),
            env={**base, **conftest.server_env(port)},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
    pid = process.pid if process else None
    try:
        get_load(url, "/items", clients, 1)  # warm up (pool, caches)
        result = {
            "get_10_rows_1_client": get_load(url, "/items", 1, seconds, pid),
            "get_10_rows": get_load(url, "/items", clients, seconds, pid),
        }
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
    one, get = result["get_10_rows_1_client"], result["get_10_rows"]
    print(f"load generator: {get['generator']}")
    print(f"{'measure':<40}{'value':>12}  goal")
    print(f"{'GET /items (10 rows) p50, 1 client':<40}{one['p50_ms']:>10.2f}ms  <= 3 ms")
    print(f"{'GET /items req/s, 8 clients':<40}{get['rps']:>12.0f}  >= 400")
    print(f"{'GET /items p50 / p99, 8 clients':<40}{get['p50_ms']:>7.1f}/{get['p99_ms']:.1f}ms")
    print(f"{'server CPU per request':<40}{get.get('server_cpu_ms_per_request', 0):>10.2f}ms")
    print(f"{'load generator CPU per request':<40}{get['generator_cpu_ms_per_request']:>10.2f}ms")
    print(f"{'GET failures':<40}{one['failures'] + get['failures']:>12}")
    login = result["login"]
    if "error" in login:
        print(f"login: skipped ({login['error']})")
    else:
        print(f"{'POST /rpc/login p50':<40}{login['login_p50_ms']:>10.2f}ms")
        print(f"{'bcrypt check alone p50':<40}{login['bcrypt_p50_ms']:>10.2f}ms")
        print(f"{'ratio':<40}{login['ratio']:>12.2f}  <= 1.5")


if __name__ == "__main__":
    main()
