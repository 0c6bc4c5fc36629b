"""HTTP helpers for the course: call the stack, and show an exchange as a table.

Volatile values (tokens, UUIDs) are shortened before display so that a notebook's
stored output is the same on every run; cells assert on the real values.
"""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess

import requests

from . import config
from .errors import StackError

JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
SHOWN_HEADERS = ("content-type", "content-profile", "content-range", "set-cookie", "www-authenticate", "location")


def gateway(path: str = "", variables: dict[str, str] | None = None) -> str:
    """A URL on the gateway (Caddy), as a browser or curl would use it."""
    return f"http://localhost:{config.ports(variables).gateway}{path}"


def postgrest(path: str = "", variables: dict[str, str] | None = None) -> str:
    """A URL straight on PostgREST, bypassing Caddy (for comparisons only)."""
    return f"http://127.0.0.1:{config.ports(variables).postgrest}{path}"


def display_name(header: str) -> str:
    """A header's usual spelling: Content-Type, Set-Cookie, and WWW-Authenticate (not Www-)."""
    return "WWW-Authenticate" if header.lower() == "www-authenticate" else header.title()


def shorten(text: str) -> str:
    """Replace each JWT by its (stable) header and placeholders, each UUID by a placeholder."""
    text = JWT.sub(lambda m: m.group(0).split(".")[0] + ".‹payload›.‹signature›", text)
    return UUID.sub("‹uuid›", text)


def set_cookies(response: requests.Response) -> list[str]:
    """Every Set-Cookie header, separately (requests folds them into one string)."""
    return response.raw.headers.getlist("Set-Cookie") if response.raw is not None else []


def cookie_value(response: requests.Response, name: str) -> str | None:
    for header in set_cookies(response):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    return None


def _rows(response: requests.Response, headers: tuple[str, ...]) -> list[tuple[str, str]]:
    request = response.request
    path = request.path_url
    rows = [("Request", f"{request.method} {path}")]
    for name in ("Content-Profile", "Accept-Profile", "Cookie", "Authorization"):
        if name in request.headers:
            rows.append((f"→ {name}", shorten(request.headers[name])))
    rows.append(("Status", f"{response.status_code} {response.reason}"))
    for name in headers:
        values = (
            set_cookies(response)
            if name == "set-cookie"
            else [response.headers[name]]
            if name in response.headers
            else []
        )
        rows.extend((f"← {display_name(name)}", shorten(value)) for value in values)
    rows.append(("Body", body_text(response)))
    return rows


def body_text(response: requests.Response, limit: int = 400) -> str:
    if not response.content:
        return "(empty)"
    try:
        text = json.dumps(response.json(), sort_keys=True)
    except ValueError:
        text = response.text
    text = shorten(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(response.content)} bytes)"


class Exchange:
    """A request and its response as a two-column table (Markdown in Jupyter, text elsewhere)."""

    def __init__(self, response: requests.Response, headers: tuple[str, ...] = SHOWN_HEADERS):
        self.response = response
        self.rows = _rows(response, headers)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
            for k, v in self.rows
        )
        return f"<table>{cells}</table>"

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in self.rows)


def show(response: requests.Response, headers: tuple[str, ...] = SHOWN_HEADERS) -> Exchange:
    return Exchange(response, headers)


def login(username: str = "demo", password: str = "demo", session: requests.Session | None = None) -> requests.Response:
    """POST /rpc/login through the gateway, exactly as the page's curl does."""
    client = session or requests
    return client.post(
        gateway("/rpc/login"),
        json={"user_": username, "pass": password},
        headers={"Content-Profile": "auth"},
        timeout=10,
    )


def refused_by(response: requests.Response) -> str:
    """Which layer refused a request: "Caddy", "PostgREST", or "" when nothing refused it.

    caddy-jwt refuses with 401, an empty body and no WWW-Authenticate; PostgREST always
    explains an error in a JSON body that carries a `code`.
    """
    if response.status_code < 400:
        return ""
    if not response.content and "WWW-Authenticate" not in response.headers:
        return "Caddy"
    try:
        body = response.json()
    except ValueError:
        return "?"
    return "PostgREST" if isinstance(body, dict) and "code" in body else "?"


@functools.cache
def _curl_show_headers_flag() -> str:
    """--show-headers (curl >= 8.10) when this curl knows it, else its older spelling -i."""
    if shutil.which("curl") is None:
        raise StackError(
            "curl is not installed; the page's commands need it.", "install curl (e.g. apt-get install curl)"
        )
    help_text = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True, timeout=10).stdout
    return "--show-headers" if "--show-headers" in help_text else "-i"


def curl_command(*lines: str, path: str) -> str:
    """A curl command to copy into a terminal, for this stack's gateway: `lines` are its options as
    typed (quoted for the shell), one per line; -i is --show-headers' spelling that every curl knows."""
    return " \\\n  ".join([f"curl -i {lines[0]}" if lines else "curl -i", *lines[1:], gateway(path)])


def curl(*args: str, headers: tuple[str, ...] = SHOWN_HEADERS) -> str:
    """Run the real curl with `args`; the last one is a path on the gateway (e.g. "/rpc/login").

    Returns the status line and the response headers named in `headers`, one per line, sorted by
    name (repeated headers keep their order), tokens and UUIDs shortened: no Date, no port.
    """
    *options, path = args
    command = [
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        _curl_show_headers_flag(),
        *options,
        gateway(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=15)
    if result.returncode != 0:
        raise StackError(f"curl exited with {result.returncode}: {result.stderr.strip()}", "is the stack up? `make up`")
    head = result.stdout.replace("\r\n", "\n").split("\n\n", 1)[0].splitlines()
    status, fields = head[0].strip(), [line.partition(":") for line in head[1:]]
    kept = sorted(
        ((name.strip().lower(), value.strip()) for name, _, value in fields if name.strip().lower() in headers),
        key=lambda field: field[0],
    )
    return "\n".join([status, *(f"{display_name(name)}: {shorten(value)}" for name, value in kept)])
