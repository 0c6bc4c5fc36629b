"""The `docker compose` CLI where Docker has none: built from the Go module proxy, pinned, cached.

`docker compose config` needs no engine: it validates compose.yaml and renders it with .env, for
real. Where `docker compose` already works (Docker Desktop, Debian's docker-compose-plugin) that one
is used. Otherwise the pinned release is built once (about 3 minutes on two cores) into
~/.cache/superstack-jwt, like Caddy, and handed to `docker` through DOCKER_CONFIG's cli-plugins.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import config
from ..errors import StackError
from .processes import say

MODULE = "github.com/docker/compose/v2"
VERSION = "v2.40.3"


def plugin_home() -> Path:
    """A DOCKER_CONFIG folder holding only cli-plugins/docker-compose."""
    return config.CACHE_DIR / f"docker-compose-{VERSION}"


def plugin() -> Path:
    return plugin_home() / "cli-plugins" / ("docker-compose.exe" if os.name == "nt" else "docker-compose")


def docker_has_compose(env: dict[str, str] | None = None) -> bool:
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, env=env, timeout=30)
    return result.returncode == 0


@functools.cache
def environment() -> dict[str, str]:
    """What `docker compose` needs in its environment here: nothing, or DOCKER_CONFIG for the cached build."""
    if docker_has_compose() or not plugin().exists():
        return {}
    return {"DOCKER_CONFIG": str(plugin_home())}


def ensure_built() -> dict[str, str]:
    """`docker compose` working, built first if need be; returns the environment it needs."""
    if not shutil.which("docker"):
        raise StackError(
            "there is no `docker` command.", "install Docker (Docker Desktop, or apt-get install docker.io)"
        )
    if docker_has_compose():
        return {}
    if not plugin().exists():
        build()
    env = {"DOCKER_CONFIG": str(plugin_home())}
    if not docker_has_compose({**os.environ, **env}):
        raise StackError(f"docker does not take {plugin()} as its compose plugin.", f"rm -rf {plugin_home()} and retry")
    environment.cache_clear()
    return env


def build() -> None:
    if not shutil.which("go"):
        raise StackError(
            "`docker compose` is missing, and building it needs Go.",
            "install Docker Desktop or your distribution's docker-compose-plugin, or Go >= 1.24 (https://go.dev/doc/install)",
        )
    say(f"building the docker compose CLI {VERSION} from the Go module proxy (about 3 minutes the first time)")
    download = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True, timeout=600
    )
    info = json.loads(download.stdout or "{}")
    if download.returncode != 0 or "Dir" not in info:
        raise StackError(
            f"the Go module proxy did not serve {MODULE}@{VERSION}: {info.get('Error') or download.stderr.strip()}",
            "check GOPROXY / your network",
        )
    target = plugin()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    # Built inside a copy of the module, as its own main module: its go.mod's exclude directives
    # make `go install module@version` refuse it.
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "compose"
        shutil.copytree(info["Dir"], source)
        for folder, _, files in os.walk(source):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder) / name, 0o644)
        subprocess.run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                f"-s -w -X {MODULE}/internal.Version={VERSION}",
                "-o",
                str(partial),
                "./cmd",
            ],
            cwd=source,
            env={**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"},
            check=True,
        )
    partial.rename(target)
    say(f"docker compose {VERSION} ready: {target}")
