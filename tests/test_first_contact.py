"""A learner's first contact (issue 17, item 5): each finding of the walk-through, reproduced.

- `make lab` says where the solutions are wherever its output goes (a pipe, not only a terminal);
- a notebook opens unmodified in JupyterLab: its metadata is what JupyterLab writes once the kernel
  starts (the server's kernelspec, the kernel's `language_info`), else JupyterLab marks it unsaved;
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
from jupyter_client.manager import start_new_kernel

from stack import config
from stack.course import editions, site


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
        # JupyterLab replaces a kernelspec that differs (e.g. "Python 3" for "Python 3 (ipykernel)")
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
