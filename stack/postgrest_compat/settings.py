"""Settings from PGRST_* environment variables, named as PostgREST names them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from .jspath import JSPathError, parse_jspath


class ConfigError(Exception):
    """A configuration PostgREST would refuse at start-up (exit 1)."""


TRUE = {"true", "on", "yes", "1"}
FALSE = {"false", "off", "no", "0"}


@dataclass(frozen=True)
class JwtKey:
    key: bytes
    kid: str | None = None
    alg: str | None = None  # None: any HMAC algorithm


@dataclass(frozen=True)
class Settings:
    db_uri: str = "postgresql://"
    db_schemas: tuple[str, ...] = ("public",)
    db_anon_role: str | None = None
    db_extra_search_path: tuple[str, ...] = ("public",)
    db_pre_request: str | None = None
    db_config: bool = True  # read pgrst.* settings of the login role from the database
    db_pool: int = 10
    db_pool_acquisition_timeout: float = 10.0
    db_channel: str = "pgrst"
    db_channel_enabled: bool = True
    jwt_secret: bytes | None = None
    # jwt-secret as keys: a plain secret is one HS256 key without kid; a JWK is one key; a JWK set
    # ({"keys": [...]}) is each of its keys (v16.2 src/library/PostgREST/Config.hs parseSecret).
    jwt_keys: tuple[JwtKey, ...] = ()
    jwt_aud: str | None = None
    jwt_role_claim_key: tuple = (("key", "role"),)
    server_host: str = "0.0.0.0"
    server_port: int = 3000
    app_settings: dict[str, str] = field(default_factory=dict)
    client_error_verbosity: str = "verbose"
    db_tx_end: str = "commit"
    db_max_rows: int | None = None


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ConfigError(f"Invalid value for {name}: {value!r} (expected true or false)")


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"Invalid value for {name}: {value!r} (expected an integer)") from None


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _host(value: str) -> str:
    special = {"*": "0.0.0.0", "*4": "0.0.0.0", "!4": "0.0.0.0", "*6": "::", "!6": "::"}
    return special.get(value.strip(), value.strip())


def decode_secret(secret: str, is_base64: bool) -> bytes:
    if not is_base64:
        return secret.encode()
    text = secret.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("The JWT secret is not valid base64 (jwt-secret-is-base64 is true).") from None


def _jwk(value: object) -> JwtKey | None:
    """A symmetric JWK ({"kty": "oct", "k": base64url}) as a key; None for anything else."""
    if not isinstance(value, dict) or value.get("kty") != "oct" or not isinstance(value.get("k"), str):
        return None
    try:
        key = base64.urlsafe_b64decode(value["k"] + "=" * (-len(value["k"]) % 4))
    except (binascii.Error, ValueError):
        return None
    kid, alg = value.get("kid"), value.get("alg")
    return JwtKey(key, kid if isinstance(kid, str) else None, alg if isinstance(alg, str) else None)


def parse_keys(secret: bytes) -> tuple[JwtKey, ...]:
    """v16.2 parseSecret: a JWK set if it parses as one, else a JWK, else the bytes as one HS256 key
    (at least 32 of them). Only symmetric (oct) keys are supported here."""
    try:
        document = json.loads(secret)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        keys = tuple(key for key in map(_jwk, document["keys"]) if key is not None)
        if not keys:
            raise ConfigError("jwt-secret is a JWK set without a symmetric (oct) key this server supports")
        return keys
    single = _jwk(document)
    if single is not None:
        return (single,)
    if len(secret) < 32:
        raise ConfigError("The JWT secret must be at least 32 characters long.")
    return (JwtKey(secret, None, "HS256"),)


def from_environment(env: dict[str, str]) -> Settings:
    get = env.get
    schemas = _list(get("PGRST_DB_SCHEMAS") or get("PGRST_DB_SCHEMA") or "public")
    if not schemas:
        raise ConfigError("db-schemas must name at least one schema")
    secret = get("PGRST_JWT_SECRET")
    key = None
    keys: tuple[JwtKey, ...] = ()
    if secret:
        key = decode_secret(secret, _bool("PGRST_JWT_SECRET_IS_BASE64", get("PGRST_JWT_SECRET_IS_BASE64") or "false"))
        keys = parse_keys(key)
    try:
        claim_key = parse_jspath(get("PGRST_JWT_ROLE_CLAIM_KEY") or "$.role")
    except JSPathError as error:
        raise ConfigError(f"Invalid jwt-role-claim-key: {error}") from None
    app_settings = {}
    for name, value in env.items():
        if name.startswith("PGRST_APP_SETTINGS_") and len(name) > len("PGRST_APP_SETTINGS_"):
            app_settings["app.settings." + name[len("PGRST_APP_SETTINGS_") :].lower()] = value
    port = _int("PGRST_SERVER_PORT", get("PGRST_SERVER_PORT") or "3000")
    if not 0 <= port <= 65535:
        raise ConfigError(f"Invalid value for PGRST_SERVER_PORT: {port}")
    extra = get("PGRST_DB_EXTRA_SEARCH_PATH")
    verbosity = (get("PGRST_CLIENT_ERROR_VERBOSITY") or "verbose").strip().lower()
    if verbosity not in ("verbose", "minimal"):  # v16.2 test/io/test_cli.py test_invalid_client_error_verbosity
        raise ConfigError("Invalid client-error-verbosity. Check your configuration.")
    tx_end = (get("PGRST_DB_TX_END") or "commit").strip()
    if tx_end not in ("commit", "commit-allow-override", "rollback", "rollback-allow-override"):
        raise ConfigError("Invalid transaction termination. Check your configuration.")  # v16.2 Config.hs
    max_rows = get("PGRST_DB_MAX_ROWS")
    max_rows = _int("PGRST_DB_MAX_ROWS", max_rows) if max_rows and max_rows.strip() else None
    return Settings(
        db_uri=get("PGRST_DB_URI") or "postgresql://",
        db_schemas=schemas,
        db_anon_role=get("PGRST_DB_ANON_ROLE") or None,
        db_extra_search_path=("public",) if extra is None else _list(extra),
        db_pre_request=get("PGRST_DB_PRE_REQUEST") or None,
        db_config=_bool("PGRST_DB_CONFIG", get("PGRST_DB_CONFIG") or "true"),
        db_pool=_int("PGRST_DB_POOL", get("PGRST_DB_POOL") or "10"),
        db_pool_acquisition_timeout=float(
            _int("PGRST_DB_POOL_ACQUISITION_TIMEOUT", get("PGRST_DB_POOL_ACQUISITION_TIMEOUT") or "10")
        ),
        db_channel=get("PGRST_DB_CHANNEL") or "pgrst",
        db_channel_enabled=_bool("PGRST_DB_CHANNEL_ENABLED", get("PGRST_DB_CHANNEL_ENABLED") or "true"),
        jwt_secret=key,
        jwt_keys=keys,
        jwt_aud=get("PGRST_JWT_AUD") or None,
        jwt_role_claim_key=claim_key,
        server_host=_host(get("PGRST_SERVER_HOST") or "!4"),
        server_port=port,
        app_settings=app_settings,
        client_error_verbosity=verbosity,
        db_tx_end=tx_end,
        db_max_rows=max_rows,
    )


# Every setting of v16.2 (test/io/configs/expected/defaults.config), and which of them this server reads.
POSTGREST_SETTINGS = (
    "admin-server-host admin-server-port admin-server-unix-socket admin-server-unix-socket-mode "
    "client-error-verbosity db-aggregates-enabled db-anon-role db-channel db-channel-enabled db-config "
    "db-extra-search-path db-hoisted-tx-settings db-max-rows db-plan-enabled db-pool db-pool-acquisition-timeout "
    "db-pool-automatic-recovery db-pool-max-idletime db-pool-max-lifetime db-pre-config db-pre-request "
    "db-prepared-statements db-root-spec db-schemas db-schema db-tx-end db-uri jwt-aud jwt-cache-max-entries "
    "jwt-role-claim-key jwt-secret jwt-secret-is-base64 log-level log-query openapi-mode openapi-security-active "
    "openapi-server-proxy-uri server-cors-allowed-origins server-host server-port server-reuseport "
    "server-timing-enabled server-trace-header server-unix-socket server-unix-socket-mode url-use-legacy-target-names"
).split()
IMPLEMENTED = {
    "client-error-verbosity",
    "db-anon-role",
    "db-channel",
    "db-channel-enabled",
    "db-config",
    "db-extra-search-path",
    "db-max-rows",
    "db-pool",
    "db-pool-acquisition-timeout",
    "db-pre-request",
    "db-schemas",
    "db-schema",
    "db-tx-end",
    "db-uri",
    "jwt-aud",
    "jwt-role-claim-key",
    "jwt-secret",
    "jwt-secret-is-base64",
    "server-host",
    "server-port",
}


def not_implemented(env: dict[str, str]) -> list[str]:
    """The PostgREST settings given (as PGRST_* variables) that this server does not read: named at start,
    never silently ignored. A PGRST_* name that is no PostgREST setting is ignored, as PostgREST ignores it."""
    given = {name: "PGRST_" + name.upper().replace("-", "_") for name in POSTGREST_SETTINGS}
    return [f"{variable} ({name})" for name, variable in given.items() if name not in IMPLEMENTED and variable in env]
