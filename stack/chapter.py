"""What a chapter calls first: bring the stack to the state the chapter starts from.

Quiet on purpose: a chapter's stored output must not depend on whether this is the
first run (which migrates) or a rerun (which has nothing to do).
"""

from __future__ import annotations

import contextlib
import io

from . import config, migrate, recipes, services


def ready(recipe: str = "page", seeded: bool = True) -> str:
    """Stack up, migrations applied, demo user seeded, the given recipe in force."""
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        services.up()
        migrate.migrate()
        if seeded:
            migrate.seed()
        recipes.use(recipe)
    return f"stack ready: gateway on port {config.ports().gateway}, recipe '{recipe}'"
