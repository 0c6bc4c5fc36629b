"""What a chapter calls first: bring the stack to the state the chapter starts from.

Quiet on purpose: a chapter's stored output must not depend on whether this is the
first run (which migrates) or a rerun (which has nothing to do).
"""

from __future__ import annotations

import contextlib
import io

import requests

from .. import http, recipes
from ..recipes import migrate
from ..services import lifecycle


def your_gateway() -> str:
    """The learner's own gateway: its port is .env's, which differs between copies of the course."""
    return f"your gateway: {http.gateway()}"


def ready(recipe: str = "page", seeded: bool = True) -> str:
    """Stack up, migrations applied, demo user seeded, the given recipe in force."""
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        lifecycle.up()
        migrate.migrate()
        if seeded:
            migrate.seed()
        lifecycle.serve_after_migrations()
        recipes.use(recipe)
    # The port is sanitized for nbval (notebooks/sanitize.cfg); the URL printed is checked to answer.
    assert requests.get(http.gateway("/rest/"), timeout=10).status_code == 200, http.gateway()
    print(your_gateway())
    seeding = ", demo user seeded" if seeded else ""
    return f"stack ready: gateway healthy, migrations applied{seeding}, recipe '{recipe}'"
