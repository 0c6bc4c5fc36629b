"""Rotating the stack's one HS256 secret (chapter 19): every copy of it changes at once.

The secret lives in four places: .env's JWT_SECRET, which Caddy (`sign_key {env.JWT_SECRET}`) and
PostgREST (PGRST_JWT_SECRET) read when they start; the hardened recipe's signer, auth.private_settings;
and, while the page's recipe runs, pgrst.jwt_secret (ALTER SYSTEM). rotate() changes all of them and
restarts the stack (natively or with Compose) so that the gateway and PostgREST read the new one, then
brings the stack back to the recipe that was in force.
"""

from __future__ import annotations

import contextlib
import io
import re

from .. import config, db, recipes, secret
from ..services import lifecycle
from . import chapter


def current_secret() -> str:
    return config.read_env_file()["JWT_SECRET"]


def _write_env_secret(value: str) -> None:
    text = config.ENV_FILE.read_text()
    config.ENV_FILE.write_text(re.sub(r"^JWT_SECRET=.*$", f"JWT_SECRET={value}", text, flags=re.M))


def rotate(new: str) -> str:
    """Make ``new`` the secret everywhere and restart the stack with it; returns the previous secret."""
    config.check_jwt_secret(new)
    previous = current_secret()
    recipe = recipes.current()
    _write_env_secret(new)
    if db.query("select to_regclass('auth.private_settings') is not null")[0][0]:
        db.query("update auth.private_settings set jwt_secret = %s returning 1", (new,))
    if secret.in_database() is not None:
        secret.store_in_database(new)
    with contextlib.redirect_stdout(io.StringIO()):  # the restart's progress lines differ between runs
        lifecycle.down()
        chapter.ready(recipe=recipe)
    return previous
