"""What workshop/jupyterhub_config.py calls: the hub (root) gives each learner a copy of the course
before their server spawns, and stops their stack after it stops; `share` puts what every learner
reads (wheels, the Caddy build, the start script) into the shared folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from .. import config
from ..services import caddy
from ..services.processes import say

WORKSHOP_DIR = config.ROOT / "workshop"
PROXY = WORKSHOP_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
START_SCRIPT = WORKSHOP_DIR / "start-learner"
COURSE = "course"  # the learner's copy, in their home folder
# Never copied into a learner's copy: this machine's own state, secrets and builds.
LOCAL_ONLY = {".venv", ".state", ".env", "build", "wheelhouse", "node_modules", ".git"}


def unix_account(name: str):
    import pwd  # Unix only, like the workshop server

    return pwd.getpwnam(name)


def course_files(source: Path = config.ROOT) -> list[Path]:
    """The course as in the teacher's checkout (files git tracks or would, edits included), else every file but LOCAL_ONLY."""
    listed = subprocess.run(
        [
            "git",
            "-c",
            f"safe.directory={source}",
            "-C",
            str(source),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        capture_output=True,
    )
    if listed.returncode == 0 and listed.stdout:
        names = [Path(name) for name in listed.stdout.decode().split("\0") if name]
        return [name for name in names if (source / name).is_file()]
    return [
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and not LOCAL_ONLY.intersection(path.relative_to(source).parts)
    ]


def give_course(username: str, source: Path = config.ROOT) -> Path:
    """A learner's own copy of the course in their home (kept across spawns: their work stays)."""
    account = unix_account(username)
    home = Path(account.pw_dir)
    home.chmod(0o700)  # learners share the machine, not their files
    target = home / COURSE
    if target.exists():
        return target
    partial = home / f".{COURSE}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for name in course_files(source):
        (partial / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, partial / name)
    for path in [partial, *partial.rglob("*")]:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    partial.rename(target)
    return target


def pre_spawn_hook(spawner) -> None:
    give_course(spawner.user.name)


async def post_stop_hook(spawner) -> None:
    """Stop the learner's stack as the learner, however their server ended (culled, stopped, crashed)."""
    await stop_stack(spawner.user.name)


async def stop_stack(username: str, command: str = "down") -> int:
    course = Path(unix_account(username).pw_dir) / COURSE
    if not (course / ".venv" / "bin" / "python").exists():
        return 0
    process = await asyncio.create_subprocess_exec(
        "runuser", "-u", username, "--", str(course / ".venv" / "bin" / "python"), "-m", "stack", command,
        cwd=course, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(process.wait(), timeout=60)


def share(shared: Path) -> None:
    """Into `shared`, readable by every learner and writable by none: the Caddy build (verified here,
    so learners only read it) and the start script. make workshop has put the wheelhouse there."""
    shared.mkdir(parents=True, exist_ok=True)
    build = caddy.ensure_built().parent
    target = shared / build.name
    shutil.copytree(build, target, dirs_exist_ok=True)
    caddy.verify_once(target / "caddy")
    shutil.copy2(START_SCRIPT, shared / START_SCRIPT.name)
    for path in [shared, *shared.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    say(f"shared with every learner, read-only: {shared}")


if __name__ == "__main__":
    import sys

    share(Path(sys.argv[1]))
