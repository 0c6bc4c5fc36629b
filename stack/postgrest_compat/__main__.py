"""Entry point: read PGRST_* settings, then serve; a bad configuration exits 1 like PostgREST."""

from __future__ import annotations

import os
import sys

from .settings import ConfigError, from_environment


def check_database(uri: str) -> str | None:
    """PostgREST exits at once when the database refuses its credentials; an unreachable
    database is retried instead (requests get 503 until it answers)."""
    import psycopg

    try:
        psycopg.connect(uri, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        text = str(error)
        if "authentication failed" in text or "does not exist" in text or "no password supplied" in text:
            return f"Failed to connect to the database: {text.strip()}"
    except psycopg.ProgrammingError as error:  # an unparsable db-uri
        return f"Invalid db-uri: {error}"
    return None


def main() -> int:
    try:
        settings = from_environment(os.environ)
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    failure = check_database(settings.db_uri)
    if failure:
        print(failure, file=sys.stderr, flush=True)
        return 1
    import uvicorn

    from .app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=settings.server_host, port=settings.server_port, log_level="warning",
                access_log=False, server_header=False, date_header=True, lifespan="on")
    return getattr(app.state, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
