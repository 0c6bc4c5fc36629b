"""Binder (binder/, README's badge), checked without Docker: repo2docker's steps done by hand as a fresh
non-root `jovyan` whose home is the repository, as in the image: the kernel's environment from
binder/requirements.txt (pip, in the repository's root), binder/postBuild, then binder/start around
a command that runs chapters 00-08 with nbclient. `make test-binder` runs it (root: it adds the user)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from stack import config
from stack.workshop import hub, room

USER = "jovyan"
PYTHON = os.environ.get("LEARNER_PYTHON", "/usr/bin/python3")  # one jovyan can run (not root's own)
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or os.environ.get("BINDER_EMULATION") != "1",
    reason="the Binder emulation adds a Unix user: run `make test-binder` as root",
)
# The network settings this machine's package installs need (a proxy's certificates), passed on to jovyan.
KEPT = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_INDEX_URL")


def as_jovyan(command: str, env_prefix: Path, timeout: float) -> subprocess.CompletedProcess:
    """A login shell as jovyan with the image's PATH (its Python environment first)."""
    home = pwd.getpwnam(USER).pw_dir
    environment = {
        "HOME": home,
        "USER": USER,
        "PATH": f"{env_prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **{name: os.environ[name] for name in KEPT if name in os.environ},
    }
    return subprocess.run(
        [
            "runuser",
            "-u",
            USER,
            "--",
            "env",
            "-i",
            *(f"{k}={v}" for k, v in environment.items()),
            "bash",
            "-c",
            command,
        ],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_binder_starts_the_course_as_jovyan(tmp_path):
    if shutil.which("runuser") is None:
        pytest.skip("runuser (util-linux) is needed")
    created = subprocess.run(["id", USER], capture_output=True).returncode != 0
    if created:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
    home = Path(pwd.getpwnam(USER).pw_dir)
    env_prefix = Path(f"/tmp/binder-notebook-env-{os.getpid()}")  # repo2docker's /srv/conda/envs/notebook
    started = time.monotonic()
    try:
        # repo2docker copies the repository into the home folder, owned by jovyan.
        for name in hub.course_files():
            (home / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(config.ROOT / name, home / name)
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
        env_prefix.mkdir()
        shutil.chown(env_prefix, USER)

        steps = [
            (f"{PYTHON} -m venv {env_prefix}", 120),
            ("pip install -q --disable-pip-version-check --no-cache-dir -r binder/requirements.txt", 900),
            ("./binder/postBuild", 300),
        ]
        for command, timeout in steps:
            result = as_jovyan(command, env_prefix, timeout)
            assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        build_seconds = time.monotonic() - started

        script = env_prefix / "run_chapters.py"  # what the session runs in place of JupyterLab
        script.write_text(room.RUN_CHAPTERS)
        session = as_jovyan(f"./binder/start python {script}", env_prefix, 900)
        assert session.returncode == 0, f"{session.stdout[-3000:]}\n{session.stderr[-3000:]}"
        results = room.last_json(session.stdout)
        failed = {chapter: detail for chapter, (passed, _, detail) in results.items() if not passed}
        assert len(results) == 9 and not failed, failed

        # The stack ran as jovyan, on loopback, with a .env of its own.
        env_file = home / ".env"
        assert env_file.stat().st_uid == pwd.getpwnam(USER).pw_uid and env_file.stat().st_mode & 0o077 == 0
        print(
            f"\nBinder emulation as {USER}: build (pip + postBuild) {build_seconds:.0f} s, "
            f"start + chapters 00-08 {sum(seconds for _, seconds, _ in results.values()):.0f} s of chapters, all passed"
        )
    finally:
        as_jovyan(".venv/bin/python -m stack down", env_prefix, 120)
        shutil.rmtree(env_prefix, ignore_errors=True)
        if created:
            room.remove_learners([USER])  # the same careful removal as the hub test's learners
