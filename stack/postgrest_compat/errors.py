"""PostgREST's error responses: the JSON shape, codes, messages and SQLSTATE -> HTTP status."""

from __future__ import annotations

import json

JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error PostgREST answers with {code, message, details, hint}."""

    def __init__(self, status: int, code: str, message: str, details=None, hint=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.hint = details, hint
        self.headers = list(headers or [])

    def body(self, verbose: bool = True) -> bytes:
        """client-error-verbosity=minimal leaves out details and hint (v16.2 Error.hs errorPayload)."""
        fields = {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}
        if not verbose:
            fields = {"code": self.code, "message": self.message}
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


# ---- JWT (PGRST3xx) ---------------------------------------------------------------------------


def _invalid_token(message: str) -> list[tuple[str, str]]:
    return [("WWW-Authenticate", f'Bearer error="invalid_token", error_description={json.dumps(message)}')]


def jwt_decode_error(message: str, details=None) -> ApiError:
    return ApiError(401, "PGRST301", message, details, headers=_invalid_token(message))


def jwt_claims_error(message: str) -> ApiError:
    return ApiError(401, "PGRST303", message, headers=_invalid_token(message))


def anonymous_disabled() -> ApiError:
    return ApiError(401, "PGRST302", "Anonymous access is disabled", headers=[("WWW-Authenticate", "Bearer")])


def secret_missing() -> ApiError:
    return ApiError(500, "PGRST300", "Server lacks JWT secret")


# ---- connection (PGRST0xx) --------------------------------------------------------------------


def connection_error(details: str | None) -> ApiError:
    return ApiError(503, "PGRST000", "Database connection error. Retrying the connection.", details)


def max_affected(count: int) -> ApiError:
    """Prefer: handling=strict, max-affected=N and more rows (v16.2 Error.hs MaxAffectedViolationError)."""
    return ApiError(
        400, "PGRST124", "Query result exceeds max-affected preference constraint", f"The query affects {count} rows"
    )


def client_error(details: str | None) -> ApiError:
    return ApiError(503, "PGRST001", "Database client error. Retrying the connection.", details)


def no_schema_cache() -> ApiError:
    return ApiError(503, "PGRST002", "Could not query the database for the schema cache. Retrying.")


def acquisition_timeout() -> ApiError:
    return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.")


# ---- request (PGRST1xx) -----------------------------------------------------------------------


def query_param_error(message: str, details: str) -> ApiError:
    return ApiError(400, "PGRST100", message, details)


def invalid_rpc_method(method: str) -> ApiError:
    return ApiError(405, "PGRST101", f"Cannot use the {method} method on RPC")


def invalid_body(message: str) -> ApiError:
    return ApiError(400, "PGRST102", message)


def unacceptable_schema(schema: str, schemas) -> ApiError:
    return ApiError(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        hint="Only the following schemas are exposed: " + ", ".join(schemas),
    )


def media_type_error(types: list[str]) -> ApiError:
    return ApiError(406, "PGRST107", "None of these media types are available: " + ", ".join(types))


def body_too_large(limit: int) -> ApiError:
    """PostgREST sets no limit of its own (a proxy in front does); this server must, since one
    huge body would hold its only event loop. Code PGRSTX.. marks the compatible server's own."""
    return ApiError(
        413,
        "PGRSTX13",
        "Request body too large",
        f"The compatible server reads at most {limit} bytes",
        "Send a smaller body, or several requests",
    )


def nested_too_deep(what: str) -> ApiError:
    """JSON or a logic tree nested deeper than this server follows: a 400, never a 500."""
    code = "PGRST100" if what == "logic tree" else "PGRST102"
    message = "Empty or invalid json" if code == "PGRST102" else "failed to parse logic tree"
    return ApiError(400, code, message, f"The {what} is nested too deeply", "Nest it less deeply")


def guc_headers_error() -> ApiError:
    return ApiError(
        500,
        "PGRST111",
        "response.headers guc must be a JSON array composed of objects with a single key and a string value",
    )


def guc_status_error() -> ApiError:
    return ApiError(500, "PGRST112", "response.status guc must be a valid status code")


def singularity_error(rows: int) -> ApiError:
    return ApiError(
        406, "PGRST116", "Cannot coerce the result to a single JSON object", f"The result contains {rows} rows"
    )


def unsupported_method(method: str) -> ApiError:
    return ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")


def invalid_resource_path() -> ApiError:
    return ApiError(404, "PGRST125", "Invalid path specified in request URL")


# ---- schema cache (PGRST2xx) ------------------------------------------------------------------


def no_rpc(schema: str, name: str, keys: list[str], is_post: bool, hint: str | None) -> ApiError:
    func = f"{schema}.{name}"
    listed = ", ".join(keys)
    message_params = f"({listed})" if keys else " without parameters"
    detail_params = f" with parameter{'s' if len(keys) > 1 else ''} {listed}" if keys else " without parameters"
    if is_post:
        detail_params += " or with a single unnamed json/jsonb parameter"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {func}{message_params} in the schema cache",
        f"Searched for the function {func}{detail_params}, but no matches were found in the schema cache.",
        hint,
    )


def ambiguous_rpc(functions) -> ApiError:
    described = ", ".join(
        f"{f.schema}.{f.name}(" + ", ".join(f"{p.name} => {p.type}" for p in f.params) + ")" for f in functions
    )
    return ApiError(
        300,
        "PGRST203",
        f"Could not choose the best candidate function between: {described}",
        hint="Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    )


def column_not_found(relation: str, column: str) -> ApiError:
    return ApiError(400, "PGRST204", f"Could not find the '{column}' column of '{relation}' in the schema cache")


def table_not_found(schema: str, name: str, hint: str | None) -> ApiError:
    return ApiError(404, "PGRST205", f"Could not find the table '{schema}.{name}' in the schema cache", hint=hint)


# ---- PostgreSQL errors ------------------------------------------------------------------------


def status_for_sqlstate(state: str, message: str, authenticated: bool) -> int:
    """PostgREST's mapping (Error.hs mapSQLtoHTTP) for the pinned release."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "P0001": 400,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
        "57P01": 503,
    }
    if state in exact:
        return exact[state]
    if state == "42501":
        return 403 if authenticated else 401
    if state == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if state == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if state == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if state.startswith("PT"):
        try:
            code = int(state[2:])
        except ValueError:
            return 500
        return code if 100 <= code <= 999 else 500
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(state[:2], 400)


def _unparsable_raise(details: str, hint: str) -> ApiError:
    return ApiError(500, "PGRST121", "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error", details, hint)


def _raise_pgrst(message: str, detail: str | None) -> ApiError:
    """RAISE SQLSTATE 'PGRST': full response control (code/message in MESSAGE, status/headers in DETAIL)."""
    try:
        body = json.loads(message)
        assert isinstance(body, dict) and "code" in body and "message" in body
    except (ValueError, AssertionError):
        return _unparsable_raise(
            f"Invalid JSON value for MESSAGE: '{message}'",
            "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: "
            "'details', 'hint'.",
        )
    hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."
    if detail is None:
        return _unparsable_raise("DETAIL is missing in the RAISE statement", hint)
    try:
        extra = json.loads(detail)
        assert isinstance(extra, dict) and "status" in extra and "headers" in extra
    except (ValueError, AssertionError):
        return _unparsable_raise(f"Invalid JSON value for DETAIL: '{detail}'", hint)
    return ApiError(
        int(extra["status"]),
        str(body["code"]),
        str(body["message"]),
        body.get("details"),
        body.get("hint"),
        [(str(k), str(v)) for k, v in dict(extra["headers"]).items()],
    )


def nul_in_text() -> ApiError:
    """What PostgreSQL answers to a text parameter holding a NUL byte, which PostgREST passes on as
    it does any 22xxx error. Values travel inside the query text here, which cannot hold one."""
    return ApiError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')


def from_postgres(error, authenticated: bool) -> ApiError:
    """An ApiError for a psycopg error raised by the server."""
    diag = error.diag
    state = diag.sqlstate or "XX000"
    message = diag.message_primary or str(error)
    if state == "PGRST":
        return _raise_pgrst(message, diag.message_detail)
    status = status_for_sqlstate(state, message, authenticated)
    headers = [("WWW-Authenticate", "Bearer")] if status == 401 else []
    return ApiError(status, state, message, diag.message_detail, diag.message_hint, headers)
