"""A real JupyterHub and its proxy on loopback, for the room test and the capacity benchmark.

In PostgREST's test/io shape: `run(env=...)` yields one Hub; however the caller ends, every learner's
server is stopped through the hub (so the post-stop hook stops their stacks), then the hub itself.
Learners' kernels are driven through their Jupyter server's kernel API (REST plus its websocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from ..errors import StackError
from ..services.processes import free_ports
from . import hub, memory

CONFIG_FILE = hub.WORKSHOP_DIR / "jupyterhub_config.py"
CHAPTERS = [f"{number:02d}-" for number in range(9)]  # 00-08: the page's steps, end to end

# What a learner's kernel runs: chapters 00-08 with nbclient, in their own server, as `make tutorial` does.
RUN_CHAPTERS = f"""
import json, time
from stack.course import site
results = {{}}
for path in site.chapters({CHAPTERS!r}):
    started = time.monotonic()
    _, failure = site.execute(path)
    results[path.stem] = [failure is None, round(time.monotonic() - started, 1), (failure or "")[-2000:]]
print(json.dumps(results))
"""


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def new_learner_names(count: int) -> list[str]:
    """Names no account on this machine has yet (the hub creates the accounts)."""
    suffix = secrets.token_hex(2)
    return [f"learner{number}x{suffix}" for number in range(1, count + 1)]


def remove_learners(names: list[str]) -> None:
    """Delete the accounts (and homes) of learners this harness created, and nothing else."""
    for name in names:
        try:
            uid = memory.uid_of(name)
        except KeyError:
            continue
        subprocess.run(["pkill", "-KILL", "-U", str(uid)], check=False)
        deadline = time.monotonic() + 30
        while memory.processes_of(uid) and time.monotonic() < deadline:  # userdel refuses a user still running
            time.sleep(0.2)
        removed = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if removed.returncode not in (0, 12):  # 12: the home folder was already gone
            raise StackError(
                f"could not remove the test learner {name}: {removed.stderr.strip()}", f"userdel --remove {name}"
            )


async def run_everywhere(kernels: dict[str, Kernel], code: dict[str, str], timeout: float) -> dict[str, str]:
    """Each learner's code in their own kernel, all at the same time; their outputs by name."""
    outputs = await asyncio.gather(*(kernels[name].run(code[name], timeout) for name in code))
    return dict(zip(code, outputs, strict=True))


async def execute(connection, code: str, name: str, timeout: float) -> tuple[str, str | None]:
    """One execute_request on a kernel's websocket, read until the kernel is idle again (its output is
    complete): the printed output and the traceback, None if the code raised nothing."""
    message_id = uuid.uuid4().hex
    header = {"msg_id": message_id, "msg_type": "execute_request", "username": name, "session": uuid.uuid4().hex, "version": "5.3"}  # fmt: skip
    request = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    connection.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": request, "channel": "shell"}))  # fmt: skip
    output, error = [], None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StackError(f"{name}'s kernel did not finish within {timeout:.0f} s.", "read the hub's log")
        raw = await asyncio.wait_for(connection.read_message(), remaining)
        if raw is None:
            raise StackError(f"{name}'s kernel connection closed.", "read the hub's log")
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != message_id:
            continue
        kind, content = message["header"]["msg_type"], message["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "error":
            error = "\n".join(content.get("traceback", [])) or content.get("evalue", "")
        elif kind == "status" and content.get("execution_state") == "idle":
            return "".join(output), error


@dataclass
class Hub:
    process: subprocess.Popen
    url: str
    token: str
    log: Path
    learners: list[str] = field(default_factory=list)

    def api(self, method: str, path: str, **options) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **options)

    def add_learner(self, name: str) -> None:
        """As a teacher on the admin page: the hub creates the Unix account too."""
        response = self.api("POST", f"/users/{name}")
        if response.status_code not in (201, 409):
            raise StackError(
                f"the hub refused to add {name}: {response.status_code} {response.text}", f"read {self.log}"
            )
        self.learners.append(name)

    def spawn(self, name: str) -> None:
        response = self.api("POST", f"/users/{name}/server")
        if response.status_code not in (201, 202, 400):  # 400: already running
            raise StackError(f"spawning {name}'s server: {response.status_code} {response.text}", f"read {self.log}")

    def server(self, name: str) -> dict | None:
        return self.api("GET", f"/users/{name}").json().get("servers", {}).get("")

    def is_ready(self, name: str, waited: float) -> bool:
        """Whether the learner's server (and so their stack) is up; an error if it stopped while starting."""
        server = self.server(name)
        if server and server.get("ready"):
            return True
        if server is None and waited > 5:
            raise StackError(f"{name}'s server stopped while starting.", f"read {self.log}")
        return False

    def wait_ready(self, name: str, timeout: float) -> float:
        """Seconds until the learner's server (and so their stack) is up."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.is_ready(name, time.monotonic() - started):
                return time.monotonic() - started
            time.sleep(0.5)
        raise StackError(f"{name}'s server was not ready within {timeout:.0f} s.", f"read {self.log}")

    def stop_server(self, name: str, timeout: float = 120) -> None:
        self.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while self.server(name) is not None:
            if time.monotonic() > deadline:
                raise StackError(f"{name}'s server did not stop within {timeout:.0f} s.", f"read {self.log}")
            time.sleep(0.5)

    def server_api(self, name: str, method: str, path: str) -> requests.Response:
        """The learner's own Jupyter server's REST API, through the proxy, as JupyterLab calls it."""
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/user/{name}/api{path}", headers=headers, timeout=60)

    def kernel(self, name: str) -> Kernel:
        return Kernel(self, name)


class Kernel:
    """A kernel in a learner's own Jupyter server, driven as JupyterLab drives it."""

    def __init__(self, room: Hub, name: str):
        self.room, self.name = room, name
        self.base = f"{room.url}/user/{name}/api/kernels"
        headers = {"Authorization": f"token {room.token}"}
        response = requests.post(self.base, headers=headers, json={"name": "python3"}, timeout=60)
        response.raise_for_status()
        self.id = response.json()["id"]
        self.headers = headers

    async def run(self, code: str, timeout: float) -> str:
        """Execute `code`; its printed output. A cell that raises is an error naming the learner."""
        url = f"{self.base.replace('http', 'ws', 1)}/{self.id}/channels"
        connection = await websocket_connect(HTTPRequest(url, headers=self.headers, connect_timeout=60))
        try:
            output, error = await execute(connection, code, self.name, timeout)
        finally:
            connection.close()
        if error:
            raise StackError(f"{self.name}'s kernel raised:\n{error}\n{output}", "read the output above")
        return output

    def shutdown(self) -> None:
        with contextlib.suppress(requests.RequestException):
            requests.delete(f"{self.base}/{self.id}", headers=self.headers, timeout=30)


class Notebook:
    """A chapter opened in a learner's JupyterLab, as the browser opens it: a session (its kernel starts in
    the chapter's folder) and the kernel's websocket, kept open like the tab until `close` (a learner who
    moves on leaves the tab, and its kernel, open). Async: many learners share one event loop."""

    def __init__(self, room: Hub, name: str, path: str):
        self.room, self.name, self.path = room, name, path
        self.headers = {"Authorization": f"token {room.token}"}
        self.api = f"{room.url}/user/{name}/api"
        self.connection = None
        self.kernel_id = self.session_id = None

    async def open(self, timeout: float = 300) -> float:
        """Open the chapter; seconds until its kernel answered (kernel_info), as JupyterLab waits for it."""
        started = time.monotonic()
        client = AsyncHTTPClient()
        body = {"path": self.path, "name": self.path, "type": "notebook", "kernel": {"name": "python3"}}
        response = await client.fetch(
            f"{self.api}/sessions", method="POST", headers=self.headers, body=json.dumps(body), request_timeout=timeout
        )
        session = json.loads(response.body)
        self.session_id, self.kernel_id = session["id"], session["kernel"]["id"]
        url = f"{self.api.replace('http', 'ws', 1)}/kernels/{self.kernel_id}/channels?session_id={uuid.uuid4().hex}"
        self.connection = await websocket_connect(HTTPRequest(url, headers=self.headers, connect_timeout=timeout))
        message_id = uuid.uuid4().hex
        header = {"msg_id": message_id, "msg_type": "kernel_info_request", "username": self.name, "session": uuid.uuid4().hex, "version": "5.3"}  # fmt: skip
        self.connection.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"}))  # fmt: skip
        while True:
            raw = await asyncio.wait_for(self.connection.read_message(), max(1, timeout - (time.monotonic() - started)))
            if raw is None:
                raise StackError(f"{self.name}'s kernel for {self.path} closed while starting.", "read the hub's log")
            message = json.loads(raw)
            if (
                message["header"]["msg_type"] == "kernel_info_reply"
                and message["parent_header"].get("msg_id") == message_id
            ):
                return time.monotonic() - started

    async def execute(self, code: str, timeout: float) -> tuple[str, str | None]:
        return await execute(self.connection, code, self.name, timeout)

    async def close(self) -> None:
        """Close the tab and shut its kernel down (DELETE the session), as File > Close and Shut Down does."""
        if self.connection is not None:
            self.connection.close()
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await AsyncHTTPClient().fetch(
                    f"{self.api}/sessions/{self.session_id}", method="DELETE", headers=self.headers, request_timeout=60
                )


def jupyterhub_command() -> list[str]:
    return [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG_FILE)]


@contextlib.contextmanager
def run(env: dict[str, str], state: Path, timeout: float = 120):
    """JupyterHub with workshop/jupyterhub_config.py on free loopback ports; `env` adds settings
    (WORKSHOP_SHARED at least). Yields a Hub once its API answers."""
    if os.geteuid() != 0:
        raise StackError(
            "JupyterHub's local spawner runs each learner as their Unix user: it needs root.", "run as root"
        )
    if not hub.PROXY.exists():
        raise StackError("configurable-http-proxy is not installed.", "run `make workshop`")
    state.mkdir(parents=True, exist_ok=True)
    public, hub_port, proxy_api = free_ports(3)
    token = secrets.token_hex(32)
    url = f"http://127.0.0.1:{public}"
    environment = {
        **os.environ,
        **env,
        "WORKSHOP_URL": url,
        "WORKSHOP_HUB_PORT": str(hub_port),
        "WORKSHOP_PROXY_API_PORT": str(proxy_api),
        "WORKSHOP_API_TOKEN": token,
        "WORKSHOP_HUB_STATE": str(state),
    }
    log = state / "jupyterhub.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(
            jupyterhub_command(), cwd=state, env=environment, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    room = Hub(process, url, token, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise StackError(f"JupyterHub exited with {process.returncode} while starting.", f"read {log}")
            with contextlib.suppress(requests.RequestException):
                if room.api("GET", "/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise StackError(f"JupyterHub did not answer within {timeout:.0f} s.", f"read {log}")
            time.sleep(0.5)
        yield room
    finally:
        for name in room.learners:
            with contextlib.suppress(Exception):
                room.stop_server(name)
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: the hub stops its proxy and services; then the whole process group, to be sure."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
