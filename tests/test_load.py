"""Bounded load through the gateway: concurrent clients cycling login, read, refresh, logout (issue 5).

No 5xx, every refresh token the clients received is in auth.refresh_token exactly once (none
lost, none duplicated, none extra), and every access token issued verifies.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from stack import db, http, tokens

CLIENTS = 12
DURATION_S = 30.0  # required by issue 5
USER_PREFIX = "load_user_"
AUTH = {"Content-Profile": "auth"}


def password(n: int) -> str:
    return f"load-password-{n}"


@dataclass
class Client:
    """One user's loop, and what it saw."""

    n: int
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)

    @property
    def user(self) -> str:
        return f"{USER_PREFIX}{self.n}"

    def call(self, session: requests.Session, step: str, expected: int, method: str, path: str, **kwargs):
        try:
            response = session.request(method, http.gateway(path), timeout=10, **kwargs)
        except requests.RequestException as error:
            self.statuses["no answer"] += 1
            self.failures.append(f"{step}: {type(error).__name__}")
            return None
        self.statuses[response.status_code] += 1
        if response.status_code != expected:
            self.failures.append(f"{step}: {response.status_code} {response.text[:200]}")
            return None
        return response

    def cycle(self, session: requests.Session) -> None:
        login = self.call(
            session,
            "login",
            204,
            "POST",
            "/rpc/login",
            json={"user_": self.user, "pass": password(self.n)},
            headers=AUTH,
        )
        if login is None:
            return
        access, refresh = http.cookie_value(login, "access_token"), http.cookie_value(login, "refresh_token")
        self.access_tokens.append(access)
        self.refresh_tokens.append(refresh)
        self.call(session, "read", 200, "GET", "/rest/task", headers={"Cookie": f"access_token={access}"})
        refreshed = self.call(
            session,
            "refresh",
            204,
            "POST",
            "/rpc/refresh_token",
            headers={**AUTH, "Cookie": f"refresh_token={refresh}"},
        )
        if refreshed is not None:
            access = http.cookie_value(refreshed, "access_token")
            self.access_tokens.append(access)
            self.call(session, "read again", 200, "GET", "/rest/task", headers={"Cookie": f"access_token={access}"})
        cookies = f"access_token={access}; refresh_token={refresh}"
        self.call(session, "logout", 204, "POST", "/rpc/logout", headers={**AUTH, "Cookie": cookies})

    def run(self, until: float) -> None:
        # Cookies are sent by hand so that each request says exactly what it carries.
        with requests.Session() as session:
            while time.monotonic() < until:
                self.cycle(session)


@pytest.fixture
def load_users(page_stack):
    names = [f"{USER_PREFIX}{n}" for n in range(CLIENTS)]
    cleanup = (
        "delete from auth.refresh_token where username like %(p)s returning id",
        "delete from auth.user where username like %(p)s returning username",
    )
    for sql in cleanup:
        db.query(sql, {"p": USER_PREFIX + "%"})
    for n, name in enumerate(names):
        db.query(
            "insert into auth.user (username, password, role) values (%s, %s, 'basic_subscriber') returning username",
            (name, password(n)),
        )
    yield names
    for sql in cleanup:
        db.query(sql, {"p": USER_PREFIX + "%"})


def test_concurrent_clients_cycle_without_errors(load_users, figures):
    clients = [Client(n) for n in range(CLIENTS)]
    until = time.monotonic() + DURATION_S
    threads = [threading.Thread(target=client.run, args=(until,)) for client in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DURATION_S + 30)
    elapsed = time.monotonic() - started

    statuses = sum((client.statuses for client in clients), Counter())
    failures = [f"{client.user} {failure}" for client in clients for failure in client.failures]
    received = Counter(token for client in clients for token in client.refresh_tokens)
    stored = Counter(
        token
        for (token,) in db.query("select token from auth.refresh_token where username like %s", (USER_PREFIX + "%",))
    )
    access_tokens = [(client.user, token) for client in clients for token in client.access_tokens]
    requests_made = sum(statuses.values())
    figures["load"] = {
        "clients": CLIENTS,
        "duration_s": round(elapsed, 1),
        "requests": requests_made,
        "requests_per_s": round(requests_made / elapsed),
        "errors": len(failures),
        "server_errors": sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500),
        "refresh_tokens_issued": sum(received.values()),
    }

    assert not any(thread.is_alive() for thread in threads)
    assert not [s for s in statuses if not isinstance(s, int) or s >= 500], statuses
    assert failures == [], failures[:10]
    assert all(client.refresh_tokens for client in clients), "a client never logged in"
    assert max(received.values()) == 1, "a refresh token was handed out twice"
    assert stored == received, "auth.refresh_token differs from what the clients received"
    for user, token in access_tokens:
        claims = tokens.verify(token)
        assert (claims["sub"], claims["username"], claims["role"]) == (user, user, "basic_subscriber")
    figures["load"]["access_tokens_verified"] = len(access_tokens)
