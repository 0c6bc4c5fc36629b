"""Entry point: read PGRST_* settings, then serve; a bad configuration exits 1 like PostgREST."""

from __future__ import annotations

import os
import sys

from .settings import ConfigError, from_environment


def main() -> int:
    try:
        settings = from_environment(os.environ)
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    import uvicorn

    from .app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=settings.server_host, port=settings.server_port, log_level="warning",
                access_log=False, server_header=False, date_header=True, lifespan="on")
    return getattr(app.state, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
