"""`make lab` as a learner uses it (issue 14): JupyterLab on the learner edition, rooted at the repository,
no news pop-up; an exercise fails from its stub and passes with the learner's own answer; saving leaves
`git status` clean, and the next `make lab` (after a `git pull`) keeps the learner's work.

The real Jupyter server runs (`python -m stack.course.lab`, what `make lab` runs) on loopback; the
learner's kernel is driven with nbclient on the working copy, and the save goes through the server's
contents API, as JupyterLab's own save does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
import requests

from stack import config
from stack.course import editions
from stack.services import processes

# Chapter 05's first exercise, answered in a learner's own words.
MY_LOGIN = """def log_in(gateway, username, password, key):
    answer = requests.post(
        gateway + "/rpc/login",
        json={"user_": username, "pass": password},
        headers={"Content-Type": "application/json", "Content-Profile": "auth"},
        timeout=5,
    )
    token = answer.cookies.get("access_token")
    return jwt.decode(token, key=key, algorithms=["HS256"])"""


@pytest.fixture
def lab_server(tmp_path):
    """The lab server on a free loopback port, with its working copy in a folder of its own under lab/."""
    working_copy = config.ROOT / "lab" / f"test-{os.getpid()}"
    port = processes.free_ports(1)[0]
    token = os.urandom(16).hex()
    env = {**os.environ, "STACK_LAB_DIR": str(working_copy)}
    argv = [
        sys.executable,
        "-m",
        "stack.course.lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
    ]
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [*argv, f"--IdentityProvider.token={token}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"{base}/api/status", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "lab.log").read_text()
            time.sleep(0.3)
        yield base, session, working_copy
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(working_copy, ignore_errors=True)


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=config.ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_a_learner_in_the_lab(page_stack, lab_server):
    base, session, working_copy = lab_server
    before = git_status()
    where = working_copy.relative_to(config.ROOT)

    # No news pop-up: the server has no news feed, and the setting says never.
    assert '"news": {"disabled": true}' in session.get(f"{base}/lab", timeout=10).text
    notification = session.get(
        f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification", timeout=10
    ).json()
    assert notification["settings"]["fetchNews"] == "false"

    # Rooted at the repository: the files the chapters cite open, the learner edition is there.
    for cited in ("stack/caddy/Caddyfile.hardened", "migrations/hardening/up.sql"):
        assert session.get(f"{base}/api/contents/{cited}", timeout=10).status_code == 200, cited
    chapter = session.get(f"{base}/api/contents/{where}/05-log-in.ipynb", timeout=10).json()["content"]
    notebook = nbformat.from_dict(chapter)
    exercise = editions.exercises(notebook)[0]  # the first: Run All stops at its check
    stub = notebook.cells[exercise.solution].source
    assert "return {}" in stub and all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")

    # Run the chapter from the learner's copy: the stub fails its check, the learner's own answer passes.
    path = working_copy / "05-log-in.ipynb"
    on_stub, on_mine = editions.attempt(path, [stub, MY_LOGIN])
    assert on_stub and on_stub.startswith("AssertionError: "), on_stub
    assert on_mine is None

    # The learner saves (JupyterLab's save is this PUT); git sees nothing.
    notebook.cells[exercise.solution].source = MY_LOGIN
    saved = {"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(notebook))}
    assert session.put(f"{base}/api/contents/{where}/05-log-in.ipynb", json=saved, timeout=10).status_code == 200
    assert git_status() == before

    # The next make lab (after a git pull) keeps the learner's answer; a chapter changed upstream goes beside it.
    env = {**os.environ, "STACK_LAB_DIR": str(working_copy)}
    given = json.loads((working_copy / ".given.json").read_text())
    given["05-log-in.ipynb"] = "an older edition"
    (working_copy / ".given.json").write_text(json.dumps(given))
    prepared = subprocess.run(
        [sys.executable, "-c", "from stack.course import lab; print(*lab.prepare(), sep='\\n')"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{where}/05-log-in.ipynb: changed upstream; yours is kept" in prepared
    assert MY_LOGIN in nbformat.read(path, as_version=4).cells[exercise.solution].source
    assert (working_copy / "updates" / "05-log-in.ipynb").exists()
    assert git_status() == before
