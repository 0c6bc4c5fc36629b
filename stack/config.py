"""Where things are, and the settings each service runs with.

compose.yaml is the one source of truth for service settings: the native stack
reads each service's ``environment`` from it, interpolated from .env the way
Docker Compose does, and changes only the addresses (NATIVE_ADDRESSES).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from dotenv import dotenv_values

from .errors import StackError

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = ROOT / "stack"
COMPOSE_FILE = STACK_DIR / "compose.yaml"
CADDYFILE = STACK_DIR / "caddy" / "Caddyfile"
CADDY_DOCKERFILE = STACK_DIR / "caddy" / "Dockerfile"
MIGRATIONS_DIR = ROOT / "migrations"
SEED_DIR = ROOT / "seed"
ENV_FILE = Path(os.environ.get("STACK_ENV_FILE", ROOT / ".env"))
EXAMPLE_ENV_FILE = ROOT / "example.env"
STATE_DIR = Path(os.environ.get("STACK_STATE_DIR", ROOT / ".state"))
LOG_DIR = STATE_DIR / "logs"
RUN_DIR = STATE_DIR / "run"
BUILD_DIR = ROOT / "build"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "superstack-jwt"


def read_env_file() -> dict[str, str]:
    """The settings in .env; a clear error when it is missing."""
    if not ENV_FILE.exists():
        raise StackError(
            f"{ENV_FILE.name} is missing, so the stack has no JWT secret or passwords.",
            "run `make secret` (it creates .env from example.env and adds JWT_SECRET)",
        )
    return {key: value or "" for key, value in dotenv_values(ENV_FILE).items()}


def settings() -> dict[str, str]:
    """.env, overridden by the process environment (as Compose does)."""
    merged = read_env_file()
    merged.update(
        {
            key: value
            for key, value in os.environ.items()
            if key in merged or key.startswith(("PGRST_", "NATIVE_", "CADDY_", "POSTGRES"))
        }
    )
    return merged


def check_jwt_secret(secret: str) -> bytes:
    """caddy-jwt decodes sign_key as standard base64 with padding: insist on exactly that."""
    if not secret:
        raise StackError("JWT_SECRET is empty in .env.", "run `make secret` to generate one")
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise StackError(
            "JWT_SECRET in .env is not valid base64; caddy-jwt would refuse to load it.",
            "delete the JWT_SECRET line from .env and run `make secret`, or use `openssl rand -base64 32`",
        ) from None
    if len(key) < 32:
        raise StackError(
            f"JWT_SECRET decodes to {len(key)} bytes; HS256 wants at least 32.",
            "delete the JWT_SECRET line from .env and run `make secret`",
        )
    return key


def check_authenticator_password(password: str) -> None:
    """It goes into PGRST_DB_URI and into a SQL literal: keep it to characters safe in both."""
    if not re.fullmatch(r"[A-Za-z0-9._~-]+", password):
        raise StackError(
            "PGRST_AUTHENTICATOR_PASS in .env must be letters, digits and . _ ~ - only "
            "(it is part of PostgREST's database URL and of a SQL string).",
            "change it in .env before the first `make migrate` (or `make reset` after changing it)",
        )


_INTERPOLATION = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's variable syntax: $VAR, ${VAR}, ${VAR:-default}, ${VAR:?error}, $$."""

    def replace(match: re.Match) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        operator, argument = match.group(3), match.group(4)
        value = variables.get(name)
        unset = value is None or (value == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("?") and unset:
            raise StackError(
                f"{name} is not set, and compose.yaml requires it.",
                f"add {name}=... to .env (see example.env), or run `make secret` for JWT_SECRET",
            )
        if operator and operator.endswith("-") and unset:
            return argument
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def compose_services(variables: dict[str, str] | None = None) -> dict[str, dict]:
    """compose.yaml's services, with their environment interpolated like Compose does."""
    variables = settings() if variables is None else variables
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    services = {}
    for name, service in document["services"].items():
        environment = {
            key: interpolate(str(value).lower() if isinstance(value, bool) else str(value), variables)
            for key, value in (service.get("environment") or {}).items()
        }
        services[name] = {**service, "environment": environment}
    return services


@dataclass(frozen=True)
class Ports:
    gateway: int
    postgrest: int
    postgres: int
    gateway_host: str = "127.0.0.1"  # where the gateway listens (CADDY_HTTP_HOST)


def ports(variables: dict[str, str] | None = None) -> Ports:
    variables = settings() if variables is None else variables
    return Ports(
        gateway=int(variables.get("CADDY_HTTP_PORT") or 8000),
        postgrest=int(variables.get("NATIVE_POSTGREST_PORT") or 3000),
        postgres=int(variables.get("NATIVE_POSTGRES_PORT") or 55432),
        gateway_host=variables.get("CADDY_HTTP_HOST") or "127.0.0.1",
    )


# The longest path a Unix socket can have is 104 bytes on macOS, 108 on Linux (sun_path).
SOCKET_PATH_MAX = 100


def caddy_admin_socket(state_dir: Path | None = None) -> Path:
    """Where Caddy's admin API listens natively: a Unix socket in a folder only the stack's user
    may enter (stack.services.caddy makes it 0700), never a TCP port, which every local user could
    reach (issue 22). A state folder too deep for a socket path uses one in the temporary folder,
    named after the user and the state folder."""
    state_dir = STATE_DIR if state_dir is None else state_dir
    socket = state_dir / "admin" / "caddy.sock"
    if len(str(socket).encode()) <= SOCKET_PATH_MAX:
        return socket
    import hashlib
    import tempfile

    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"superstack-jwt-admin-{os.getuid()}-{digest}" / "caddy.sock"


def native_addresses(p: Ports) -> dict[str, dict[str, str]]:
    """The only settings the native stack changes: where each service listens and finds the others."""
    return {
        "caddy": {
            "CADDY_SITE_ADDRESS": f":{p.gateway}",
            "CADDY_BIND": p.gateway_host,
            "POSTGREST_UPSTREAM": f"127.0.0.1:{p.postgrest}",
            "WEB_ROOT": str(STACK_DIR / "web"),
            "CADDY_ADMIN": f"unix/{caddy_admin_socket()}",
        },
        "postgrest": {"PGRST_SERVER_HOST": "127.0.0.1", "PGRST_SERVER_PORT": str(p.postgrest)},
        "postgres": {},
    }


def native_environment(service: str, variables: dict[str, str] | None = None) -> dict[str, str]:
    """A service's compose environment, with its addresses changed for loopback."""
    variables = settings() if variables is None else variables
    environment = dict(compose_services(variables)[service]["environment"])
    p = ports(variables)
    environment.update(native_addresses(p)[service])
    if "PGRST_DB_URI" in environment:
        environment["PGRST_DB_URI"] = environment["PGRST_DB_URI"].replace(
            "@postgres:5432/", f"@127.0.0.1:{p.postgres}/"
        )
    return environment


def pins() -> dict[str, str]:
    """Pinned versions, read from the files Docker uses so native cannot drift."""
    dockerfile = CADDY_DOCKERFILE.read_text()
    found = dict(re.findall(r"^ARG (CADDY_VERSION|CADDY_JWT_VERSION)=(\S+)", dockerfile, re.M))
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    found["POSTGREST_VERSION"] = services["postgrest"]["image"].split(":", 1)[1]
    postgres_dockerfile = (STACK_DIR / "postgres" / "Dockerfile").read_text()
    found["POSTGRES_VERSION"] = re.search(r"^FROM postgres:(\S+)", postgres_dockerfile, re.M).group(1)
    return found
