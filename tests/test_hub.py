"""A room on one server, for real (workshop/README.md): JupyterHub and its proxy on loopback, four
learners spawned at once through the Hub's REST API, chapters 00-08 run in every learner's own
server at the same time, one learner's `make reset` leaving the others' data and sessions intact,
and nothing left running afterwards. `make test-hub` prepares the hub (make workshop) and runs it;
elsewhere it is skipped, naming that target. Prints its figures: learners, chapters, seconds, memory."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from stack import ports
from stack.workshop import hub, memory, room

LEARNERS = 4
SHARED = Path(os.environ.get("WORKSHOP_SHARED", "/nonexistent"))  # make test-hub sets it
BOUND = 1500  # seconds for the whole test on a busy two-core machine; each step has its own bound too

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not hub.PROXY.exists() or not shutil.which("runuser") or not (SHARED / "wheelhouse").exists(),
    reason="the room test needs root and the hub set up: run `make test-hub`",
)

OPEN_SESSION = """
import json
from stack import db, http
login = http.login()
access_token = http.cookie_value(login, "access_token")
mark = "kept by " + {name!r}
db.query("insert into task (title) values (%s) returning id", [mark])
print(json.dumps({{"status": login.status_code}}))
"""

CHECK_SESSION = """
import json, requests
from stack import db, http
tasks = requests.get(http.gateway("/rest/task"), headers={"Cookie": f"access_token={access_token}"}, timeout=10)
refresh_tokens = db.query("select count(*) from auth.refresh_token where username = 'demo'")[0][0]
print(json.dumps({"status": tasks.status_code, "kept": mark in [row["title"] for row in tasks.json()],
                  "refresh_tokens": refresh_tokens}))
"""

RESET = """
import json, subprocess
from stack import config, db
make = ["make", "--no-print-directory"]
reset = subprocess.run([*make, "reset"], cwd=config.ROOT, capture_output=True, text=True, timeout=120)
again = subprocess.run([*make, "up", "migrate", "seed"], cwd=config.ROOT, capture_output=True, text=True, timeout=300)
print(reset.stdout[-1000:], reset.stderr[-1000:], again.stdout[-1000:], again.stderr[-1000:])
titles = [title for (title,) in db.query("select title from task")]
print(json.dumps({"reset": reset.returncode, "again": again.returncode, "kept": mark in titles}))
"""


def test_a_room_of_four_learners(tmp_path):
    started = time.monotonic()
    names = room.new_learner_names(LEARNERS)
    try:
        with room.run(env={"WORKSHOP_SHARED": str(SHARED)}, state=tmp_path / "hub") as workshop:
            for name in names:
                workshop.add_learner(name)
            spawned = time.monotonic()
            for name in names:  # all four at once: the REST API returns before each server is up
                workshop.spawn(name)
            spawn_seconds = {}
            for name in names:
                workshop.wait_ready(name, timeout=900)
                spawn_seconds[name] = time.monotonic() - spawned  # set-up, stack and JupyterLab, all four at once
            uids = {name: pwd.getpwnam(name).pw_uid for name in names}

            # Own ports: every learner's are free-chosen, and no two learners share one.
            every_port = []
            for name in names:
                env = dotenv_values(Path(pwd.getpwnam(name).pw_dir) / hub.COURSE / ".env")
                every_port += [int(env[setting]) for setting in ports.SETTINGS]
            assert len(set(every_port)) == len(every_port) == len(ports.SETTINGS) * LEARNERS, every_port

            # JupyterLab opens on the course: the chapters are the server's root folder.
            for name in names:
                opened = workshop.server_api(name, "GET", "/contents/00-overview.ipynb?content=0")
                assert opened.status_code == 200 and opened.json()["path"] == "00-overview.ipynb", opened.text
            kernels = {name: workshop.kernel(name) for name in names}
            with memory.Sampler(uids) as idle:
                time.sleep(3)
            chapters_started = time.monotonic()
            with memory.Sampler(uids) as running:
                results = asyncio.run(
                    room.run_everywhere(kernels, dict.fromkeys(names, room.RUN_CHAPTERS), timeout=1200)
                )
            chapters_seconds = time.monotonic() - chapters_started
            failed = {
                name: {chapter: detail for chapter, (passed, _, detail) in room.last_json(out).items() if not passed}
                for name, out in results.items()
            }
            assert not any(failed.values()), failed
            assert all(len(room.last_json(out)) == len(room.CHAPTERS) for out in results.values()), results

            # One learner's `make reset` wipes their database only: the others keep data and sessions.
            opened = asyncio.run(room.run_everywhere(kernels, {n: OPEN_SESSION.format(name=n) for n in names}, 120))
            assert all(room.last_json(out)["status"] == 204 for out in opened.values()), opened
            first, others = names[0], names[1:]
            reset = room.last_json(asyncio.run(room.run_everywhere(kernels, {first: RESET}, 600))[first])
            assert reset == {"reset": 0, "again": 0, "kept": False}, reset
            checked = asyncio.run(room.run_everywhere(kernels, dict.fromkeys(others, CHECK_SESSION), 120))
            for name, out in checked.items():
                state = room.last_json(out)
                assert state["status"] == 200 and state["kept"] and state["refresh_tokens"] >= 1, (name, state)

            for kernel in kernels.values():
                kernel.shutdown()
            for name in names:
                workshop.stop_server(name)
            # Stopped with their servers (the post-stop hook): no process of any learner is left.
            deadline = time.monotonic() + 60
            while any(memory.processes_of(uid) for uid in uids.values()) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not any(memory.processes_of(uid) for uid in uids.values()), {
                name: memory.processes_of(uid) for name, uid in uids.items()
            }
            hub_process = workshop.process
        assert hub_process.poll() is not None
        assert not memory.processes_running(str(hub.PROXY)), "the proxy outlived the hub"
    finally:
        room.remove_learners(names)
    seconds = time.monotonic() - started
    print(
        f"\nroom test: {LEARNERS} learners, {LEARNERS * len(room.CHAPTERS)} chapter runs ({len(room.CHAPTERS)} each, at once), "
        f"{seconds:.0f} s in all; all {LEARNERS} servers (set-up, stack, JupyterLab) ready {max(spawn_seconds.values()):.0f} s after the spawn requests, "
        f"chapters 00-08 {chapters_seconds:.0f} s; memory per learner (PSS): idle "
        f"{memory.mib(min(idle.peak.values()))}-{memory.mib(max(idle.peak.values()))} MiB, "
        f"peak while running {memory.mib(min(running.peak.values()))}-{memory.mib(max(running.peak.values()))} MiB"
    )
    assert seconds < BOUND


def test_an_idle_learner_is_culled_and_their_stack_stopped(tmp_path):
    """jupyterhub-idle-culler, as configured, with a 30 s limit: the idle server goes, its stack with it."""
    names = room.new_learner_names(1)
    try:
        with room.run(
            env={"WORKSHOP_SHARED": str(SHARED), "WORKSHOP_IDLE_MINUTES": "0.5"}, state=tmp_path / "hub"
        ) as hub:
            hub.add_learner(names[0])
            hub.spawn(names[0])
            hub.wait_ready(names[0], timeout=900)
            uid = pwd.getpwnam(names[0]).pw_uid
            assert any("postgres" in command for command in memory.processes_of(uid))  # their stack runs
            deadline = time.monotonic() + 240
            while hub.server(names[0]) is not None and time.monotonic() < deadline:
                time.sleep(2)
            assert hub.server(names[0]) is None, "the idle culler did not stop the server"
            culled = f"DELETE /hub/api/users/{names[0]}/server (idle-culler@" in hub.log.read_text()
            while memory.processes_of(uid) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert culled and not memory.processes_of(uid), memory.processes_of(uid)
    finally:
        room.remove_learners(names)


def test_a_learner_reaches_nothing_of_another_learners_stack(tmp_path):
    """Issue 22 on a workshop server: learner B, as their own Unix user, probes learner A's stack.
    Caddy's admin API (a Unix socket in A's 0700 state folder; no TCP port but the gateway), A's .env,
    the secret in A's services' environments, and A's database superuser are all out of B's reach."""
    import psutil

    from stack import config
    from stack.harness import neighbour

    names = room.new_learner_names(2)
    try:
        with room.run(env={"WORKSHOP_SHARED": str(SHARED)}, state=tmp_path / "hub") as workshop:
            for name in names:
                workshop.add_learner(name)
                workshop.spawn(name)
            for name in names:
                workshop.wait_ready(name, timeout=900)
            owner, other = names
            course = Path(pwd.getpwnam(owner).pw_dir) / hub.COURSE
            env = dotenv_values(course / ".env")
            uid = pwd.getpwnam(owner).pw_uid
            services = {
                process.info["name"]: process.pid
                for process in psutil.process_iter(["name", "uids"])
                if process.info["uids"] and process.info["uids"].real == uid
            }
            caddy_pid = services["caddy"]
            tcp_ports, unix_sockets = neighbour.listening(caddy_pid)
            targets = {
                "tcp_ports": tcp_ports,
                "unix_sockets": unix_sockets,
                "files": [str(course / ".env"), f"/proc/{caddy_pid}/environ"],
                "postgres": [int(env["NATIVE_POSTGRES_PORT"]), env["POSTGRES_USER"]],
            }
            found = neighbour.Neighbour(other).probe(targets)
            assert tcp_ports == [int(env["CADDY_HTTP_PORT"])], (tcp_ports, found)
            assert [str(config.caddy_admin_socket(course / ".state"))] == unix_sockets, unix_sockets
            assert all(
                answer.startswith("refused: ") for key, answer in found.items() if key.startswith(("unix", "file"))
            )
            assert not any("served its config" in answer for answer in found.values()), found
            assert found["postgres superuser"] == "asked for a password", found
    finally:
        room.remove_learners(names)
