"""`make test-compose`: the whole suite with STACK_MODE=compose, on a Docker engine, then cleaned up.

The engine that answers, or the private one `make engine` starts (with the look-alike images,
stack.harness.images); then `make test` with STACK_MODE=compose (every chapter under strict nbval,
then tests/ as far as they apply in that mode); then everything it started is stopped and removed:
the Compose project's containers, network and volume, and the private dockerd if this run started
it. The look-alike images stay in the engine's data root, as a cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter

from .. import config
from ..errors import StackError
from ..services import engine
from ..services.processes import say
from . import images

REPORT = config.BUILD_DIR / "test-compose.xml"
LOG = config.BUILD_DIR / "test-compose.log"


def make(*args: str, env: dict[str, str], log=None) -> int:
    """make with its output shown as it comes (and kept in the log)."""
    process = subprocess.Popen(
        ["make", "--no-print-directory", *args], cwd=config.ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    for line in process.stdout:
        sys.stdout.write(line)
        if log:
            log.write(line)
    return process.wait()


def summary(report_path=REPORT) -> dict:
    """What ran, from pytest's JUnit report: chapters and tests, by outcome."""
    counts: dict[str, Counter] = {"chapters": Counter(), "tests": Counter()}
    files: dict[str, set] = {"chapters": set(), "tests": set()}
    for case in ElementTree.parse(report_path).getroot().iter("testcase"):
        name = case.get("file") or case.get("classname", "")
        kind = "chapters" if ".ipynb" in name or "notebooks" in name else "tests"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        counts[kind][outcome] += 1
        files[kind].add(name.split("::")[0].split(".ipynb")[0])
    return {"counts": counts, "files": files}


def left_out(log_text: str) -> list[str]:
    """conftest.py's one line per reason a chapter or test was left out."""
    return [line.strip() for line in log_text.splitlines() if line.startswith("skipped ") and "items)" in line]


def main() -> int:
    started = time.monotonic()
    had_private = engine.private_pid() is not None
    try:
        env = engine.ensure()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    env = {**env, "STACK_MODE": "compose", "PYTEST_ADDOPTS": f"--junitxml={REPORT}"}
    config.BUILD_DIR.mkdir(exist_ok=True)
    code = 1
    try:
        if engine.is_private(env):
            say(f"look-alike images: {', '.join(images.ensure_all(env))}")
        # The Compose stack publishes the same ports as this clone's native stack: stop that first.
        make("down", env={**env, "STACK_MODE": "native"})
        REPORT.unlink(missing_ok=True)
        with open(LOG, "w") as log:
            code = make("test", env=env, log=log)
    finally:
        say("removing the Compose project's containers, network and volume")
        subprocess.run(
            [*compose_command(), "down", "--volumes", "--remove-orphans"], env=env, capture_output=True, check=False
        )
        if engine.is_private(env) and not had_private:
            engine.stop()
    seconds = time.monotonic() - started
    print_summary(code, seconds)
    return code


def compose_command() -> list[str]:
    from ..services import compose

    return compose.compose_command()


def print_summary(code: int, seconds: float) -> None:
    if not REPORT.exists():
        print(f"test-compose: no test ran (make test exited {code}) in {seconds / 60:.1f} min; see {LOG}")
        return
    found = summary()
    chapters, tests = found["counts"]["chapters"], found["counts"]["tests"]
    print(
        f"test-compose: {len(found['files']['chapters'])} chapters ({chapters['passed']} cells passed, "
        f"{chapters['failed']} failed), {sum(tests.values())} tests ({tests['passed']} passed, {tests['failed']} failed, "
        f"{tests['skipped']} skipped) in compose mode, {seconds / 60:.1f} min"
    )
    for line in left_out(LOG.read_text(errors="replace")):
        print(f"test-compose: left out: {line.removeprefix('skipped ')}")


if __name__ == "__main__":
    os.environ.setdefault("STACK_MODE", "compose")
    sys.exit(main())
