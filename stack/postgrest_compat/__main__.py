"""Entry point: read PGRST_* settings, then serve; a bad configuration exits 1 like PostgREST.

A database that cannot be reached does not stop the server: it answers 503 and retries until it
can connect (see Server.recover in app.py). A database that refuses the login role stops it with
exit 1, as it stops PostgREST.
"""

from __future__ import annotations

import os
import sys

from .jspath import deprecation_warning, is_deprecated
from .settings import ConfigError, from_environment, not_implemented


def check_uri(uri: str) -> str | None:
    """An unparsable db-uri is a configuration error (exit 1); reachability is checked later, with retries."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(uri)
    except Exception as error:  # psycopg raises ProgrammingError; anything else is as fatal
        return f"Invalid db-uri: {error}"
    return None


def main() -> int:
    try:
        settings = from_environment(os.environ)
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    failure = check_uri(settings.db_uri)
    if failure:
        print(failure, file=sys.stderr, flush=True)
        return 1
    for line in start_warnings(settings, os.environ):
        print(line, flush=True)
    import uvicorn

    from .app import create_app

    app = create_app(settings)
    # loop and http stay "auto": uvloop and httptools (requirements.txt) when installed
    try:
        run(uvicorn, app, settings)
    except SystemExit:  # uvicorn's own exit when start-up fails; PostgREST's code is 1
        return 1
    return 0


def start_warnings(settings, env) -> list[str]:
    """What this server logs before it serves: the deprecated role claim key syntax (as v16.2 logs it),
    then each PostgREST setting given that this server does not implement."""
    lines = deprecation_warning(settings.jwt_role_claim_key) if is_deprecated(settings.jwt_role_claim_key) else []
    ignored = not_implemented(env)
    if ignored:
        lines.append(
            "WARNING: this PostgREST-compatible server does not implement "
            + ", ".join(ignored)
            + ": ignored. Unset it, or run PostgREST itself (POSTGREST_BIN in .env)."
        )
    return lines


def run(uvicorn, app, settings) -> None:
    uvicorn.run(
        app,
        host=settings.server_host,
        port=settings.server_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # PostgREST reads no X-Forwarded-* header either
        date_header=True,
        lifespan="on",
    )


if __name__ == "__main__":
    sys.exit(main())
