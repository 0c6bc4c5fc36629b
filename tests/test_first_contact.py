"""A learner's first contact (issue 17, item 5): each finding of the walk-through, reproduced.

- `make lab` says where the solutions are wherever its output goes (a pipe, not only a terminal);
- a notebook opens unmodified in JupyterLab: JupyterLab rewrites the notebook's `language_info` with the
  kernel's once it starts, and a different one (another Python version) marks the notebook unsaved; the
  learner edition carries this machine's kernel metadata, the stored chapters JupyterLab's kernelspec;
- no process is left behind: a long-lived process that started a service (a notebook's kernel that
  restarted Caddy) reaps it when someone else stops it (`make down`), instead of keeping a `<defunct>`;
- uv trusts the system's certificate store, like pip, in every uv command the Makefile runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import psutil
import pytest
from jupyter_client.manager import start_new_kernel

from stack import config
from stack.course import browser, editions, site
from stack.services import processes


def test_make_lab_says_where_the_solutions_are_through_a_pipe():
    working_copy = config.ROOT / "lab" / f"test-first-contact-{os.getpid()}"
    try:
        result = subprocess.run(  # `jupyter lab --version` stands in for the server: it prints and exits
            [sys.executable, "-m", "stack.course.lab", "--version"],
            cwd=config.ROOT,
            # buffered, as Python's output into a pipe is unless PYTHONUNBUFFERED is set
            env={
                **{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                "STACK_LAB_DIR": str(working_copy),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(working_copy, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert "the solutions are in notebooks/" in result.stdout, result.stdout
    assert "learner edition written" in result.stdout


def test_kernel_metadata_is_what_the_kernel_and_the_server_report():
    manager, client = start_new_kernel(kernel_name=editions.KERNEL)
    try:
        reply = client.kernel_info(reply=True, timeout=60)
        display_name = manager.kernel_spec.display_name
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    expected = editions.kernel_metadata()
    assert reply["content"]["language_info"] == expected["language_info"]
    assert expected["kernelspec"] == {"display_name": display_name, "language": "python", "name": editions.KERNEL}


def test_notebooks_open_unmodified():
    expected = editions.kernel_metadata()
    for path in site.chapters():
        stored = nbformat.read(path, as_version=4)
        # as JupyterLab writes it once the kernel starts (it writes "Python 3 (ipykernel)" over "Python 3")
        assert stored.metadata.kernelspec == expected["kernelspec"], path.name
        info = {key: value for key, value in stored.metadata.language_info.items() if key != "version"}
        assert info == {key: value for key, value in expected["language_info"].items() if key != "version"}, path.name
        assert (stored.nbformat, stored.nbformat_minor) == (4, 5), path.name
        # the learner edition carries this machine's kernel exactly, Python version included
        learner = editions.learner(stored)
        assert {key: learner.metadata[key] for key in expected} == expected, path.name


def test_the_process_that_started_a_service_reaps_it_when_another_stops_it(tmp_path):
    starter = textwrap.dedent("""
        import sys
        from stack.services import processes
        process = processes.spawn("reaptest", [sys.executable, "-c", "import time; time.sleep(120)"], {})
        print(process.pid, flush=True)
        sys.stdin.read()  # stays alive, like a notebook's kernel
    """)
    kernel = subprocess.Popen(
        [sys.executable, "-c", starter],
        cwd=config.ROOT,
        env={**os.environ, "STACK_STATE_DIR": str(tmp_path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        service = int(kernel.stdout.readline())
        assert psutil.Process(service).ppid() == kernel.pid
        os.killpg(service, signal.SIGTERM)  # what `make down` does, from another process
        deadline = time.monotonic() + 10
        while psutil.pid_exists(service) and time.monotonic() < deadline:
            time.sleep(0.05)
        leftover = [child.status() for child in psutil.Process(kernel.pid).children()]
        assert not psutil.pid_exists(service), f"left behind under its starter: {leftover}"
    finally:
        kernel.stdin.close()
        kernel.wait(timeout=10)


def test_every_uv_command_of_the_makefile_uses_the_system_trust_store():
    # The environment a recipe of the Makefile runs with, read through make itself.
    probe = "probe-uv-environment:\n\t@echo UV_SYSTEM_CERTS=$$UV_SYSTEM_CERTS\n"
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", "Makefile", "-f", "-", "probe-uv-environment"],
        cwd=config.ROOT,
        input=probe,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == "UV_SYSTEM_CERTS=1", result.stdout + result.stderr
    # uv knows the variable (its older name, UV_NATIVE_TLS, is deprecated in the pinned uv)
    uv = config.ROOT / ".venv" / "bin" / "uv"
    assert "UV_SYSTEM_CERTS" in subprocess.run([uv, "pip", "install", "--help"], capture_output=True, text=True).stdout


def test_the_learner_edition_carries_this_machines_python_whatever_python_refreshed_the_chapters():
    """JupyterLab rewrites `language_info` with the kernel's (its Python version included) and then marks the
    notebook unsaved: seen in Chromium, a learner edition of a chapter stored under another Python opened with
    `jp-mod-dirty` on its tab. So the learner edition takes this machine's kernel, not the stored one."""
    [path] = site.chapters(["01-"])
    stored = nbformat.read(path, as_version=4)
    stored.metadata.language_info["version"] = "3.99.0"  # as if the chapters were refreshed on another Python
    learner = editions.learner(stored)
    assert learner.metadata.language_info == editions.kernel_metadata()["language_info"]


@pytest.mark.skipif(not browser.available(), reason="needs Chromium")
def test_a_learner_edition_opens_unmodified_in_jupyterlab(tmp_path):
    """The real thing: JupyterLab in Chromium opens the learner edition of a chapter stored under another Python,
    its kernel starts, and the tab carries no unsaved mark (`jp-mod-dirty`)."""
    from playwright.sync_api import sync_playwright

    working_copy = config.ROOT / "lab" / f"test-unmodified-{os.getpid()}"
    working_copy.mkdir(parents=True)
    [path] = site.chapters(["01-"])
    stored = nbformat.read(path, as_version=4)
    stored.metadata.language_info["version"] = "3.99.0"
    nbformat.write(editions.learner(stored), working_copy / "opened.ipynb")
    port, token = processes.free_port(), os.urandom(16).hex()
    server = subprocess.Popen(
        [sys.executable, "-m", "stack.course.lab", "--no-browser", "--ServerApp.ip=127.0.0.1"]
        + [f"--ServerApp.port={port}", f"--IdentityProvider.token={token}"],
        env={**os.environ, "STACK_LAB_DIR": str(working_copy)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        processes.wait_for_port(port, 60, server, "jupyter lab", log=tmp_path / "none")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=browser.chromium(), args=["--no-sandbox"])
            page = chromium.new_page()
            where = working_copy.relative_to(config.ROOT) / "opened.ipynb"
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{where}?reset&token={token}")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            time.sleep(3)  # the kernel's info and spec arrive, and JupyterLab writes them into the notebook
            tab = page.locator(".lm-TabBar-tab", has_text="opened.ipynb")
            classes = tab.get_attribute("class")
            chromium.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(working_copy, ignore_errors=True)
    assert "jp-mod-dirty" not in classes, classes
