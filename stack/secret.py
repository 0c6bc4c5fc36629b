"""The seed's first step: a random base64 secret in .env, never overwriting one."""

from __future__ import annotations

import base64
import os
import re
import secrets
import time

from dotenv import dotenv_values

from . import config, db, ports
from .services.processes import say


def new_secret() -> str:
    """What `openssl rand -base64 32` prints: 32 random bytes, standard base64 with padding."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def mask(secret: str) -> str:
    return f"{secret[:4]}…{secret[-2:]} ({len(secret)} characters)" if len(secret) > 8 else "…"


# example.env's values are committed, so anyone can read them: a new .env gets its own.
RANDOM_PASSWORDS = ("POSTGRES_PASSWORD", "PGRST_AUTHENTICATOR_PASS")


def new_password() -> str:
    """32 random characters from [A-Za-z0-9_-]: safe in a database URL and in a SQL string."""
    return secrets.token_urlsafe(24)


def with_random_passwords(text: str) -> str:
    pattern = re.compile(rf"^({'|'.join(RANDOM_PASSWORDS)})=.*$", re.M)
    return pattern.sub(lambda match: f"{match.group(1)}={new_password()}", text)


def ensure_secret() -> str:
    """Create .env from example.env if needed (with random database passwords) and add
    JWT_SECRET if absent. An existing .env keeps its values: the database was made with them.
    Returns the secret."""
    if not config.ENV_FILE.exists():
        # Created private, then written: its passwords are never readable by others, even briefly.
        config.ENV_FILE.touch(mode=0o600)
        config.ENV_FILE.chmod(0o600)
        config.ENV_FILE.write_text(with_random_passwords(config.EXAMPLE_ENV_FILE.read_text()))
        say(f"created {config.ENV_FILE.name} from {config.EXAMPLE_ENV_FILE.name}, with random database passwords")
        write_free_ports()
    existing = dotenv_values(config.ENV_FILE).get("JWT_SECRET")
    if existing:
        config.check_jwt_secret(existing)
        say(f"JWT_SECRET already in .env, kept: {mask(existing)}")
        return existing
    secret = new_secret()
    text = config.ENV_FILE.read_text()
    with config.ENV_FILE.open("a") as env_file:
        env_file.write(("" if text.endswith("\n") or not text else "\n") + f"JWT_SECRET={secret}\n")
    say(f"wrote a new JWT_SECRET to .env: {mask(secret)}")
    return secret


def write_free_ports() -> dict[str, int]:
    """In a new .env, replace each default port that is taken (or claimed by another copy of the
    course) by a free one, so a second clone or another user's works with no editing."""
    text = config.ENV_FILE.read_text()
    defaults = {setting: int(re.search(rf"^{setting}=(\d+)", text, re.M).group(1)) for setting in ports.SETTINGS}
    chosen = ports.choose(defaults, config.ENV_FILE)
    for setting, port in chosen.items():
        text = re.sub(rf"^{setting}=\d+", f"{setting}={port}", text, flags=re.M)
    config.ENV_FILE.write_text(text)
    gateway, postgrest, postgres = (chosen[setting] for setting in ports.SETTINGS)
    say(
        f"ports (the defaults where free), in .env: gateway localhost:{gateway}, PostgREST 127.0.0.1:{postgrest}, "
        f"PostgreSQL 127.0.0.1:{postgres}"
    )
    return chosen


# The page keeps the secret twice: in .env (for Caddy and PostgREST) and inside PostgreSQL, where
# migration 02's ALTER SYSTEM puts it for auth.login to sign with.


def in_database() -> str | None:
    """pgrst.jwt_secret as PostgreSQL has it (None before migration 02, or when it cannot be asked)."""
    result = db.psql("-At", "-c", "select current_setting('pgrst.jwt_secret', true)", check=False)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def store_in_database(value: str, timeout: float = 5) -> None:
    """As migration 02 does it (ALTER SYSTEM, then a reload), and wait until new sessions see it.
    Only a valid secret is taken: base64 has no quote, so it can sit in the SQL text, and it goes
    on psql's stdin rather than its command line, where other local users could read it."""
    config.check_jwt_secret(value)
    db.psql(
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        input=f"alter system set pgrst.jwt_secret = '{value}';\nselect pg_reload_conf();\n",
    )
    deadline = time.monotonic() + timeout
    while in_database() != value:
        if time.monotonic() > deadline:
            raise TimeoutError("PostgreSQL did not reload its configuration")
        time.sleep(0.05)


def disagreement(variables: dict[str, str]) -> str | None:
    """A warning when PostgreSQL's secret is not .env's, as after editing JWT_SECRET in .env once
    migrated: the stack starts, but every token auth.login signs is then refused."""
    stored = in_database()
    if stored is None or stored == variables.get("JWT_SECRET"):
        return None
    return (
        "warning: PostgreSQL signs tokens with another JWT secret than the one .env gives Caddy and PostgREST, "
        "so every login's token will be refused. Put the old JWT_SECRET back in .env, or store the new one: "
        "`make psql` then `alter system set pgrst.jwt_secret = '<JWT_SECRET from .env>'; select pg_reload_conf();` "
        "(or `make reset`, then migrate and seed again)"
    )


def caddy_refusal(candidate: str) -> str | None:
    """caddy-jwt's word on `candidate` as the JWT secret: `caddy validate` on the project's Caddyfile with it as
    JWT_SECRET (natively, or in a throwaway gateway container with Docker); None when it loads."""
    import subprocess

    from .errors import StackError
    from .services import caddy, compose

    if compose.uses_compose():
        command = ["caddy", "validate", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
        checked = subprocess.run(
            compose.compose_command("run", "--rm", "--no-deps", "-e", f"JWT_SECRET={candidate}", "caddy", *command),
            capture_output=True,
            text=True,
        )
        if checked.returncode == 0:
            return None
        problem = checked.stderr
    else:
        try:
            caddy.validate(variables={**config.settings(), "JWT_SECRET": candidate})
            return None
        except StackError as error:
            problem = error.problem
    found = re.search(r'providers\.jwt: ([^"]*)', problem)  # caddy-jwt's own words, in Caddy's JSON log line
    return found.group(1) if found else (problem.strip().splitlines() or ["caddy validate failed"])[-1]


def refusals(candidate: str, timeout: float = 20) -> dict[str, str]:
    """Which of the three services refuses `candidate` as the JWT secret, and what each says ({} if none).

    Each is asked for real, and the running stack is not touched: caddy-jwt by `caddy validate` with the
    candidate as JWT_SECRET (caddy_refusal); PostgREST by starting it on a free port with the candidate in
    its environment (it refuses to start, or it listens, then stops); PostgreSQL by `decode(candidate,
    'base64')`, what the page's `auth.sign_raw` does with it."""
    import subprocess
    import tempfile

    import psycopg

    from .errors import StackError
    from .services import postgrest, processes

    said: dict[str, str] = {}
    refusal = caddy_refusal(candidate)
    if refusal:
        said["caddy-jwt"] = refusal
    variables = {**config.settings(), "JWT_SECRET": candidate}
    port = processes.free_port()
    environment = {**config.native_environment("postgrest", variables), "PGRST_SERVER_PORT": str(port)}
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            postgrest.command(variables), env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            processes.wait_for_port(port, timeout, server, "postgrest")
        except StackError as error:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            if server.poll() is None:  # running, but not listening in time
                said["PostgREST"] = error.problem
            else:
                said["PostgREST"] = lines[-1] if lines else f"exited with code {server.returncode}"
        finally:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=10)
    try:
        db.query("select decode(%s, 'base64')", (candidate,))
    except psycopg.Error as error:
        said["PostgreSQL"] = error.diag.message_primary or str(error)
    return said
