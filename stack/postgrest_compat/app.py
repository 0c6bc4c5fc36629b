"""The ASGI application: routing, one transaction per request, responses as PostgREST sends them."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from http.cookies import SimpleCookie

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from . import FOLLOWS, auth, errors, openapi, query, ranges, schema, wire
from .settings import Settings

JSON_TYPE = "application/json; charset=utf-8"
OBJECT_TYPE = "application/vnd.pgrst.object+json; charset=utf-8"
OPENAPI_TYPE = "application/openapi+json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
VARY = "Accept, Prefer, Range"
# v16.2 MediaType.hs: these with ;nulls=stripped ask for the body through json_strip_nulls
ARRAY_STRIPPED = "application/vnd.pgrst.array+json;nulls=stripped"
OBJECT_STRIPPED = "application/vnd.pgrst.object+json;nulls=stripped"
STRIPPABLE = {
    "application/vnd.pgrst.array+json": ARRAY_STRIPPED,
    "application/vnd.pgrst.array": ARRAY_STRIPPED,
    "application/vnd.pgrst.object+json": OBJECT_STRIPPED,
    "application/vnd.pgrst.object": OBJECT_STRIPPED,
}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
BEGIN_RO = b"BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
BEGIN_RW = b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"


# C0 and C1 control characters, DEL, and Unicode's line and paragraph separators: a request path or a
# database message must not start a line of its own in the log, or colour a terminal (issue 22).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return {10: "\\n", 13: "\\r", 9: "\\t"}.get(code) or (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")


def log(line: str) -> None:
    sys.stdout.write(_CONTROL.sub(_escape, line) + "\n")
    sys.stdout.flush()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def negotiate(accept: str | None, offered: list[str]) -> str | None:
    """The first offered media type the Accept header allows (by q, then order), else None."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = []
    for position, item in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in item.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in STRIPPABLE and any(p.replace(" ", "").lower() == "nulls=stripped" for p in params):
            media = STRIPPABLE[media]
        if media:
            ranges.append((-q, position, media))
    for _, _, media in sorted(ranges):
        if media == "*/*":
            return offered[0]
        if media.endswith("/*"):
            for candidate in offered:
                if candidate.startswith(media[:-1]):
                    return candidate
        if media in offered:
            return media
        if media == "application/vnd.pgrst.object" and "application/vnd.pgrst.object+json" in offered:
            return "application/vnd.pgrst.object+json"
    return None


def _requested_types(accept: str) -> list[str]:
    return [item.split(";")[0].strip() for item in accept.split(",") if item.strip()]


def refused_login(error: BaseException) -> bool:
    """The database answered but refused the login role (wrong password, or the role does not exist)."""
    text = str(error)
    return "password authentication failed" in text or "no password supplied" in text


# v16.2's queryDbSettings (src/library/PostgREST/Config/Database.hs), without the pre-config function.
IN_DATABASE_SETTINGS = b"""
WITH role_setting AS (
  SELECT setdatabase AS database, unnest(setconfig) AS setting
  FROM pg_catalog.pg_db_role_setting
  WHERE setrole = quote_ident(CURRENT_USER)::regrole::oid
    AND setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = CURRENT_CATALOG))
), kv_settings AS (
  SELECT database, substr(setting, 1, strpos(setting, '=') - 1) AS k, substr(setting, strpos(setting, '=') + 1) AS v
  FROM role_setting
)
SELECT DISTINCT ON (key) replace(k, 'pgrst.', '') AS key, v AS value
FROM kv_settings
WHERE k = ANY(%s) AND v IS NOT NULL
ORDER BY key, database DESC NULLS LAST
"""


class Server:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.cache: schema.SchemaCache | None = None
        self.pool: AsyncConnectionPool | None = None
        self.down: str | None = None  # the connection error while PostgreSQL is unreachable
        self.recovering: asyncio.Task | None = None
        self.tasks: list[asyncio.Task] = []
        app_names = list(settings.app_settings)
        gucs = [
            "search_path",
            "role",
            "request.jwt.claims",
            "request.method",
            "request.path",
            "request.headers",
            "request.cookies",
            *app_names,
        ]
        self.settings_sql = sql.SQL(", ").join(
            sql.SQL("set_config({}, {}, true)").format(sql.Literal(name), sql.Placeholder()) for name in gucs
        )
        # Each role's own settings (`alter role anon set statement_timeout = ...`), applied in the
        # transaction before the role as PostgREST v16 does (Query/PreQuery.hs roleSettingsSql):
        # SET ROLE alone would not apply them. Read with the schema cache (load_role_settings).
        self.role_settings: dict[str, list[tuple[str, str]]] = {}
        self.app_values = [settings.app_settings[name] for name in app_names]
        self.pre_request = None
        self.prefix: dict[tuple[bool, str], bytes] = {}  # BEGIN; set_config(...); pre-request; as bytes
        self.rollback_all = settings.db_tx_end.startswith("rollback")
        self.allow_tx = settings.db_tx_end.endswith("allow-override")
        self.use_pre_request(settings.db_pre_request)

    def use_pre_request(self, name: str | None) -> None:
        """The schema-qualified function called after the request's settings are set (db-pre-request)."""
        self.pre_request = None
        if name:
            parts = name.split(".", 1)
            self.pre_request = sql.SQL("SELECT {}()").format(sql.Identifier(*parts))
        self.main_index = 3 if self.pre_request is not None else 2  # which result is the main query's
        self.prefix = {}

    # ---- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Like PostgREST: one connection attempt before serving; if it fails, serve 503 and retry."""
        if self.settings.db_channel_enabled:
            self.tasks.append(asyncio.create_task(self.listen()))
        log("Attempting to connect to the database...")
        try:
            await self.connect()
        except (psycopg.Error, OSError) as error:
            if refused_login(error):
                # PostgREST exits 1 on a refused login at start-up: no retry can fix a wrong password.
                log(errors.connection_error(str(error).strip()).body().decode())
                raise
            self.mark_down(str(error).strip())

    async def shutdown(self) -> None:
        for task in [*self.tasks, self.recovering]:
            if task:
                task.cancel()
        if self.pool:
            await self.pool.close(timeout=2)

    async def connect(self) -> None:
        """Read the in-database configuration and load the schema cache, then open the pool (first
        time) or check its connections."""
        await self.reload_config()
        await self.reload()
        if self.pool is None:
            self.pool = AsyncConnectionPool(
                self.settings.db_uri,
                min_size=min(4, self.settings.db_pool),
                max_size=self.settings.db_pool,
                open=False,
                kwargs={"autocommit": True, "application_name": "postgrest"},
                timeout=self.settings.db_pool_acquisition_timeout,
                reconnect_timeout=3600,
            )
            await self.pool.open(wait=False)
        else:
            await self.pool.check()
        self.down = None

    async def reload(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.settings.db_uri, autocommit=True, application_name="postgrest", connect_timeout=5
        ) as conn:
            cache = await schema.load(conn, self.settings.db_schemas)
            await self.load_role_settings(conn)
            if self.cache is None:
                log(f"Successfully connected to PostgreSQL {conn.info.parameter_status('server_version')}")
            self.cache = cache
        log(
            f"Schema cache loaded ({len(self.cache.tables)} relations, "
            f"{sum(len(v) for v in self.cache.functions.values())} functions)"
        )

    async def reload_config(self) -> None:
        """In-database configuration (db-config, on by default), as v16.2's
        src/library/PostgREST/Config/Database.hs queryDbSettings: the login role's `pgrst.*`
        settings, a database-specific one (ALTER ROLE .. IN DATABASE) before a global one; and, as
        Config.hs overrideFromDbOrEnvironment, a setting in the database wins over the environment.
        Only db_pre_request is read here (the one setting this server takes from the database)."""
        if not self.settings.db_config:
            return
        async with await psycopg.AsyncConnection.connect(
            self.settings.db_uri, autocommit=True, application_name="postgrest", connect_timeout=5
        ) as conn:
            rows = await (await conn.execute(IN_DATABASE_SETTINGS, (["pgrst.db_pre_request"],))).fetchall()
        found = dict(rows)
        self.use_pre_request(found.get("db_pre_request") or self.settings.db_pre_request)

    async def load_role_settings(self, conn) -> None:
        """The settings of every role the login role may become, as v16.2's queryRoleSettings reads
        them (Config/Database.hs): user-context parameters, or ones the login role may set."""
        rows = await (
            await conn.execute(
                "with role_setting as (select r.rolname, unnest(r.rolconfig) as setting from pg_auth_members m "
                "join pg_roles r on r.oid = m.roleid where member = quote_ident(current_user)::regrole::oid), "
                "kv as (select rolname, substr(setting, 1, strpos(setting, '=') - 1) as key, "
                "substr(setting, strpos(setting, '=') + 1) as value from role_setting) "
                "select kv.rolname, kv.key, kv.value from kv join pg_settings ps on ps.name = kv.key "
                "and (ps.context = 'user' or has_parameter_privilege(quote_ident(current_user)::regrole::oid, ps.name, 'set')) "
                "where kv.key <> 'default_transaction_isolation' order by 1, 2"
            )
        ).fetchall()
        found: dict[str, list[tuple[str, str]]] = {}
        for role, key, value in rows:
            found.setdefault(role, []).append((key, value))
        self.role_settings, self.prefix = found, {}

    def mark_down(self, detail: str) -> None:
        self.down = detail
        if self.recovering is None or self.recovering.done():
            self.recovering = asyncio.create_task(self.recover())

    async def recover(self) -> None:
        """Retry with exponential backoff, logging as PostgREST does.

        PostgREST caps the delay at 32 s; 4 s here so a database coming back is picked up within seconds."""
        delay = 1
        while True:
            log(errors.connection_error(self.down).body().decode())
            log(f"Attempting to reconnect to the database in {delay} seconds...")
            await asyncio.sleep(delay)
            try:
                await self.connect()
                log("Connection to PostgreSQL restored")
                return
            except (psycopg.Error, OSError) as error:
                self.down = str(error).strip()
                delay = min(delay * 2, 4)

    async def listen(self) -> None:
        """LISTEN on db-channel; 'reload schema' (or an empty payload) reloads the schema cache."""
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.settings.db_uri, autocommit=True, application_name="postgrest listener"
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.settings.db_channel)))
                    if not first:
                        await self.reload()
                    first = False
                    async for notice in conn.notifies():
                        if notice.payload in ("", "reload schema", "reload config"):
                            try:
                                await self.reload()
                            except psycopg.Error as error:
                                log(f"Failed to reload the schema cache: {error}")
                        if notice.payload == "reload config":  # role settings above, pgrst.* settings here
                            try:
                                await self.reload_config()
                                log("Config reloaded")
                            except psycopg.Error as error:
                                log(f"Failed to reload the config: {error}")
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError):
                first = False
                await asyncio.sleep(1)

    # ---- one transaction ----------------------------------------------------------------------

    def _gucs(self, request: Request, who: auth.Auth, schema_name: str) -> list:
        search_path = ", ".join(_quote_ident(s) for s in (schema_name, *self.settings.db_extra_search_path))
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            if key != "cookie":
                headers[key] = value if key not in headers else headers[key] + "," + value
        cookies = {}
        if "cookie" in request.headers:
            jar = SimpleCookie()
            try:
                jar.load(request.headers["cookie"])
            except Exception:  # an unparsable Cookie header gives no cookies
                pass
            cookies = {name: morsel.value for name, morsel in jar.items()}
        return [
            search_path,
            who.role,
            json.dumps(who.claims, separators=(",", ":")),
            request.method,
            request.scope["path"],
            json.dumps(headers, separators=(",", ":")),
            json.dumps(cookies, separators=(",", ":")),
            *self.app_values,
        ]

    async def execute(
        self,
        request: Request,
        who: auth.Auth,
        schema_name: str,
        readonly: bool,
        main,
        values: list,
        singular: bool = False,
        max_affected: int | None = None,
        timezone: str | None = None,
        tx: str | None = None,
    ):
        """One transaction: BEGIN; set_config(...); pre-request; main query; COMMIT.

        Sent as one multi-statement simple query, values quoted by libpq (`wire`): one round trip,
        COMMIT included; two for a singular request (COMMIT or ROLLBACK once the row count is checked).
        Python-side cost, not PostgreSQL, bounds this server, and one query is far cheaper than a
        pipeline of five. Returns (count, body, response.headers entries, response.status, total,
        inserted); `main` may end with an EXPLAIN (Prefer: count=planned), whose estimate is the total."""
        if self.down is not None:
            raise errors.connection_error(self.down)
        params = [*self._gucs(request, who, schema_name), *([] if timezone is None else [timezone]), *values]
        if any(isinstance(value, str) and "\x00" in value for value in params):
            # A NUL cannot travel inside a query text (libpq stops at it): answer as PostgreSQL does.
            raise errors.nul_in_text()
        try:
            async with self.pool.connection() as conn:
                # Only a singular request rolls back on a wrong row count; it needs a second trip.
                committing = readonly or not (singular or max_affected is not None)
                # db-tx-end and Prefer: tx (v16.2 Query.hs): ROLLBACK instead of COMMIT, the answer unchanged
                end = b"ROLLBACK" if (tx == "rollback" if tx else self.rollback_all) else b"COMMIT"
                statements = self._statements(conn, readonly, committing, main, timezone is not None, end, who.role)
                # Read with the statements (a config reload may change the pre-request meanwhile).
                main_index = self.main_index + (
                    0 if timezone is None else 1
                )  # Prefer: timezone is a statement of its own
                try:
                    results = await until_client_gone(
                        request, conn, wire.run(conn, wire.bind(conn, statements, params))
                    )
                    count, body, guc_headers, guc_status, total, inserted = wire.first_row(conn, results[main_index])
                    if len(results) > main_index + 1 and results[main_index + 1].nfields == 1:
                        plan = json.loads(results[main_index + 1].get_value(0, 0))
                        total = int(plan[0]["Plan"]["Plan Rows"])
                except psycopg.Error as error:
                    if not (conn.broken or error.sqlstate is None):
                        await conn.execute(b"ROLLBACK", prepare=False)
                    raise self._query_failed(error, conn, who) from None
                if not committing:
                    if singular and count != 1:
                        await conn.execute(b"ROLLBACK", prepare=False)
                        raise errors.singularity_error(count)
                    if max_affected is not None and count > max_affected:  # Prefer: handling=strict, max-affected
                        await conn.execute(b"ROLLBACK", prepare=False)
                        raise errors.max_affected(count)
                    try:
                        await conn.execute(end, prepare=False)
                    except psycopg.Error as error:
                        raise self._query_failed(error, conn, who) from None
                elif singular and count != 1:
                    raise errors.singularity_error(count)
                elif max_affected is not None and count > max_affected:
                    raise errors.max_affected(count)
                # Decoded after COMMIT, as PostgREST does (Response.hs): a bad value is a 500, the
                # transaction stays committed.
                extra_headers = parse_guc_headers(guc_headers)
                status = parse_guc_status(guc_status)
                return count, body, extra_headers, status, total, inserted
        except PoolTimeout:
            if self.down is not None:
                raise errors.connection_error(self.down) from None
            raise errors.acquisition_timeout() from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:  # e.g. the ROLLBACK after a lost connection
            self.mark_down(str(error).strip())
            raise errors.connection_error(str(error).strip()) from None

    def _query_failed(self, error: psycopg.Error, conn, who: auth.Auth) -> errors.ApiError:
        """A statement failed. A connection lost mid-query (no SQLSTATE: the server closed it, as
        on a restart) is PostgREST's 503 PGRST001 "Database client error", never a 500."""
        if conn.broken or error.sqlstate is None:
            self.mark_down(str(error).strip())
        if error.sqlstate is None:
            return errors.client_error(str(error).strip())
        return errors.from_postgres(error, who.authenticated)

    def _statements(
        self,
        conn,
        readonly: bool,
        committing: bool,
        main,
        timezone: bool = False,
        end: bytes = b"COMMIT",
        role: str = "",
    ) -> bytes:
        """BEGIN; set_config(...); [pre-request;] main[; COMMIT] as one query text (%s placeholders)."""
        prefix = self.prefix.get((readonly, role))
        if prefix is None:
            pre = [query.render(self.pre_request, conn)] if self.pre_request is not None else []
            own = [
                sql.SQL("set_config({}, {}, true)").format(sql.Literal(key), sql.Literal(value))
                for key, value in self.role_settings.get(role, [])
            ]
            settings = query.render(sql.SQL("SELECT {}").format(sql.SQL(", ").join([*own, self.settings_sql])), conn)
            prefix = b"; ".join([BEGIN_RO if readonly else BEGIN_RW, settings, *pre, b""])
            self.prefix[(readonly, role)] = prefix
        text = main.as_bytes(conn) if isinstance(main, query.Text) else query.render(main, conn)
        zone = b"SELECT set_config('timezone', %s, true); " if timezone else b""
        return prefix + zone + text + (b"; " + end if committing else b"")


# How long a query may run before the server starts watching for its client to go.
WATCH_AFTER = 0.2


async def until_client_gone(request: Request, conn, running):
    """Await the query `running`; if the client disconnects first (Caddy closes the upstream
    connection when its own client goes), cancel the query in PostgreSQL so it stops at once
    instead of holding a connection and a CPU until it ends (issue 22). Its error, 57014, is then
    answered to nobody."""
    task = asyncio.ensure_future(running)
    done, _ = await asyncio.wait({task}, timeout=WATCH_AFTER)
    if done:
        return task.result()
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            await conn.cancel_safe()
        return await task
    finally:
        gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the ASGI server reports the client gone (the body has been read by now)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def parse_guc_headers(text: str | None) -> list[tuple[str, str]]:
    if text is None:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        raise errors.guc_headers_error() from None
    if not isinstance(value, list):
        raise errors.guc_headers_error()
    result = []
    for item in value:
        if not isinstance(item, dict) or len(item) != 1:
            raise errors.guc_headers_error()
        ((key, header_value),) = item.items()
        if not isinstance(header_value, str):
            raise errors.guc_headers_error()
        result.append((key, header_value))
    return result


def parse_guc_status(text: str | None) -> int | None:
    """Leading decimal digits, the rest ignored ("202 Accepted" is 202), as PostgREST's `decimal`.
    Unlike PostgREST, a value outside 100-999 is refused too: no HTTP status line can carry it."""
    if text is None:
        return None
    digits = re.match(r"[0-9]+", text)
    if digits is None or not 100 <= int(digits.group()) <= 999:
        raise errors.guc_status_error()
    return int(digits.group())


# ---- handlers -----------------------------------------------------------------------------------


def error_response(error: errors.ApiError, verbose: bool = True) -> Response:
    headers = {"Proxy-Status": f"PostgREST; error={error.code}"}
    response = Response(error.body(verbose), status_code=error.status, media_type=None, headers=headers)
    response.headers["Content-Type"] = JSON_TYPE
    for key, value in error.headers:
        response.headers.append(key, value)
    return response


def pick_schema(server: Server, request: Request) -> tuple[str, bool]:
    """(schema, whether to answer with Content-Profile) from Accept-Profile / Content-Profile."""
    schemas = server.settings.db_schemas
    header = "accept-profile" if request.method in READ_METHODS else "content-profile"
    wanted = request.headers.get(header)
    if wanted is None:
        return schemas[0], len(schemas) > 1
    if wanted not in schemas:
        raise errors.unacceptable_schema(wanted, schemas)
    return wanted, True


def prefer(request: Request) -> dict[str, str]:
    found = {}
    for header in request.headers.getlist("prefer"):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                found[key.strip().lower()] = value.strip()
    return found


def build_response(
    status: int,
    body: str | None,
    media: str | None,
    headers: list[tuple[str, str]],
    guc_headers: list[tuple[str, str]],
    guc_status: int | None,
    head: bool,
    empty_length: bool = False,
) -> Response:
    """empty_length: an empty body still says Content-Length: 0 (an insert's, v16.2 Response.hs)."""
    if (guc_status or status) in (204, 304):
        body, empty_length = None, False  # HTTP allows no body with these, so warp sends none (a function's null, say)
    response = Response(b"" if (body is None or head) else body.encode(), status_code=guc_status or status)
    if "content-length" in response.headers and body is None and not empty_length:
        del response.headers["content-length"]
    if body is not None and media:
        response.headers["Content-Type"] = media
    for key, value in headers:
        response.headers[key] = value
    replaced = {key.lower() for key, _ in guc_headers}
    for key in replaced:
        if key in response.headers:
            del response.headers[key]
    for key, value in guc_headers:
        response.headers.append(key, value)
    if head and body is not None:
        response.headers["content-length"] = str(len(body.encode()))
    return response


# Far above any body this course sends (Caddy refuses more than 1 MB before it gets here).
MAX_BODY_BYTES = 10_000_000
# Warp's default limit for the request line and headers together (settingsMaxTotalHeaderLength).
MAX_HEADER_BYTES = 50 * 1024


async def read_body(request: Request) -> bytes:
    """The body, refused as soon as it is known to be larger than MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise errors.body_too_large(MAX_BODY_BYTES)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.body_too_large(MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def header_bytes(scope) -> int:
    """The request line and headers' size, about as warp counts it."""
    size = len(scope.get("raw_path") or b"") + len(scope["query_string"]) + 16
    return size + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def utf8_body(raw: bytes, kind: str) -> str:
    """A text body as text; one that is not UTF-8 is an invalid body (400 PGRST102), never a 500."""
    try:
        return raw.decode()
    except UnicodeDecodeError as error:
        raise errors.invalid_body(f"The {kind} body is not UTF-8 (byte {error.start})") from None


def csv_rows(raw: bytes) -> list[dict]:
    """A text/csv body as rows (v14.1 InsertSpec "CSV"): the header names the columns, NULL is null."""
    import csv

    lines = list(csv.reader(utf8_body(raw, "CSV").splitlines()))
    if not lines:
        return []
    header, *rows = lines
    if any(len(row) != len(header) for row in rows):
        raise errors.invalid_body("All lines must have same number of fields")
    return [{k: None if v == "NULL" else v for k, v in zip(header, row, strict=True)} for row in rows]


async def read_json_body(request: Request) -> object:
    raw = await read_body(request)
    ctype = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", "application/x-www-form-urlencoded", "text/csv"):
        raise errors.ApiError(415, "PGRST107", f"None of these media types are available: {ctype}")
    if ctype == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        return dict(parse_qsl(utf8_body(raw, "form")))
    if ctype == "text/csv":
        return csv_rows(raw)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.invalid_body("Empty or invalid json") from None
    except RecursionError:
        raise errors.nested_too_deep("JSON body") from None


async def handle_rpc(server: Server, request: Request, name: str, who: auth.Auth) -> Response:
    method = request.method
    if method not in ("GET", "HEAD", "POST", "OPTIONS"):
        raise errors.invalid_rpc_method(method)
    schema_name, show_profile = pick_schema(server, request)
    if method == "OPTIONS":
        return Response(b"", 200, headers={"Allow": "OPTIONS,GET,HEAD,POST"})
    candidates = server.cache.functions.get((schema_name, name), [])
    all_params = {p.name for f in candidates for p in f.params if p.name}
    params = query.parse_query(request.query_params.multi_items(), rpc_params=all_params)
    if method == "POST":
        payload = await read_json_body(request)
        if isinstance(payload, list):
            payload = payload[0] if payload else {}
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise errors.invalid_body("Empty or invalid json")
        arguments = payload
    else:
        arguments = dict(params.arguments)
        for variadic in {p.name for f in candidates for p in f.params if p.variadic and p.name in arguments}:
            arguments[variadic] = request.query_params.getlist(variadic)  # v=hi&v=there is VARIADIC v
    keys = set(arguments)
    matches = [
        f for f in candidates if keys <= {p.name for p in f.params} and {p.name for p in f.params if p.required} <= keys
    ]
    whole_body = None
    if not matches and method == "POST":
        unnamed = [f for f in candidates if f.single_unnamed]
        if len(unnamed) == 1:  # the body is the argument of a function's one unnamed json parameter
            matches, whole_body = unnamed, json.dumps(payload)
    if not matches:
        if candidates:
            names = ["(" + ", ".join(sorted(p.name for p in f.params)) + ")" for f in candidates]
            found = schema.fuzzy_one(names, "(" + ", ".join(sorted(keys)) + ")", 0.33)
            hint = f"Perhaps you meant to call the function {schema_name}.{name}{found}" if found else None
        else:
            found = schema.fuzzy_one(server.cache.function_names(schema_name), name, 0.75)
            hint = f"Perhaps you meant to call the function {schema_name}.{found}" if found else None
        raise errors.no_rpc(schema_name, name, sorted(keys), method == "POST", hint)
    if len(matches) > 1:
        raise errors.ambiguous_rpc(matches)
    function = matches[0]
    offered = ["application/json", "application/vnd.pgrst.object+json"]
    accept = request.headers.get("accept")
    media = negotiate(accept, offered)
    if media is None:
        raise errors.media_type_error(_requested_types(accept))
    singular = media == "application/vnd.pgrst.object+json"
    preferences = ranges.preferences(request.headers.getlist("prefer"), server.allow_tx)
    count_kind = {"exact": "exact", "estimated": "exact", "planned": "planned"}.get(preferences.get("count"))
    range_header = request.headers.get("range") if method == "GET" else None
    offset, limit = ranges.top_level(range_header, params.limit, params.offset)
    limit = query.cap(limit, server.settings.db_max_rows)
    params.offset, params.limit, params.max_rows = offset or None, limit, server.settings.db_max_rows
    values: list = []
    # A plain call (no select, filters, order, paging or count) has one query text per argument set:
    # built once per schema load, which saves about 60 µs of composing per request.
    plain = params == query.ReadParams(arguments=params.arguments) and not count_kind and whole_body is None
    key = (function.oid, tuple(sorted(arguments)), singular)
    if plain and key in server.cache.calls:
        main, kind = server.cache.calls[key]
        if arguments:
            values.append(json.dumps(arguments))
    else:
        composed, kind = query.call(function, arguments, params, singular, values, server.cache, count_kind, whole_body)
        main = query.Text(composed)
        if plain:
            server.cache.calls[key] = (main, kind)
    strict_limit = preferences.max_affected
    if strict_limit is not None and kind != "set":  # v16.2 Plan.hs failMaxAffectedRpcReturnsSingle
        raise errors.ApiError(
            400,
            "PGRST128",
            "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
        )
    readonly = method != "POST" or not function.volatile
    count, body, guc_headers, guc_status, total, _ = await server.execute(
        request,
        who,
        schema_name,
        readonly,
        main,
        values,
        singular=singular and kind == "set",
        max_affected=strict_limit,
        timezone=preferences.get("timezone"),
        tx=preferences.get("tx"),
    )
    headers = [("Content-Profile", schema_name)] if show_profile else []
    if kind == "void":
        return build_response(204, None, None, headers, guc_headers, guc_status, method == "HEAD")
    status = 200
    if kind == "set" and not singular:
        status = ranges.status(offset, count, total)
        if status == 416:
            raise ranges.out_of_bounds(offset, total)
    # Response.hs: every call that returns something has a Content-Range, a scalar's is 0-0/*
    headers.append(("Content-Range", ranges.content_range(offset, offset + count - 1, total)))
    headers += preferences.applied("count", "handling", "timezone", "max-affected")
    if body is None:
        body = "null"
    return build_response(
        status, body, OBJECT_TYPE if singular else JSON_TYPE, headers, guc_headers, guc_status, method == "HEAD"
    )


def _payload_rows(payload, table, params: query.ReadParams) -> tuple[list[dict], list[str]]:
    """The rows of a POST/PATCH/PUT body and the columns written: ?columns= when given (keys outside
    it ignored, missing ones NULL), else the keys, which must then be the same in every row."""
    rows = payload if isinstance(payload, list) else [payload]
    if payload is None or not all(isinstance(row, dict) for row in rows):
        raise errors.invalid_body("Empty or invalid json")
    if params.columns is not None:
        columns = params.columns
    else:
        columns = list(rows[0]) if rows else []
        if any(set(row) != set(columns) for row in rows):
            raise errors.invalid_body("All object keys must match")
    unknown = [c for c in columns if c not in table.column_names]
    if unknown:
        raise errors.column_not_found(table.name, unknown[0])
    return rows, columns


def _put_key(table, params: query.ReadParams) -> dict[str, str]:
    """PUT: no limit/offset (PGRST114), the filters exactly the primary key with eq (else PGRST105).
    Returns the key's values from the URL."""
    if params.limit is not None or params.offset is not None:
        raise errors.ApiError(400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT")
    keys = [c.name for c in table.columns if c.pk]
    filters = params.filters
    given = {f.column: f.value for f in filters if isinstance(f, query.Filter) and f.operator == "eq" and not f.negated}
    if not keys or len(filters) != len(keys) or set(given) != set(keys):
        raise errors.ApiError(
            405, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators"
        )
    return given


def _put_matches(given: dict[str, str], rows: list[dict]) -> list[str]:
    """The one payload row's key values are the URL's (else PGRST115); returns the key columns."""
    if len(rows) != 1 or any(str(rows[0].get(k)) != value for k, value in given.items()):
        raise errors.ApiError(400, "PGRST115", "Payload values do not match URL in primary key column(s)")
    return list(given)


async def handle_table(server: Server, request: Request, name: str, who: auth.Auth) -> Response:
    method = request.method
    if method not in ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"):
        raise errors.unsupported_method(method)
    schema_name, show_profile = pick_schema(server, request)
    table = server.cache.tables.get((schema_name, name))
    if table is None:
        found = schema.fuzzy_one(server.cache.table_names(schema_name), name, 0.75)
        raise errors.table_not_found(
            schema_name, name, f"Perhaps you meant the table '{schema_name}.{found}'" if found else None
        )
    if method == "OPTIONS":
        allow = "OPTIONS,GET,HEAD" + (",POST,PUT,PATCH,DELETE" if table.kind in ("r", "p", "v", "f") else "")
        return Response(b"", 200, headers={"Allow": allow})
    params = query.parse_query(request.query_params.multi_items())
    preferences = ranges.preferences(request.headers.getlist("prefer"), server.allow_tx)
    accept = request.headers.get("accept")
    offered = ["application/json", "application/vnd.pgrst.object+json", "text/csv", ARRAY_STRIPPED, OBJECT_STRIPPED]
    media = negotiate(accept, offered)
    if media is None:
        raise errors.media_type_error(_requested_types(accept))
    singular = media in ("application/vnd.pgrst.object+json", OBJECT_STRIPPED)
    returned = preferences.get("return")
    representation = returned == "representation"
    headers = [("Content-Profile", schema_name)] if show_profile else []
    values: list = []
    if media == "text/csv":
        body_sql, answer_type = query.BODY_CSV, CSV_TYPE
    elif media in (ARRAY_STRIPPED, OBJECT_STRIPPED):  # SqlFragment.hs addNullsToSnip: json_strip_nulls
        body_sql = query.BODY_SINGLE_STRIPPED if singular else query.BODY_ARRAY_STRIPPED
        answer_type = media + "; charset=utf-8"
    else:
        body_sql = query.BODY_SINGLE if singular else query.BODY_ARRAY
        answer_type = OBJECT_TYPE if singular else JSON_TYPE
    count_kind = preferences.get("count")
    if count_kind == "estimated":  # without db-max-rows, PostgREST's estimate is the exact count
        count_kind = "exact"
    if method in ("GET", "HEAD"):
        offset, limit = ranges.top_level(
            request.headers.get("range") if method == "GET" else None, params.limit, params.offset
        )
        limit = query.cap(limit, server.settings.db_max_rows)
        params.offset, params.limit, params.max_rows = offset or None, limit, server.settings.db_max_rows
        # A plain read (no query string, count or range) has one query text per table and media type,
        # built once per schema load, as plain calls are (see handle_rpc)
        plain = not request.url.query and count_kind is None and offset == 0 and limit is None
        key = ("read", table.schema, table.name, media)
        main = server.cache.calls.get(key) if plain else None
        if main is None:
            main = query.read(server.cache, table, params, body_sql, values, count_kind)
            if count_kind == "planned":
                main += sql.SQL("; EXPLAIN (FORMAT JSON) ") + query.counted(server.cache, table, params, values)
            main = query.Text(main)
            if plain:
                server.cache.calls[key] = main
        count, body, guc_headers, guc_status, total, _ = await server.execute(
            request,
            who,
            schema_name,
            True,
            main,
            values,
            singular=singular,
            timezone=preferences.get("timezone"),
            tx=preferences.get("tx"),
        )
        status = ranges.status(offset, count, total)
        if status == 416:
            raise ranges.out_of_bounds(offset, total)
        headers.append(("Content-Range", ranges.content_range(offset, offset + count - 1, total)))
        headers.append(("Content-Location", content_location(name, request.query_params.multi_items())))
        headers += preferences.applied("count", "handling", "timezone")
        return build_response(status, body, answer_type, headers, guc_headers, guc_status, method == "HEAD")
    put_key = _put_key(table, params) if method == "PUT" else None
    if method != "DELETE":
        payload = await read_json_body(request)
        rows, columns = _payload_rows(payload, table, params)
    wanted = representation or returned == "headers-only"
    body_sql = body_sql if wanted else query.BODY_NONE
    resolution = preferences.get("resolution")
    applied = ["return", "count", "handling", "timezone"]
    if method in ("POST", "PUT"):
        keys = [c.name for c in table.columns if c.pk]
        conflict = None
        if method == "PUT":
            conflict = (_put_matches(put_key, rows), "merge-duplicates")
        elif resolution and (keys or params.on_conflict):
            conflict = (params.on_conflict or keys, resolution)
            applied.append("resolution")
        missing_default = preferences.get("missing") == "default"
        applied.append("missing")
        main = query.insert(
            server.cache, table, columns, json.dumps(rows), wanted, params, body_sql, values, conflict, missing_default
        )
        status = 201
    elif method == "PATCH":
        if not columns:
            return build_response(204, None, None, headers, [], None, False)
        main = query.update(server.cache, table, columns, json.dumps(rows[0]), representation, params, body_sql, values)
        status = 200 if representation else 204
    else:
        main = query.delete(server.cache, table, representation, params, body_sql, values)
        status = 200 if representation else 204
    strict_limit = preferences.max_affected if method in ("PATCH", "DELETE") else None
    if method in ("PATCH", "DELETE"):
        applied.append("max-affected")
    count, body, guc_headers, guc_status, _, inserted = await server.execute(
        request,
        who,
        schema_name,
        False,
        main,
        values,
        singular=singular,
        max_affected=strict_limit,
        timezone=preferences.get("timezone"),
        tx=preferences.get("tx"),
    )
    if method == "PATCH":
        headers.append(("Content-Range", ranges.content_range(0, count - 1, count if count_kind else None)))
    elif method != "PUT":
        headers.append(("Content-Range", ranges.content_range(1, 0, count if count_kind else None)))
    if method == "PUT":
        status = (201 if inserted else 200) if representation else 204
    elif method == "POST" and resolution == "merge-duplicates" and inserted == 0 and conflict:
        status = 200
    if method == "POST" and returned == "headers-only" and body not in (None, "[]"):
        location = _location(table, body)
        if location:
            headers.append(("Location", f"/{name}{location}"))
    headers += preferences.applied(*applied)
    if representation:
        return build_response(status, body, answer_type, headers, guc_headers, guc_status, False)
    # v16.2 Response.hs (MutationCreate): an insert always sends Content-Length, 0 when the body is empty
    return build_response(status, None, None, headers, guc_headers, guc_status, False, method == "POST")


def content_location(name: str, items: list[tuple[str, str]]) -> str:
    """/table?the query string's parameters sorted by name (QueryParams.hs qsCanonical, urlEncodeVars)."""
    from urllib.parse import quote

    if not items:
        return f"/{name}"
    pairs = sorted(items, key=lambda item: item[0])
    return f"/{name}?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def _location(table, body: str) -> str | None:
    """?key=eq.value for the first inserted row, as Response.hs builds Location for return=headers-only."""
    from urllib.parse import urlencode

    keys = [c.name for c in table.columns if c.pk]
    rows = json.loads(body)
    row = rows[0] if isinstance(rows, list) else rows
    if not keys or not isinstance(row, dict):
        return None
    return "?" + urlencode([(k, f"eq.{'' if row.get(k) is None else row[k]}") for k in keys], safe=",.:()")


async def handle_root(server: Server, request: Request, who: auth.Auth) -> Response:
    if request.method == "OPTIONS":
        return Response(b"", 200, headers={"Allow": "OPTIONS,GET,HEAD"})
    if request.method not in ("GET", "HEAD"):
        raise errors.unsupported_method(request.method)
    schema_name, show_profile = pick_schema(server, request)
    accept = request.headers.get("accept")
    media = negotiate(accept, ["application/openapi+json", "application/json"])
    if media is None:
        raise errors.media_type_error(_requested_types(accept))
    main = sql.SQL(
        "WITH pgrst_source AS (SELECT json_build_object("
        "'tables', (SELECT coalesce(json_agg(c.relname), '[]') FROM pg_class c "
        "  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {s} AND c.relkind IN ('r','v','m','f','p') "
        "  AND (has_table_privilege(c.oid, 'SELECT') OR has_table_privilege(c.oid, 'INSERT') "
        "    OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE'))), "
        "'functions', (SELECT coalesce(json_agg(p.oid::int), '[]') FROM pg_proc p "
        "  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = {s} AND p.prokind = 'f' "
        "  AND has_function_privilege(p.oid, 'EXECUTE')), "
        "'description', (SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname = {s})"
        ") AS pgrst_scalar) "
        "SELECT count(*)::int, (SELECT pgrst_scalar::text FROM pgrst_source), "
        "nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '') "
        "FROM pgrst_source"
    ).format(s=sql.Literal(schema_name))
    _, found, guc_headers, guc_status, _, _ = await server.execute(request, who, schema_name, True, main, [])
    visible = json.loads(found)
    document = openapi.document(
        server.cache,
        schema_name,
        set(visible["tables"]),
        set(visible["functions"]),
        visible["description"],
        server.settings.server_host,
        server.settings.server_port,
    )
    headers = [("Content-Profile", schema_name)] if show_profile else []
    body = json.dumps(document, separators=(",", ":"))
    return build_response(
        200,
        body,
        OPENAPI_TYPE,
        headers,
        guc_headers,
        guc_status,
        request.method == "HEAD",
    )


def create_app(settings: Settings) -> App:
    server = Server(settings)
    verbose = settings.client_error_verbosity == "verbose"

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        path = request.scope["path"]
        if header_bytes(request.scope) > MAX_HEADER_BYTES:
            return Response(b"Request Header Fields Too Large", 431, media_type="text/plain")
        try:
            parts = [p for p in path.split("/") if p != ""]
            # PostgREST checks the JWT first, then whether a schema cache is loaded (App.hs)
            who = auth.authenticate(request.headers.get("authorization"), settings)
            if server.cache is None:
                raise errors.no_schema_cache()
            if not parts:
                response = await handle_root(server, request, who)
            elif parts[0] == "rpc" and len(parts) == 2:
                response = await handle_rpc(server, request, parts[1], who)
            elif len(parts) == 1:
                response = await handle_table(server, request, parts[0], who)
            else:
                raise errors.invalid_resource_path()
            # v16.2 App.hs toWaiResponse: every answer that is not an error varies with these,
            # unless the response already names a Vary (response.headers, say); CHANGELOG 16.0, #4609
            if "vary" not in response.headers:
                response.headers["Vary"] = VARY
        except errors.ApiError as error:
            response = error_response(error, verbose)
        except RecursionError:  # e.g. a body parsed, but too deep to serialise again
            response = error_response(errors.nested_too_deep("request"), verbose)
        except Exception as error:  # a bug here must still answer, and be visible in the log
            log(f"internal error: {error!r}")
            response = error_response(errors.ApiError(500, "PGRSTX00", str(error)), verbose)
        # PostgREST's header name, our own product token: a learner's curl must not mistake this for PostgREST.
        response.headers["Server"] = f"postgrest-compatible/{FOLLOWS}"
        elapsed = (time.perf_counter() - started) * 1000
        log(f"{request.method} {path} {response.status_code} {elapsed:.2f}ms")
        return response

    return App(server, endpoint)


class App:
    """The ASGI application: every path goes to `endpoint` (a router and middleware would only add
    per-request cost: PostgREST's own routing is done in `endpoint`); lifespan starts the server."""

    def __init__(self, server: Server, endpoint):
        self.server, self.endpoint = server, endpoint

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            response = await self.endpoint(Request(scope, receive))
            await response(scope, receive, send)
        elif scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            try:
                await self.server.startup()
            except Exception as error:
                await send({"type": "lifespan.startup.failed", "message": repr(error)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await self.server.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
