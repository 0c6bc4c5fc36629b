"""A `postgrest` on PATH serves only if it is the pinned major version; otherwise a warning names both (issue 10)."""

from __future__ import annotations

import pytest

from stack import config
from stack.services import postgrest

PINNED = config.pins()["POSTGREST_VERSION"]


def test_the_pin_is_v16_2():
    """Issue 20: the course follows PostgREST v16.2, the newest 16.x tag of PostgREST's repository."""
    assert PINNED == "v16.2"


def installed_postgrest(folder, version: str) -> str:
    """An executable that answers `--version` the way PostgREST's binary does (only its version is read here)."""
    binary = folder / "postgrest"
    binary.write_text(f"#!/bin/sh\necho 'PostgREST {version}'\n")
    binary.chmod(0o755)
    return str(binary)


@pytest.fixture
def variables():
    return {k: v for k, v in config.settings().items() if k != "POSTGREST_BIN"}


@pytest.mark.parametrize("version", ["12.2.3", "14.1", "14.17"])
def test_another_major_on_path_is_not_used_and_both_versions_are_named(tmp_path, monkeypatch, variables, version):
    """v14 (the course's former pin, whose last release is 14.17) is refused like any other major."""
    binary = installed_postgrest(tmp_path, version)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert postgrest.real_binary(variables) is None
    assert postgrest.describe(variables).startswith(postgrest.COMPATIBLE)
    warning = postgrest.version_warning(variables)
    assert f"{binary} is PostgREST {version}, but the course follows {PINNED}" in warning
    assert "not used" in warning


def test_the_pinned_major_on_path_is_used(tmp_path, monkeypatch, variables):
    binary = installed_postgrest(tmp_path, "16.1")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert postgrest.real_binary(variables) == binary
    assert postgrest.version_warning(variables) is None
    assert postgrest.describe(variables) == f"real PostgREST 16.1 at {binary}"


def test_postgrest_bin_of_another_major_is_used_with_a_warning(tmp_path, variables):
    binary = installed_postgrest(tmp_path, "13.0.4")
    named = {**variables, "POSTGREST_BIN": binary}
    assert postgrest.real_binary(named) == binary
    assert "used anyway, as POSTGREST_BIN names it" in postgrest.version_warning(named)
