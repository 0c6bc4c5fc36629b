"""Request -> SQL. Every identifier goes through psycopg.sql.Identifier, every value is a parameter.

Type names (`format_type` output) come from the catalog, never from the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psycopg import sql

from . import errors

RESERVED = {"select", "order", "limit", "offset", "columns", "on_conflict", "and", "or", "not.and", "not.or"}
OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "IS DISTINCT FROM",
    # arrays and ranges
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
# Full-text search: column @@ to_tsquery([language,] value), the language as in fts(english). A text
# column is searched as `text @@ tsquery`, which reads it with the database's default configuration.
FTS = {"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"}
_FTS_OPERATOR = re.compile(r"^(fts|plfts|phfts|wfts)(?:\(([A-Za-z_][A-Za-z0-9_]*)\))?$")


def known_operator(operator: str) -> bool:
    return operator in OPERATORS or operator in ("in", "is") or bool(_FTS_OPERATOR.match(operator))


IS_VALUES = {"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}


@dataclass
class Filter:
    column: str
    operator: str
    value: object
    negated: bool = False


@dataclass
class Logic:
    """and=(...) / or=(...), possibly negated and nested: PostgREST's logic tree."""

    operator: str  # "AND" or "OR"
    children: list[Filter | Logic]
    negated: bool = False


@dataclass
class ReadParams:
    select: list[tuple[str, str | None, str | None]] | None = None  # (column, alias, cast)
    filters: list[Filter | Logic] = field(default_factory=list)
    order: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    arguments: dict[str, str] = field(default_factory=dict)  # query args for GET /rpc


def _parse_in(text: str, raw: str) -> list[str]:
    if not (text.startswith("(") and text.endswith(")")):
        raise errors.query_param_error(f"failed to parse filter ({raw})", f'unexpected "{text[:1]}" expecting "("')
    items, current, quoted, i, body = [], "", False, 0, text[1:-1]
    if body == "":
        return []
    while i < len(body):
        ch = body[i]
        if quoted:
            if ch == "\\" and i + 1 < len(body):
                current += body[i + 1]
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
        i += 1
    items.append(current)
    return items


def parse_filter(column: str, raw: str) -> Filter:
    text, negated = raw, False
    if text.startswith("not."):
        negated, text = True, text[4:]
    operator, dot, value = text.partition(".")
    if not dot or not known_operator(operator):
        raise errors.query_param_error(
            f"failed to parse filter ({raw})",
            f'unexpected "{operator[:1] or raw[:1]}" expecting "not" or operator (eq, gt, ...)',
        )
    if operator == "in":
        return Filter(column, "in", _parse_in(value, raw), negated)
    if operator == "is":
        if value.lower() not in IS_VALUES:
            raise errors.query_param_error(
                f"failed to parse filter ({raw})",
                f'unexpected "{value[:1]}" expecting null, not_null, true, false or unknown',
            )
        return Filter(column, "is", value.lower(), negated)
    if operator in ("like", "ilike"):
        value = value.replace("*", "%")
    return Filter(column, operator, value, negated)


_LOGIC_ITEM = re.compile(r"^(not\.)?(and|or)\s*\((.*)\)$", re.S)
EXPECTING_CONDITION = "expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"


def _logic_error(raw: str, details: str) -> errors.ApiError:
    return errors.query_param_error(f'"failed to parse logic tree ({raw})"', details)


def _split_conditions(text: str, raw: str) -> list[str]:
    """The comma-separated conditions of a logic tree's (...), at depth 0 and outside double quotes."""
    items, current, depth, quoted, escaped = [], [], 0, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise _logic_error(raw, 'unexpected ")" expecting end of input')
        if ch == "," and depth == 0 and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth or quoted:
        raise _logic_error(raw, 'unexpected end of input expecting ")"')
    items.append("".join(current).strip())
    return items


def _unquote(value: str) -> str:
    """A double-quoted value (for reserved characters , . : ( ) inside a logic tree), unquoted."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _condition(text: str, raw: str) -> Filter | Logic:
    if not text:
        raise _logic_error(raw, f'unexpected ")" {EXPECTING_CONDITION}')
    nested = _LOGIC_ITEM.match(text)
    if nested:
        negated, operator, inner = nested.groups()
        return Logic(operator.upper(), [_condition(item, raw) for item in _split_conditions(inner, raw)], bool(negated))
    column, dot, rest = text.partition(".")
    if not dot or not column.strip():
        raise _logic_error(raw, f'unexpected "{text[:1]}" {EXPECTING_CONDITION}')
    try:
        parsed = parse_filter(column.strip(), rest.strip())
    except errors.ApiError as error:  # PostgREST names the whole tree in the message
        raise _logic_error(raw, error.details) from None
    if parsed.operator not in ("in", "is"):
        parsed.value = _unquote(parsed.value)
    return parsed


# Each level of a logic tree reads its own text again: a cap keeps a request's parse short
# (and far from Python's recursion limit, which once answered 500).
MAX_LOGIC_DEPTH = 16


def _too_deep(text: str) -> bool:
    if text.count("(") <= MAX_LOGIC_DEPTH:
        return False
    depth = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', "", text):
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_LOGIC_DEPTH:
            return True
    return False


def parse_logic(key: str, value: str) -> Logic:
    """?or=(a.eq.1,and(b.gt.2,c.is.null)) and ?not.and=(...): conditions that nest."""
    negated = key.startswith("not.")
    text = value.strip()
    if _too_deep(text):
        raise errors.nested_too_deep("logic tree")
    if not (text.startswith("(") and text.endswith(")")):
        raise _logic_error(value, f'unexpected "{text[:1]}" expecting "("')
    children = [_condition(item, value) for item in _split_conditions(text[1:-1], value)]
    return Logic(key.removeprefix("not.").upper(), children, negated)


_SELECT_ITEM = re.compile(r"^(?:([^:()]+):(?!:))?([^:()]+?)(?:::([A-Za-z_][A-Za-z0-9_ ]*))?$")


def parse_select(text: str) -> list[tuple[str, str | None, str | None]] | None:
    items = []
    for part in (p.strip() for p in text.split(",")):
        if part == "*":
            return None if not items and text.strip() == "*" else [*items, ("*", None, None)]
        match = _SELECT_ITEM.match(part)
        if not part or not match:
            raise errors.query_param_error(
                f'"failed to parse select parameter ({text})"',
                f'unexpected "{part[:1] or ","}" expecting field name (* or [a..z0..9_$])',
            )
        alias, column, cast = match.groups()
        items.append((column.strip(), alias.strip() if alias else None, cast.strip() if cast else None))
    return items


def parse_order(text: str) -> list[tuple[str, str | None, str | None]]:
    terms = []
    for part in text.split(","):
        pieces = part.strip().split(".")
        column, direction, nulls = pieces[0], None, None
        for piece in pieces[1:]:
            if piece in ("asc", "desc") and direction is None:
                direction = piece
            elif piece in ("nullsfirst", "nullslast") and nulls is None:
                nulls = piece
            else:
                raise errors.query_param_error(
                    f'"failed to parse order ({text})"',
                    f'unexpected "{piece[:1]}" expecting "asc", "desc", "nullsfirst" or "nullslast"',
                )
        if not column:
            raise errors.query_param_error(
                f'"failed to parse order ({text})"', "unexpected end of input expecting field name"
            )
        terms.append((column, direction, nulls))
    return terms


def _int_param(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise errors.query_param_error(
            f'"failed to parse {name} parameter ({value})"', f'unexpected "{value[:1]}" expecting digit'
        ) from None
    if number < 0:
        raise errors.ApiError(
            416, "PGRST103", "Requested range not satisfiable", "Limit should be greater than or equal to zero."
        )
    return number


def parse_query(items: list[tuple[str, str]], rpc_params: set[str] | None = None) -> ReadParams:
    """Query string -> ReadParams. For GET /rpc, a parameter without an operator is an argument."""
    params = ReadParams()
    for key, value in items:
        if key == "select":
            params.select = parse_select(value)
        elif key == "order":
            params.order = parse_order(value)
        elif key == "limit":
            params.limit = _int_param("limit", value)
        elif key == "offset":
            params.offset = _int_param("offset", value)
        elif key in ("and", "or", "not.and", "not.or"):
            params.filters.append(parse_logic(key, value))
        elif key in RESERVED:
            continue
        elif rpc_params is not None and (key in rpc_params or not _looks_like_filter(value)):
            params.arguments[key] = value
        else:
            params.filters.append(parse_filter(key, value))
    return params


def _looks_like_filter(value: str) -> bool:
    text = value[4:] if value.startswith("not.") else value
    operator, dot, _ = text.partition(".")
    return bool(dot) and known_operator(operator)


# ---- SQL fragments ----------------------------------------------------------------------------


def where_clause(filters: list[Filter | Logic], qualifier: sql.Composable, values: list) -> sql.Composable:
    if not filters:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(condition(item, qualifier, values) for item in filters)


def condition(item: Filter | Logic, qualifier: sql.Composable, values: list) -> sql.Composable:
    """One filter or logic tree as SQL; its values are appended in the order of its placeholders."""
    if isinstance(item, Logic):
        inner = sql.SQL(f" {item.operator} ").join(condition(child, qualifier, values) for child in item.children)
        return sql.SQL("NOT ({})" if item.negated else "({})").format(inner)
    column = sql.SQL("{}.{}").format(qualifier, sql.Identifier(item.column))
    if item.operator == "in":
        if item.value:
            values.extend(item.value)
            expr = sql.SQL("{} IN ({})").format(column, sql.SQL(", ").join(sql.Placeholder() for _ in item.value))
        else:
            expr = sql.SQL("FALSE")
    elif item.operator == "is":
        expr = sql.SQL("{} IS {}").format(column, sql.SQL(IS_VALUES[item.value]))
    elif item.operator in OPERATORS:
        values.append(item.value)
        expr = sql.SQL("{} {} {}").format(column, sql.SQL(OPERATORS[item.operator]), sql.Placeholder())
    else:
        function, language = _FTS_OPERATOR.match(item.operator).groups()
        if language:
            values.append(language)
        values.append(item.value)
        arguments = (
            sql.SQL("{}::regconfig, {}").format(sql.Placeholder(), sql.Placeholder()) if language else sql.Placeholder()
        )
        expr = sql.SQL("{} @@ {}({})").format(column, sql.SQL(FTS[function]), arguments)
    return sql.SQL("NOT ({})").format(expr) if item.negated else expr


def select_list(select, qualifier: sql.Composable) -> sql.Composable:
    if not select:
        return sql.SQL("{}.*").format(qualifier)
    parts = []
    for column, alias, cast in select:
        if column == "*":
            parts.append(sql.SQL("{}.*").format(qualifier))
            continue
        expr = sql.SQL("{}.{}").format(qualifier, sql.Identifier(column))
        if cast:
            expr = sql.SQL("CAST({} AS {})").format(expr, sql.SQL(cast))
        parts.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(alias or column)))
    return sql.SQL(", ").join(parts)


def order_limit(params: ReadParams, qualifier: sql.Composable, values: list) -> sql.Composable:
    parts = []
    if params.order:
        terms = []
        for column, direction, nulls in params.order:
            term = sql.SQL("{}.{}").format(qualifier, sql.Identifier(column))
            if direction:
                term += sql.SQL(" DESC" if direction == "desc" else " ASC")
            if nulls:
                term += sql.SQL(" NULLS FIRST" if nulls == "nullsfirst" else " NULLS LAST")
            terms.append(term)
        parts.append(sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms))
    if params.limit is not None:
        values.append(params.limit)
        parts.append(sql.SQL(" LIMIT {}").format(sql.Placeholder()))
    if params.offset is not None:
        values.append(params.offset)
        parts.append(sql.SQL(" OFFSET {}").format(sql.Placeholder()))
    return sql.Composed(parts)


BODY_ARRAY = sql.SQL("coalesce(json_agg(_postgrest_t), '[]')::text")
BODY_SINGLE = sql.SQL("(json_agg(_postgrest_t) -> 0)::text")
BODY_NONE = sql.SQL("NULL::text")
BODY_SCALAR = sql.SQL("(json_agg(_postgrest_t.pgrst_scalar) -> 0)::text")
BODY_SCALAR_SET = sql.SQL("coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text")


ALL_SOURCE = sql.SQL("pgrst_source.*")


def render(query: sql.Composable, conn) -> bytes:
    """The query's bytes for `wire.bind`, with every '%' outside a placeholder doubled: an identifier
    such as "a%b" (from a request, or from the database) must not read as a placeholder."""
    if isinstance(query, sql.Composed):
        return b"".join(render(part, conn) for part in query)
    if isinstance(query, sql.Placeholder):
        return query.as_bytes(conn)
    return query.as_bytes(conn).replace(b"%", b"%%")


class Text:
    """A composed query and, after its first use, its rendered bytes for that connection's encoding."""

    __slots__ = ("composed", "encoded")

    def __init__(self, composed: sql.Composable):
        self.composed, self.encoded = composed, None

    def as_bytes(self, conn) -> bytes:
        if self.encoded is None:
            self.encoded = render(self.composed, conn)
        return self.encoded


def wrap(source: sql.Composable, body: sql.Composable, outer: sql.Composable = ALL_SOURCE) -> sql.Composed:
    """The main query: rows counted, the body as text, and response.headers/status read after it."""
    return sql.SQL(
        "WITH pgrst_source AS ({source}) "
        "SELECT count(*)::int, {body}, nullif(current_setting('response.headers', true), ''), "
        "nullif(current_setting('response.status', true), '') "
        "FROM (SELECT {outer} FROM pgrst_source) AS _postgrest_t"
    ).format(source=source, body=body, outer=outer)


def read(table, params: ReadParams, body: sql.Composable, values: list) -> sql.Composed:
    qualified = sql.Identifier(table.schema, table.name)
    source = sql.SQL("SELECT {cols} FROM {table}{where}{rest}").format(
        cols=select_list(params.select, qualified),
        table=qualified,
        where=where_clause(params.filters, qualified, values),
        rest=order_limit(params, qualified, values),
    )
    return wrap(source, body)


def returning(representation: bool) -> sql.Composable:
    return sql.SQL(" RETURNING {}.*") if representation else sql.SQL(" RETURNING 1")


def insert(table, columns: list[str], payload: str, representation: bool, params: ReadParams, body, values: list):
    qualified = sql.Identifier(table.schema, table.name)
    if columns:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        values.append(payload)
        source = sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, "
            "(SELECT CASE WHEN json_typeof(j) = 'array' THEN j ELSE json_build_array(j) END "
            "FROM (SELECT {ph}::json AS j) AS pgrst_payload)) AS pgrst_body"
        ).format(table=qualified, cols=cols, ph=sql.Placeholder())
    else:
        source = sql.SQL("INSERT INTO {table} DEFAULT VALUES").format(table=qualified)
    source += returning(representation).format(qualified)
    outer = select_list(params.select, sql.Identifier("pgrst_source")) if representation else sql.SQL("pgrst_source.*")
    return wrap(source, body, outer)


def update(table, columns: list[str], payload: str, representation: bool, params: ReadParams, body, values: list):
    qualified = sql.Identifier(table.schema, table.name)
    values.append(payload)
    assignments = sql.SQL(", ").join(sql.SQL("{c} = pgrst_body.{c}").format(c=sql.Identifier(c)) for c in columns)
    source = sql.SQL(
        "UPDATE {table} SET {assign} FROM (SELECT * FROM json_populate_record(NULL::{table}, {ph}::json)) AS pgrst_body"
    ).format(table=qualified, assign=assignments, ph=sql.Placeholder())
    source += where_clause(params.filters, qualified, values) + returning(representation).format(qualified)
    outer = select_list(params.select, sql.Identifier("pgrst_source")) if representation else sql.SQL("pgrst_source.*")
    return wrap(source, body, outer)


def delete(table, representation: bool, params: ReadParams, body, values: list):
    qualified = sql.Identifier(table.schema, table.name)
    source = sql.SQL("DELETE FROM {table}").format(table=qualified)
    source += where_clause(params.filters, qualified, values) + returning(representation).format(qualified)
    outer = select_list(params.select, sql.Identifier("pgrst_source")) if representation else sql.SQL("pgrst_source.*")
    return wrap(source, body, outer)


def call(function, arguments: dict, params: ReadParams, singular: bool, values: list) -> tuple[sql.Composed, str]:
    """The call of a function with named arguments; returns (query, kind) with kind in
    void / scalar / scalar_set / composite / set."""
    import json

    qualified = sql.Identifier(function.schema, function.name)
    used = [p for p in function.params if p.name in arguments]
    if used:
        values.append(json.dumps(arguments))
        record = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(p.name), sql.SQL(p.type)) for p in used)
        named = sql.SQL(", ").join(sql.SQL("{n} := pgrst_args.{n}").format(n=sql.Identifier(p.name)) for p in used)
        args_from = sql.SQL(" FROM json_to_record({ph}::json) AS pgrst_args({record})").format(
            ph=sql.Placeholder(), record=record
        )
        lateral = sql.SQL("json_to_record({ph}::json) AS pgrst_args({record}), ").format(
            ph=sql.Placeholder(), record=record
        )
    else:
        named, args_from, lateral = sql.SQL(""), sql.SQL(""), sql.SQL("")
    invocation = sql.SQL("{}({})").format(qualified, named)
    if function.void:
        return wrap(sql.SQL("SELECT {} AS pgrst_scalar").format(invocation) + args_from, BODY_NONE), "void"
    call_alias = sql.Identifier("pgrst_call")
    if function.composite:
        source = sql.SQL("SELECT {cols} FROM {lateral}{inv} AS pgrst_call{where}{rest}").format(
            cols=select_list(params.select, call_alias),
            lateral=lateral,
            inv=invocation,
            where=where_clause(params.filters, call_alias, values),
            rest=order_limit(params, call_alias, values),
        )
        if function.returns_set:
            return wrap(source, BODY_SINGLE if singular else BODY_ARRAY), "set"
        return wrap(source, BODY_SINGLE), "composite"
    if function.returns_set:
        source = sql.SQL("SELECT pgrst_call AS pgrst_scalar FROM {lateral}{inv} AS pgrst_call").format(
            lateral=lateral, inv=invocation
        )
        return wrap(source, BODY_SCALAR_SET), "scalar_set"
    return wrap(sql.SQL("SELECT {} AS pgrst_scalar").format(invocation) + args_from, BODY_SCALAR), "scalar"
