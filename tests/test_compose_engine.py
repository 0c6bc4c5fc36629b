"""`make engine`'s private dockerd and its look-alike images (issue 19).

These run where the private engine answers (`make engine`, and `make test-compose`, which exports
its DOCKER_HOST); elsewhere there is nothing of theirs to check.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from stack import config
from stack.harness import images
from stack.services import engine

pytestmark = pytest.mark.skipif(
    not (engine.is_private() and engine.server_version()),
    reason="the private engine is not running here (make engine; export its DOCKER_HOST line)",
)


def in_image(image: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_engine_again_reuses_the_running_engine_and_its_images():
    pid = engine.private_pid()
    assert pid is not None
    env = engine.ensure()
    assert engine.is_private(env) and engine.private_pid() == pid
    for official in images.names().values():
        labels = images.label_of(official, env)
        assert labels, f"{official} is missing"


def test_the_images_carry_the_names_the_project_uses():
    pins = config.pins()
    assert images.names() == {
        "postgres": f"postgres:{pins['POSTGRES_VERSION']}",
        "postgrest": f"postgrest/postgrest:{pins['POSTGREST_VERSION']}",
        "caddy": f"caddy:{pins['CADDY_VERSION']}",
        "caddy-builder": f"caddy:{pins['CADDY_VERSION']}-builder",
    }


def test_the_builders_xcaddy_yields_caddy_only_for_the_modules_and_versions_it_has():
    pins = config.pins()
    builder = images.names()["caddy-builder"]
    module = "github.com/ggicci/caddy-jwt"
    result = in_image(
        builder,
        f"xcaddy build --with {module}@{pins['CADDY_JWT_VERSION']} --output /tmp/ok && /tmp/ok version;"
        f" echo ---; xcaddy build --with {module}@v1.3.0 --output /tmp/old; echo old=$?;"
        " xcaddy build --with github.com/example/not-there@v1.0.0; echo absent=$?;"
        f" xcaddy build v2.10.0 --with {module}@{pins['CADDY_JWT_VERSION']}; echo caddy=$?",
    )
    built, refusals = result.stdout.split("---")
    assert built.startswith(f"v{pins['CADDY_VERSION']}"), result.stdout + result.stderr
    assert "old=1" in refusals and "absent=1" in refusals and "caddy=1" in refusals, result.stdout
    assert f"{module} {pins['CADDY_JWT_VERSION']}, not the requested v1.3.0" in result.stderr
    assert "github.com/example/not-there (absent)" in result.stderr


def test_the_postgres_entrypoint_refuses_to_start_without_a_password():
    """As the official image does: an empty data folder and no POSTGRES_PASSWORD is an error."""
    result = subprocess.run(
        ["docker", "run", "--rm", images.names()["postgres"]], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "superuser password is not specified" in result.stderr and "POSTGRES_PASSWORD" in result.stderr


def test_engine_stop_leaves_an_engine_it_did_not_start_alone(tmp_path, monkeypatch):
    """No pid file of ours: nothing is signalled."""
    monkeypatch.setattr(engine, "PID_FILE", tmp_path / "dockerd.pid")
    assert engine.stop() is False
    assert engine.server_version({**os.environ, "DOCKER_HOST": engine.PRIVATE_HOST})
