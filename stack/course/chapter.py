"""What a chapter calls first: bring the stack to the state the chapter starts from.

Quiet on purpose: a chapter's stored output must not depend on whether this is the
first run (which migrates) or a rerun (which has nothing to do).
"""

from __future__ import annotations

import contextlib
import io

from .. import recipes
from ..recipes import migrate
from ..services import lifecycle


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
    # No port or path in the line: a chapter's stored output must not depend on the machine.
    seeding = ", demo user seeded" if seeded else ""
    return f"stack ready: gateway healthy, migrations applied{seeding}, recipe '{recipe}'"
