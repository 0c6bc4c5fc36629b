"""JWTs with PyJWT, keyed like the stack: the base64-decoded JWT_SECRET."""

from __future__ import annotations

import time

import jwt

from . import config


def secret_key() -> bytes:
    """The bytes Caddy, PostgREST and PostgreSQL all sign and verify with."""
    return config.check_jwt_secret(config.settings().get("JWT_SECRET", ""))


def verify(token: str, key: bytes | None = None) -> dict:
    """Decode and check signature and exp, as the gateway does (HS256 only)."""
    return jwt.decode(token, key or secret_key(), algorithms=["HS256"])


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def make(
    claims: dict | None = None, key: bytes | None = None, algorithm: str = "HS256", lifetime: int = 600, **extra
) -> str:
    """A token like auth.generate_access_token's, with any claim overridden (None removes it)."""
    now = int(time.time())
    payload = {"role": "basic_subscriber", "username": "demo", "sub": "demo", "exp": now + lifetime}
    payload.update(claims or {})
    payload.update(extra)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key if key is not None else secret_key(), algorithm=algorithm)
