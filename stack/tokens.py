"""JWTs with PyJWT, keyed like the stack: the base64-decoded JWT_SECRET."""

from __future__ import annotations

import time

import jwt

from . import config

# Who issues the hardened recipe's tokens and for whom (chapter 19): the same values as
# migrations/hardening/up.d/19-audience-and-keys.sql, the gateway's matchers in
# stack/caddy/Caddyfile.hardened and PGRST_JWT_AUD in stack/compose.yaml (tests/test_audience_and_keys.py).
ISSUER = "superstack-auth"
AUDIENCE = "superstack"
AUDIENCE_CLAIMS = {"iss": ISSUER, "aud": AUDIENCE}


def secret_key() -> bytes:
    """The bytes Caddy, PostgREST and PostgreSQL all sign and verify with."""
    return config.check_jwt_secret(config.settings().get("JWT_SECRET", ""))


def verify(token: str, key: bytes | None = None) -> dict:
    """Decode and check signature and exp, as the gateway does (HS256 only), and `aud` where the token
    has one (PyJWT would refuse any `aud` unless told which audience to expect)."""
    claims = jwt.decode(token, key or secret_key(), algorithms=["HS256"], options={"verify_aud": False})
    if "aud" in claims:
        jwt.decode(token, key or secret_key(), algorithms=["HS256"], audience=AUDIENCE)
    return claims


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def make(
    claims: dict | None = None, key: bytes | None = None, algorithm: str = "HS256", lifetime: int = 600, **extra
) -> str:
    """A token like the hardened recipe's auth.generate_access_token (iss and aud too), with any claim overridden
    (None removes it)."""
    now = int(time.time())
    payload = {"role": "basic_subscriber", "username": "demo", "sub": "demo", "exp": now + lifetime, **AUDIENCE_CLAIMS}
    payload.update(claims or {})
    payload.update(extra)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key if key is not None else secret_key(), algorithm=algorithm)
