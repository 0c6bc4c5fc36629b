"""Conformance suite for the PostgREST-compatible server, modelled on PostgREST's test/io.

By default a session fixture (re)creates the fixture schema in the database `pgrst_conformance`
(fixtures.sql; conformance-only roles `pgrst_conf_*`), starts `python -m stack.postgrest_compat`
configured only by PGRST_* environment variables, waits until it answers, yields a requests
session, and stops it afterwards. The harness (database, environment, launch, stop) is
stack/harness/conformance.py, which the benchmark uses too.

Checking the suite against a real PostgREST (the release pinned in stack/compose.yaml):
  1. run the suite once (or `psql -d pgrst_conformance -f tests/postgrest_conformance/fixtures.sql`)
     so the database and roles exist;
  2. start the real binary with the variables printed by `python -m stack.harness.conformance`
     (same PGRST_* as used here), e.g. `env $(python -m stack.harness.conformance 3100) postgrest`;
  3. `POSTGREST_URL=http://127.0.0.1:3100 POSTGREST_BIN=$(which postgrest) pytest tests/postgrest_conformance`.
With POSTGREST_URL set nothing is started; the start-up-failure tests launch POSTGREST_BIN when
given (else they are skipped).
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from stack.config import BUILD_DIR
from stack.harness.conformance import launch, prepare_database, server_env, stop
from stack.services.processes import free_port

# The server logs every request: the session server writes there, not to a pipe nobody reads (a full pipe stalls it).
LOG_FILE = BUILD_DIR / "postgrest-conformance.log"


class Session(requests.Session):
    def __init__(self, base: str):
        super().__init__()
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, self.base + url, *args, **kwargs)


@pytest.fixture(scope="session")
def database() -> str:
    return prepare_database()


@pytest.fixture(scope="session")
def server(database):
    """(session, process or None): the server under test, answering on its base URL."""
    url = os.environ.get("POSTGREST_URL")
    process = None
    if not url:
        port = free_port()
        process = launch(server_env(port), LOG_FILE)
        url = f"http://127.0.0.1:{port}"
    try:  # stopped even when it never answers
        session = Session(url)
        deadline = time.monotonic() + 15
        while True:
            try:
                if session.get("/").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process and process.poll() is not None:
                raise RuntimeError(f"server exited ({LOG_FILE}): {LOG_FILE.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer within 15 s (its log: {LOG_FILE})")
            time.sleep(0.1)
        yield session, process
    finally:
        if process:
            stop(process)


@pytest.fixture
def s(server) -> Session:
    return server[0]
