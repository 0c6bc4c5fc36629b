"""A PostgREST-compatible server for machines without a PostgREST binary.

It follows the PostgREST release pinned in stack/compose.yaml (v16.2) for everything the
course touches, and is configured only by PGRST_* environment variables:
``python -m stack.postgrest_compat``.
"""

from .. import config

__version__ = "1.0.0"
FOLLOWS = config.pins()["POSTGREST_VERSION"].removeprefix("v")  # the release compose.yaml pins
