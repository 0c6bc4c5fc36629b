"""The README's curl walk-through, run as written (issue 14): extracted from README.md, not copied here.

Only the gateway's port is changed to this stack's (the README uses the default, 8000). The commands
must work with the curl this machine has (Debian 12's 7.88, which lacks `--show-headers`) and any 8.x.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from stack import config, http
from stack.services import postgrest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on PATH")


def walkthrough() -> list[str]:
    """The shell lines of the README's curl walk-through, continuation lines joined."""
    readme = (config.ROOT / "README.md").read_text()
    section = readme.split("## The recipe's steps, one target each", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip().startswith("curl ")]


def run(command: str, cwd) -> str:
    command = command.replace("http://localhost:8000", http.gateway())
    result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    return result.stdout.replace("\r\n", "\n")


def test_readme_walkthrough_as_written(page_stack, tmp_path):
    commands = walkthrough()
    assert len(commands) == 2 and all("--show-headers" not in c for c in commands)
    login, task = (run(command, tmp_path) for command in commands)
    assert login.startswith("HTTP/1.1 204")
    assert re.search(r"^set-cookie: access_token=eyJ[^;]+; Path=/; HttpOnly;$", login, re.M | re.I)
    assert re.search(
        r"^set-cookie: refresh_token=[0-9a-f-]{36}; Path=/rpc/refresh_token; HttpOnly;$", login, re.M | re.I
    )
    assert task.startswith("HTTP/1.1 200")
    assert '"title"' in task.split("\n\n", 1)[1]


def test_the_compatible_server_says_what_it_is(page_stack, tmp_path):
    login = run(walkthrough()[0], tmp_path)
    server = re.search(r"^server: (.*)$", login, re.M | re.I).group(1)
    if postgrest.real_binary() is None:
        assert server == f"postgrest-compatible/{config.pins()['POSTGREST_VERSION'].removeprefix('v')}"
    else:
        assert server.startswith("postgrest/")
