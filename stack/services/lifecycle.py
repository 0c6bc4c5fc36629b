"""The whole stack: up, down, status, logs, reset, natively or with Docker Compose."""

from __future__ import annotations

import shutil
import time

import requests

from .. import config, http
from ..errors import StackError
from . import caddy, compose, postgres, postgrest, processes
from .processes import say

NATIVE_SERVICES = ("postgres", "postgrest", "caddy")


def checked_settings() -> dict[str, str]:
    """.env present, every setting compose needs set, JWT_SECRET real base64."""
    variables = config.settings()
    config.compose_services(variables)
    config.check_jwt_secret(variables.get("JWT_SECRET", ""))
    config.check_authenticator_password(variables.get("PGRST_AUTHENTICATOR_PASS", ""))
    return variables


def postgrest_answers(variables: dict[str, str]) -> bool:
    try:
        return requests.get(http.postgrest(variables=variables), timeout=2).status_code < 500
    except requests.RequestException:
        return False


def postgrest_can_serve(variables: dict[str, str]) -> bool:
    """Natively: its process runs. With Compose: its login role exists (until then it restarts)."""
    if compose.uses_compose():
        return postgres.role_can_log_in(config.native_environment("postgrest", variables)["PGRST_DB_URI"])
    return bool(processes.running_pid("postgrest"))


def wait_healthy(variables: dict[str, str], timeout: float = 20) -> float:
    """Until the OpenAPI root answers through the gateway (so all three are serving).

    Before the migrations PostgREST cannot run yet (see up), and Caddy answering is all there is."""
    if not postgrest_can_serve(variables):
        processes.wait_for_port(config.ports(variables).gateway, timeout, name="caddy")
        return 0.0
    started = time.monotonic()
    deadline = started + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = requests.get(http.gateway("/rest/", variables), timeout=2)
            if response.status_code < 500:
                return time.monotonic() - started
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        time.sleep(0.05)
    raise StackError(
        f"the stack did not become healthy within {timeout:.0f} s (last answer: {last}).", "read `make logs`"
    )


def preflight(variables: dict[str, str]) -> None:
    """Check every port a stopped service needs before starting anything, so a clash costs nothing."""
    p = config.ports(variables)
    if not postgres.is_running():
        processes.require_free_port(p.postgres, "PostgreSQL", "NATIVE_POSTGRES_PORT")
    if not processes.running_pid("postgrest"):
        processes.require_free_port(p.postgrest, "PostgREST", "NATIVE_POSTGREST_PORT")
    if not processes.running_pid("caddy"):
        processes.require_free_port(p.gateway, "Caddy (the gateway)", "CADDY_HTTP_PORT")


def start_postgrest_if_it_can_log_in(variables: dict[str, str]) -> bool:
    """PostgREST exits when the database refuses its login role, which a fresh database does until
    `make migrate` creates it; so it starts once that works (migrate calls this again)."""
    if processes.running_pid("postgrest"):
        return True
    if not postgres.role_can_log_in(config.native_environment("postgrest", variables)["PGRST_DB_URI"]):
        say("PostgREST starts once its login role exists: run `make migrate` (it starts it)")
        return False
    postgrest.start(variables)
    return True


def up() -> None:
    started = time.monotonic()
    variables = checked_settings()
    if compose.uses_compose():
        say("starting the stack with Docker Compose")
        # No --wait: PostgREST restarts until `make migrate` creates its login role.
        compose.run("up", "-d", "--build")
    else:
        preflight(variables)
        postgres.start(variables)
        start_postgrest_if_it_can_log_in(variables)
        caddy.start(variables)
    wait_healthy(variables)
    serving = postgrest.describe(variables) if postgrest_can_serve(variables) else "starts after `make migrate`"
    say(f"healthy in {time.monotonic() - started:.1f} s: {http.gateway(variables=variables)} (PostgREST: {serving})")


def down() -> None:
    if compose.uses_compose():
        compose.run("down")
        return
    stopped = [caddy.stop(), postgrest.stop(), postgres.stop()]
    if not any(stopped):
        say("nothing was running")
    leftovers = [name for name in NATIVE_SERVICES if processes.running_pid(name)]
    if leftovers:
        raise StackError(f"still running after stop: {', '.join(leftovers)}", "kill them by hand (pids in .state/run)")


def reset() -> None:
    """Stop and wipe the database and logs (the .env and the Caddy build cache stay)."""
    if compose.uses_compose():
        compose.run("down", "--volumes")
        return
    down()  # needs no .env: it only stops what runs
    if config.STATE_DIR.exists():
        say(f"removing {config.STATE_DIR}")
        shutil.rmtree(config.STATE_DIR)


def running_services() -> set[str]:
    """Which native services of this stack run now (make doctor tells their ports from a stranger's)."""
    running = {name for name in ("postgrest", "caddy") if processes.running_pid(name)}
    try:
        if postgres.is_running():
            running.add("postgres")
    except StackError:  # no PostgreSQL found: then none of ours runs
        pass
    return running


def status() -> dict[str, str]:
    """One line per service: running or not, where, and which PostgREST."""
    variables = config.settings()
    p = config.ports(variables)
    if compose.uses_compose():
        compose.run("ps", check=False)
        running = compose.run("ps", "--services", "--status", "running", check=False, quiet=True).stdout.split()
        return {name: f"{'up  ' if name in running else 'down'}  {name} (Docker Compose)" for name in NATIVE_SERVICES}
    try:
        postgres_text, postgres_up = postgres.describe(), postgres.is_running()
    except StackError as error:  # none found: say why, as make doctor does
        postgres_text, postgres_up = f"PostgreSQL: {error.problem}", False
    report = {
        "postgres": f"{postgres_text} on 127.0.0.1:{p.postgres}",
        "postgrest": f"{postgrest.describe(variables)} on 127.0.0.1:{p.postgrest}",
        "caddy": f"Caddy {config.pins()['CADDY_VERSION']} + caddy-jwt {config.pins()['CADDY_JWT_VERSION']} "
        f"({caddy.source_of(caddy.binary_path())}) on {http.gateway(variables=variables)}",
    }
    running = {
        "postgres": postgres_up,
        "postgrest": bool(processes.running_pid("postgrest")),
        "caddy": bool(processes.running_pid("caddy")),
    }
    lines = {name: f"{'up  ' if running[name] else 'down'}  {text}" for name, text in report.items()}
    for line in lines.values():
        print(line)
    return lines


def logs(lines: int = 40) -> None:
    if compose.uses_compose():
        compose.run("logs", "--tail", str(lines), check=False)
        return
    for name in NATIVE_SERVICES:
        path = processes.log_path(name)
        print(f"----- {path}")
        if path.exists():
            print("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))


def service_log(name: str) -> str:
    """One service's whole log: natively its log file, with Compose `docker compose logs <service>`
    (what the container wrote to stdout and stderr, which is where the official images log)."""
    if compose.uses_compose():
        return compose.run("logs", "--no-color", "--no-log-prefix", name, check=False, quiet=True).stdout
    path = processes.log_path(name)
    return path.read_text(errors="replace") if path.exists() else ""


def serve_after_migrations() -> None:
    """On a fresh stack PostgREST waits for the login role the first migration creates: start it now."""
    variables = config.settings()
    if not compose.uses_compose():
        start_postgrest_if_it_can_log_in(variables)
    elif postgrest_can_serve(variables) and not postgrest_answers(variables):
        # Compose restarts it with a growing back-off; start it now rather than in a minute.
        compose.run("restart", "postgrest")
        wait_healthy(variables)
