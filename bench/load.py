"""A small load generator on the standard library's http.client: N threads, one keep-alive connection each.

Light on purpose: on 2 cores the generator shares the CPU with Caddy, PostgREST and PostgreSQL,
and a heavy client (httpx costs ~1-2 ms per request here) would add the same constant to both
sides of a comparison and hide a ratio. Bounded twice: a total number of requests and a
wall-clock limit, whichever comes first. Every answer must have the expected status; a
benchmark of error pages would measure nothing.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .timing import Samples, Summary


class UnexpectedAnswer(RuntimeError):
    pass


@dataclass(frozen=True)
class Budget:
    requests: int
    max_seconds: float


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    set_cookies: list[str]
    body: bytes


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def send(connection: http.client.HTTPConnection, request: Request) -> Answer:
    """One request on a kept-alive connection; the whole body is read so the connection can be reused."""
    parts = urlsplit(request.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request(request.method, path, body=request.body, headers=request.headers)
    response = connection.getresponse()
    body = response.read()
    return Answer(response.status, response.msg.get_all("Set-Cookie") or [], body)


def check(answer: Answer, request: Request, expected: int) -> Answer:
    if answer.status != expected:
        raise UnexpectedAnswer(
            f"{request.method} {request.url} answered {answer.status}, expected {expected}: {answer.body[:200]!r}"
        )
    return answer


def send_once(request: Request, expected: int) -> Answer:
    connection = connect(request.url)
    try:
        return check(send(connection, request), request, expected)
    finally:
        connection.close()


def load_samples(request: Request, clients: int, budget: Budget, expected: int = 200) -> Samples:
    """Every request's duration with ``clients`` concurrent clients, and the wall time of the run."""
    lock = threading.Lock()
    remaining = budget.requests
    durations: list[float] = []
    failures: list[BaseException] = []
    connections = [connect(request.url) for _ in range(clients)]
    for connection in connections:
        check(send(connection, request), request, expected)  # opens the connection; not counted
    start = threading.Barrier(clients + 1)

    def client_loop(connection: http.client.HTTPConnection) -> None:
        nonlocal remaining
        mine = []
        start.wait()
        try:
            while True:
                with lock:
                    # Every client counts at least one request, however busy the machine.
                    if remaining <= 0 or (mine and time.perf_counter() > deadline):
                        break
                    remaining -= 1
                before = time.perf_counter()
                answer = send(connection, request)
                mine.append((time.perf_counter() - before) * 1000)
                check(answer, request, expected)
        except BaseException as error:  # reported by the caller's thread
            failures.append(error)
        finally:
            with lock:
                durations.extend(mine)

    threads = [threading.Thread(target=client_loop, args=(connection,)) for connection in connections]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + budget.max_seconds
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for connection in connections:
        connection.close()
    if failures:
        raise failures[0]
    return Samples(durations, wall)


def load(request: Request, clients: int, budget: Budget, expected: int = 200) -> Summary:
    """Latency percentiles and requests/s of ``request`` with ``clients`` concurrent clients."""
    return load_samples(request, clients, budget, expected).summary()
