"""The seed's first step: a random base64 secret in .env, never overwriting one."""

from __future__ import annotations

import base64
import secrets
import shutil

from dotenv import dotenv_values

from . import config
from .proc import say


def new_secret() -> str:
    """What `openssl rand -base64 32` prints: 32 random bytes, standard base64 with padding."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def mask(secret: str) -> str:
    return f"{secret[:4]}…{secret[-2:]} ({len(secret)} characters)" if len(secret) > 8 else "…"


def ensure_secret() -> str:
    """Create .env from example.env if needed and add JWT_SECRET if absent. Returns the secret."""
    if not config.ENV_FILE.exists():
        shutil.copy(config.EXAMPLE_ENV_FILE, config.ENV_FILE)
        config.ENV_FILE.chmod(0o600)  # it holds the JWT secret and passwords
        say(f"created {config.ENV_FILE.name} from {config.EXAMPLE_ENV_FILE.name}")
    existing = dotenv_values(config.ENV_FILE).get("JWT_SECRET")
    if existing:
        config.check_jwt_secret(existing)
        say(f"JWT_SECRET already in .env, kept: {mask(existing)}")
        return existing
    secret = new_secret()
    text = config.ENV_FILE.read_text()
    with config.ENV_FILE.open("a") as env_file:
        env_file.write(("" if text.endswith("\n") or not text else "\n") + f"JWT_SECRET={secret}\n")
    say(f"wrote a new JWT_SECRET to .env: {mask(secret)}")
    return secret
