"""`make lab`: JupyterLab on the learner edition, in a working copy that git ignores.

lab/ holds the learner edition of every chapter (stack.course.editions), written once: a learner's
saved work is never overwritten, so it survives `git pull`. When a chapter changes upstream, the
learner's copy stays and the new learner edition goes next to it into lab/updates/. JupyterLab is
rooted at the repository, so the files the chapters cite open in it, and it asks no news server.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import nbformat

from .. import config
from . import editions

LAB_DIR = Path(os.environ.get("STACK_LAB_DIR", config.ROOT / "lab"))  # inside the repository, git-ignored
UPDATES_DIR = LAB_DIR / "updates"
GIVEN = LAB_DIR / ".given.json"  # the digest of each chapter as handed out, to tell a learner's edits from ours
SETTINGS_DIR = config.STATE_DIR / "jupyterlab" / "settings"
WORKSPACES_DIR = config.STATE_DIR / "jupyterlab" / "workspaces"
NOTEBOOKS_DIR = config.ROOT / "notebooks"
# JupyterLab's news and update checks call a website; a workshop room's learners need neither pop-up.
QUIET = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False}
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def learner_text(path: Path) -> str:
    return nbformat.writes(editions.learner(nbformat.read(path, as_version=4))) + "\n"


def prepare() -> list[str]:
    """Write the learner edition of each chapter that lab/ lacks; what was done, one line each."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    given = json.loads(GIVEN.read_text()) if GIVEN.exists() else {}
    said = []
    for path in sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb")):
        fresh = learner_text(path)
        target = LAB_DIR / path.name
        name = target.relative_to(config.ROOT)
        if not target.exists():
            target.write_text(fresh)
            given[path.name] = digest(fresh)
            said.append(f"{name}: learner edition written")
        elif given.get(path.name) != digest(fresh):
            if digest(target.read_text()) == given.get(path.name):  # untouched: take the new one
                target.write_text(fresh)
                given[path.name] = digest(fresh)
                said.append(f"{name}: updated (you had not changed it)")
            else:
                UPDATES_DIR.mkdir(exist_ok=True)
                (UPDATES_DIR / path.name).write_text(fresh)
                said.append(
                    f"{name}: changed upstream; yours is kept, the new one is {(UPDATES_DIR / path.name).relative_to(config.ROOT)}"
                )
    GIVEN.write_text(json.dumps(given, indent=1, sort_keys=True) + "\n")
    return said


def quiet_settings() -> Path:
    for name, values in QUIET.items():
        path = SETTINGS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1) + "\n")
    return SETTINGS_DIR


def server_config() -> Path:
    """No news feed and no update check at the server either (JupyterLab's LabApp settings)."""
    path = config.STATE_DIR / "jupyterlab" / "jupyter_lab_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        },
        "ContentsManager": {"hide_globs": ["__pycache__", "*.pyc", "*.egg-info", "sanitize.cfg"]},
    }
    path.write_text(json.dumps(settings, indent=1) + "\n")
    return path


def environment() -> dict[str, str]:
    WORKSPACES_DIR.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(quiet_settings()),
        "JUPYTERLAB_WORKSPACES_DIR": str(WORKSPACES_DIR),
    }


def command(*extra: str) -> list[str]:
    jupyter = Path(sys.executable).parent / "jupyter"
    argv = [
        str(jupyter),
        "lab",
        f"--ServerApp.root_dir={config.ROOT}",
        "--LabApp.default_url=/lab/tree/lab/00-overview.ipynb",
    ]
    argv += [f"--config={server_config()}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv + list(extra)


def main() -> int:
    for line in prepare():
        print(f"==> {line}", flush=True)
    print(
        f"==> JupyterLab on {LAB_DIR.relative_to(config.ROOT)}/ (the learner edition; git ignores it); the solutions are in notebooks/",
        flush=True,  # execve replaces this process: what is still buffered (a pipe, a log file) is lost
    )
    os.execve(command()[0], command(*sys.argv[1:]), environment())


if __name__ == "__main__":
    sys.exit(main())
