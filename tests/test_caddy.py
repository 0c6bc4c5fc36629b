"""Caddy is the pinned build with caddy-jwt, and it accepts the page's Caddyfile (issue 2)."""

from __future__ import annotations

import json
import subprocess

import pytest

from stack import config
from stack.services import caddy

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
VARIABLES = {"JWT_SECRET": SECRET, "POSTGRES_USER": "p", "POSTGRES_PASSWORD": "p", "PGRST_AUTHENTICATOR_PASS": "p"}


@pytest.fixture(scope="module")
def binary():
    return caddy.ensure_built()


def test_jwt_module_is_compiled_in(binary):
    modules = subprocess.run([str(binary), "list-modules"], capture_output=True, text=True, check=True).stdout.split()
    assert "http.authentication.providers.jwt" in modules


def test_build_info_shows_the_pinned_versions(binary):
    info = caddy.build_info(binary)
    assert info["github.com/caddyserver/caddy/v2"] == "v" + config.pins()["CADDY_VERSION"]
    assert info["github.com/ggicci/caddy-jwt"] == config.pins()["CADDY_JWT_VERSION"]


def test_the_caddyfile_validates(binary):
    caddy.validate(variables=VARIABLES)


def test_a_secret_that_is_not_base64_fails_at_load(binary):
    with pytest.raises(config.StackError) as error:
        caddy.validate(variables={**VARIABLES, "JWT_SECRET": "not base64!"})
    assert "invalid sign_key: illegal base64 data" in error.value.problem


def test_login_routes_never_reach_jwtauth(binary):
    """handle @auth and handle_path /rest/ sort before route, and handle groups are mutually exclusive."""
    result = caddy.run_tool("adapt", variables=VARIABLES)
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    text = [json.dumps(route) for route in routes]
    login = next(i for i, route in enumerate(text) if "/rpc/login" in route)
    jwtauth = next(i for i, route in enumerate(text) if '"authentication"' in route)
    assert login < jwtauth
    assert routes[login]["group"] and '"authentication"' not in text[login]
    assert "match" not in routes[jwtauth]  # route {...} catches everything the handles did not
