"""JWT authentication as PostgREST does it: Authorization: Bearer only, HS256, 30 s leeway.

A plain secret is one key marked HS256 (v14.1 `parseSecret`, src/PostgREST/Config.hs), so an HS384
or HS512 token finds no suitable key. The decode errors follow the jose library PostgREST uses: the
header is decoded first (a failure is "JWT cryptographic operation failed"), then a key is chosen by
the header's alg, then the signature is checked with it. jwt-secret may also be a JWK or a JWK set
of symmetric keys (v16.2 parseSecret): a header's `kid` picks the keys of that kid, and without one
each key is tried in turn.

PyJWT checks the signature; the claim checks below follow PostgREST's order (exp, nbf, iat, aud)
and messages, which PyJWT's own checks would not reproduce.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

import jwt

from . import errors
from .jspath import walk
from .settings import JwtKey, Settings

LEEWAY = 30
HMAC = ("HS256", "HS384", "HS512")  # the algorithms a symmetric key can verify
_OPTIONS = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


@dataclass(frozen=True)
class Auth:
    role: str
    claims: dict
    authenticated: bool  # the effective role is not the anonymous role


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive), else None."""
    if authorization is None:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


def _number(claims: dict, name: str):
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.jwt_claims_error(f"The JWT '{name}' claim must be a number")
    return int(value)


def _check_claims(claims: dict, audience: str | None, now: int) -> None:
    exp = _number(claims, "exp")
    if exp is not None and now - LEEWAY > exp:
        raise errors.jwt_claims_error("JWT expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and now + LEEWAY < nbf:
        raise errors.jwt_claims_error("JWT not yet valid")
    iat = _number(claims, "iat")
    if iat is not None and now + LEEWAY < iat:
        raise errors.jwt_claims_error("JWT issued at future")
    if "aud" in claims and claims["aud"] is not None:
        aud = claims["aud"]
        if isinstance(aud, str):
            auds = [aud]
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            auds = aud
        else:
            raise errors.jwt_claims_error("The JWT 'aud' claim must be a string or an array of strings")
        if audience is not None and auds and audience not in auds:
            raise errors.jwt_claims_error("JWT not in audience")


def decode(token: str, settings: Settings, now: float | None = None) -> dict:
    """The verified claims of a token, or an ApiError exactly as PostgREST reports it."""
    if token == "":
        raise errors.jwt_decode_error("Empty JWT is sent in Authorization header")
    parts = token.count(".") + 1
    if parts != 3:
        raise errors.jwt_decode_error(f"Expected 3 parts in JWT; got {parts}")
    if settings.jwt_secret is None:
        raise errors.secret_missing()
    header = _header(token)
    algorithm = header.get("alg")
    if algorithm == "none":
        raise errors.jwt_decode_error(
            "Wrong or unsupported encoding algorithm", "JWT is unsecured but expected 'alg' was not 'none'"
        )
    payload = _verified_payload(token, header, settings)
    try:
        claims = json.loads(payload)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise errors.jwt_claims_error("Parsing claims failed")
    _check_claims(claims, settings.jwt_aud, int(time.time() if now is None else now))
    return claims


def _verified_payload(token: str, header: dict, settings: Settings) -> bytes:
    """The payload, verified with the keys of jwt-secret as jose-jwt picks them (v16.2 docs,
    references/auth.rst "kid verification"): with a `kid` in the header only the keys of that kid,
    without one every key; only keys for the header's algorithm; each tried until one verifies."""
    algorithm = header.get("alg")
    kid = header.get("kid")
    keys = settings.jwt_keys or (JwtKey(settings.jwt_secret, None, "HS256"),)
    suitable = [
        key
        for key in keys
        if (kid is None or key.kid == kid) and algorithm in HMAC and (key.alg is None or key.alg == algorithm)
    ]
    if not suitable:
        raise errors.jwt_decode_error(
            "No suitable key or wrong key type", "No suitable key was found to decode the JWT"
        )
    for key in suitable:
        try:
            return jwt.api_jws.decode(token, key.key, algorithms=[algorithm])
        except jwt.PyJWTError:  # wrong key, tampered token: try the next one
            continue
    raise errors.jwt_decode_error("No suitable key or wrong key type", "None of the keys was able to decode the JWT")


def _header(token: str) -> dict:
    """The token's decoded JOSE header, or "JWT cryptographic operation failed" (random characters)."""
    text = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        header = None
    if not isinstance(header, dict):
        raise errors.jwt_decode_error("JWT cryptographic operation failed")
    return header


def authenticate(authorization: str | None, settings: Settings) -> Auth:
    token = bearer_token(authorization)
    claims = {} if token is None else decode(token, settings)
    role = walk(claims, settings.jwt_role_claim_key) if claims else None
    if role is None:
        role = settings.db_anon_role
        if role is None:
            raise errors.anonymous_disabled()
    return Auth(role=role, claims={**claims, "role": role}, authenticated=role != settings.db_anon_role)
