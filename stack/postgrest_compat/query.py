"""Request -> SQL. Every identifier goes through psycopg.sql.Identifier, every value is a parameter.

Type names (`format_type` output) come from the catalog, never from the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from psycopg import sql

from . import embed, errors

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


# v16.2 QueryParams.hs pQuantOp: these operators take (any) or (all) and a '{a,b}' array literal
_QUANTIFIED = re.compile(r"^(eq|gte|gt|lte|lt|like|ilike|match|imatch)\((any|all)\)$")


def known_operator(operator: str) -> bool:
    return (
        operator in OPERATORS
        or operator in ("in", "is")
        or bool(_FTS_OPERATOR.match(operator) or _QUANTIFIED.match(operator))
    )


IS_VALUES = {"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}


@dataclass
class Filter:
    column: str | Field
    operator: str
    value: object
    negated: bool = False


@dataclass
class Logic:
    """and=(...) / or=(...), possibly negated and nested: PostgREST's logic tree."""

    operator: str  # "AND" or "OR"
    children: list[Filter | Logic]
    negated: bool = False


@dataclass(frozen=True)
class Field:
    """A column, or a JSON path into one: meta->dims->>w is ("meta", (("->", "dims"), ("->>", "w")))."""

    name: str
    path: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The output name PostgREST gives it: the last key of the path, else the column."""
        return self.path[-1][1] if self.path else self.name


@dataclass
class Item:
    field: Field
    alias: str | None = None
    cast: str | None = None


@dataclass
class ReadParams:
    select: list | None = None  # of Item, embed.Embed and "*"; None is *
    filters: list[Filter | Logic] = field(default_factory=list)
    order: list[tuple] = field(default_factory=list)  # (Field or (embed, Field), direction, nulls)
    limit: int | None = None
    offset: int | None = None
    arguments: dict[str, str] = field(default_factory=dict)  # query args for GET /rpc
    embedded: dict[tuple[str, ...], ReadParams] = field(default_factory=dict)  # books.title=eq.x etc.
    columns: list[str] | None = None  # ?columns= of a POST
    on_conflict: list[str] | None = None
    max_rows: int | None = None  # db-max-rows: the cap of every to-many embed (the top level's is `limit`)

    @property
    def has_embeds(self) -> bool:
        return any(isinstance(item, embed.Embed) for item in self.select or [])


def filter_error(raw: str, column: int, details: str) -> errors.ApiError:
    """As v14.1 words it (QuerySpec "ghostBusters?id=0"): the filter quoted, then Parsec's position."""
    return errors.query_param_error(f'"failed to parse filter ({raw})" (line 1, column {column})', details)


def _parse_in(text: str, raw: str) -> list[str]:
    if not (text.startswith("(") and text.endswith(")")):
        start = len(raw) - len(text) + 1
        raise filter_error(
            raw, start, f'unexpected "{text[:1]}" expecting "("' if text else 'unexpected end of input expecting "("'
        )
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
        raise filter_error(
            raw,
            5 if negated else 1,
            f'unexpected "{operator[:1] or raw[:1]}" expecting "not" or operator (eq, gt, ...)',
        )
    if operator == "in":
        return Filter(column, "in", _parse_in(value, raw), negated)
    if operator == "is":
        if value.lower() not in IS_VALUES:
            raise filter_error(
                raw,
                len(raw) - len(value) + 1,
                f'unexpected "{value[:1]}" expecting null, not_null, true, false or unknown',
            )
        return Filter(column, "is", value.lower(), negated)
    if operator.split("(")[0] in ("like", "ilike"):
        value = value.replace("*", "%")
    return Filter(column, operator, value, negated)


_LOGIC_ITEM = re.compile(r"^(not\.)?(and|or)\s*\((.*)\)$", re.S)
EXPECTING_CONDITION = "expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"


def _logic_error(raw: str, details: str, column: int | None = None) -> errors.ApiError:
    """v16.2 QueryParams.hs parses op<>value ("or()"): the column counts from the key's first letter."""
    where = "" if column is None else f" (line 1, column {column})"
    return errors.query_param_error(f'"failed to parse logic tree ({raw})"{where}', details)


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
        raise _logic_error(value, f'unexpected "{text[:1]}" expecting "("', len(key) + 1)
    if not text[1:-1].strip():  # AndOrParamsSpec "cannot have zero conditions": or=() stops at its ")"
        raise _logic_error(value, f'unexpected ")" {EXPECTING_CONDITION}', len(key) + len(text))
    children = [_condition(item, value) for item in _split_conditions(text[1:-1], value)]
    return Logic(key.removeprefix("not.").upper(), children, negated)


_ARROW = re.compile(r"(->>?)")
_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*(\[\])?$")
AGGREGATES = {"count", "sum", "avg", "max", "min"}


def parse_field(text: str) -> Field | None:
    """name(->key|->>key)*, or None when it is not one."""
    parts = _ARROW.split(text.strip())
    name = parts[0].strip()
    path = tuple((parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2))
    if not name or any(not key or re.search(r"[(),:!]", key) for _, key in path) or re.search(r"[(),:!]", name):
        return None
    return Field(name, path)


def _split_top(text: str) -> list[str] | None:
    """Comma-separated at depth 0; None when the parentheses do not balance."""
    items, current, depth, quoted = [], [], 0, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                return None
        if ch == "," and depth == 0 and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth:
        return None
    items.append("".join(current).strip())
    return items


def parse_select(text: str) -> list | None:
    """select= as v14.1's QueryParams.hs pFieldSelect/pRelationSelect: columns (alias:, ::cast, JSON
    paths), * and embedded resources name[!hint][!inner](...), spread ...name(...). None is plain *."""

    def failed(part: str) -> errors.ApiError:
        return errors.query_param_error(
            f'"failed to parse select parameter ({text})"',
            f'unexpected "{part[:1] or ","}" expecting field name (* or [a..z0..9_$])',
        )

    def items_of(body: str) -> list:
        parts = _split_top(body)
        if parts is None:
            raise failed(body[-1:])
        if parts == [""]:
            return []
        return [item_of(part) for part in parts]

    def item_of(part: str):
        if part == "*":
            return "*"
        if part.endswith(")") and "(" in part:
            head, body = part[: part.index("(")], part[part.index("(") + 1 : -1]
            spread = head.startswith("...")
            head = head[3:] if spread else head
            alias = None
            if ":" in head:
                alias, head = (piece.strip() for piece in head.split(":", 1))
            name, *marks = head.strip().split("!")
            if name in AGGREGATES and body.strip() == "" or "." in name and name.rsplit(".", 1)[1] in AGGREGATES:
                raise errors.ApiError(400, "PGRST123", "Use of aggregate functions is not allowed")
            hint, join = None, None
            for mark in marks:
                if mark in ("inner", "left"):
                    join = mark
                elif hint is None:
                    hint = mark
                else:
                    raise failed(mark)
            if not name or parse_field(name) is None:
                raise failed(part)
            return embed.Embed(name, items_of(body), alias or None, hint, join, spread)
        column, cast = part, None
        if "::" in column:
            column, cast = (piece.strip() for piece in column.rsplit("::", 1))
            if not _CAST.match(cast):
                raise failed(cast)
        alias = None
        if ":" in column:
            alias, column = (piece.strip() for piece in column.split(":", 1))
        found = parse_field(column)
        if found is None or alias == "":
            raise failed(part)
        return Item(found, alias, cast)

    if text.strip() == "*":
        return None
    try:
        return items_of(text)
    except RecursionError:  # embeds nested thousands deep: a 400, never a 500
        raise errors.query_param_error(
            f'"failed to parse select parameter ({text[:64]}...)"', "The select is nested too deeply"
        ) from None


def _order_error(text: str, column: int, details: str) -> errors.ApiError:
    """v16.2 QueryParams.hs pOrder's Parsec error: the order quoted, then where the parser stopped."""
    return errors.query_param_error(f'"failed to parse order ({text})" (line 1, column {column})', details)


def parse_order(text: str) -> list[tuple]:
    terms, cursor = [], 0
    for part in _split_top(text) or [text]:
        start = text.find(part, cursor) if part else cursor  # where this term begins, 0-based
        cursor = start + len(part)
        related = None
        if "(" in part and ")" in part:  # order=authors(name).desc: a related (to-one) order
            related, part = part[: part.index("(")].strip(), part[part.index("(") + 1 :].replace(")", "", 1)
        pieces = part.strip().split(".")
        column, direction, nulls = pieces[0], None, None
        # 0-based, just after the field (a related one's "name(" and ")" included)
        position = start + len(pieces[0]) + (len(related) + 2 if related else 0)
        for piece in pieces[1:]:
            keyword = next((k for k in ("asc", "desc", "nullsfirst", "nullslast") if piece.startswith(k)), None)
            if piece in ("asc", "desc") and direction is None and nulls is None:
                direction = piece
            elif piece in ("nullsfirst", "nullslast") and nulls is None:
                nulls = piece
            elif keyword and piece != keyword:  # id.asc.nullslasttt: Parsec took the keyword, then stopped
                stop = position + 1 + len(keyword)
                raise _order_error(
                    text, stop + 1, f"unexpected '{piece[len(keyword)]}' expecting \",\" or end of input"
                )
            else:
                raise _order_error(
                    text,
                    position + 1,
                    f'unexpected "{piece[:1]}" expecting "asc", "desc", "nullsfirst" or "nullslast"',
                )
            position += 1 + len(piece)
        found = parse_field(column) if column else None
        if found is None:
            raise _order_error(text, start + 1, "unexpected end of input expecting field name")
        terms.append(((related, found) if related else found, direction, nulls))
    return terms


def _int_param(value: str) -> int | None:
    """v14.1 reads limit and offset with readMaybe: a value that is not an integer is ignored."""
    try:
        return int(value)
    except ValueError:
        return None


def cap(limit: int | None, max_rows: int | None) -> int | None:
    """The limit within db-max-rows (v16.2 RangeQuery.hs restrictRange)."""
    if max_rows is None:
        return limit
    return max_rows if limit is None else min(limit, max_rows)


def negative_limit() -> errors.ApiError:
    return errors.ApiError(
        416, "PGRST103", "Requested range not satisfiable", "Limit should be greater than or equal to zero."
    )


def parse_query(items: list[tuple[str, str]], rpc_params: set[str] | None = None) -> ReadParams:
    """Query string -> ReadParams. For GET /rpc, a parameter without an operator is an argument."""
    params = ReadParams()
    for key, value in items:
        if key == "select":
            params.select = parse_select(value)
        elif key in ("columns", "on_conflict"):
            setattr(params, key, _names(key, value))
        elif key in ("order", "limit", "offset"):
            _set_range_or_order(params, key, value)
        elif key in ("and", "or", "not.and", "not.or"):
            params.filters.append(parse_logic(key, value))
        elif key in RESERVED:
            continue
        elif "." in key.split("->", 1)[0] and key not in (rpc_params or ()):  # books.title=eq.x, books.limit=1
            *path, last = key.split("->", 1)[0].split(".")
            rest = key[len(".".join(path)) + 1 :]
            inner = params.embedded.setdefault(tuple(path), ReadParams())
            if last in ("order", "limit", "offset") and rest == last:
                _set_range_or_order(inner, last, value)
            elif rest in ("and", "or"):
                inner.filters.append(parse_logic(rest, value))
            else:
                inner.filters.append(_field_filter(rest, value))
        elif rpc_params is not None and (key in rpc_params or not _looks_like_filter(value)):
            params.arguments[key] = value
        else:
            params.filters.append(_field_filter(key, value))
    return params


def _names(key: str, value: str) -> list[str]:
    """columns= and on_conflict=: field names, plain or double-quoted (clients quote them)."""
    names = [_unquote(name.strip()) for name in _split_top(value) or []]
    if not value.strip() or any(not name for name in names):
        raise errors.query_param_error(
            f'"failed to parse {key} parameter ({value})" (line 1, column {len(value) + 1})',
            "unexpected end of input expecting field name (* or [a..z0..9_$])",
        )
    return names


def _set_range_or_order(params: ReadParams, key: str, value: str) -> None:
    if key == "order":
        params.order = parse_order(value)
    elif key == "limit":
        params.limit = _int_param(value)
        if params.limit is not None and params.limit < 0:
            raise negative_limit()
    else:
        offset = _int_param(value)
        params.offset = offset if offset and offset > 0 else None  # a negative offset is a no-op (RangeSpec)


def _field_filter(key: str, value: str) -> Filter:
    found = parse_filter(key, value)
    field_ = parse_field(key)
    if field_ is not None and field_.path:
        found.column = field_
    return found


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
    column = field_sql(qualifier, item.column) if isinstance(item.column, Field) else None
    if column is None:
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
    elif _QUANTIFIED.match(item.operator):  # SqlFragment.hs OpQuant: column op ANY|ALL ('{...}')
        operator, quantifier = _QUANTIFIED.match(item.operator).groups()
        values.append(item.value)
        expr = sql.SQL("{} {} {}({})").format(
            column, sql.SQL(OPERATORS[operator]), sql.SQL(quantifier.upper()), sql.Placeholder()
        )
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


def field_sql(qualifier: sql.Composable, found: Field) -> sql.Composable:
    expr = sql.SQL("{}.{}").format(qualifier, sql.Identifier(found.name))
    for arrow, key in found.path:
        step = sql.SQL(key) if re.fullmatch(r"-?[0-9]+", key) else sql.Literal(key)
        expr = sql.SQL("({}{}{})").format(expr, sql.SQL(arrow), step)
    return expr


def select_list(select, qualifier: sql.Composable) -> sql.Composable:
    """The columns of a select without embeds (embeds: `Tree`)."""
    if not select:
        return sql.SQL("{}.*").format(qualifier)
    return sql.SQL(", ").join(_column(item, qualifier) for item in select)


def _column(item, qualifier: sql.Composable) -> sql.Composable:
    if item == "*":
        return sql.SQL("{}.*").format(qualifier)
    expr = field_sql(qualifier, item.field)
    if item.cast:
        expr = sql.SQL("CAST({} AS {})").format(expr, sql.SQL(item.cast))
    return sql.SQL("{} AS {}").format(expr, sql.Identifier(item.alias or item.field.label))


def order_limit(params: ReadParams, qualifier: sql.Composable, values: list, related=None) -> sql.Composable:
    parts = []
    if params.order:
        terms = []
        for column, direction, nulls in params.order:
            if isinstance(column, tuple):
                if related is None:
                    raise errors.ApiError(
                        400,
                        "PGRST108",
                        f"'{column[0]}' is not an embedded resource in this request",
                        hint=f"Verify that '{column[0]}' is included in the 'select' query parameter.",
                    )
                term = related(column[0], column[1])
            else:
                term = field_sql(qualifier, column)
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
BODY_ARRAY_STRIPPED = sql.SQL("coalesce(json_strip_nulls(json_agg(_postgrest_t)), '[]')::text")
BODY_SINGLE_STRIPPED = sql.SQL("json_strip_nulls(json_agg(_postgrest_t) -> 0)::text")
# text/csv: a header of the first row's keys, then each row's composite text without its parentheses
BODY_CSV = sql.SQL(
    "(SELECT coalesce(string_agg(pgrst_k, ','), '') FROM json_object_keys(json_agg(_postgrest_t) -> 0) AS pgrst_k)"
    " || chr(10) || "
    "coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')"
)
BODY_SCALAR = sql.SQL("(json_agg(_postgrest_t.pgrst_scalar) -> 0)::text")
BODY_SCALAR_SET = sql.SQL("coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text")


ALL_SOURCE = sql.SQL("pgrst_source.*")
NOTHING = sql.SQL("")
NULL = sql.SQL("NULL")


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


def wrap(
    source: sql.Composable,
    body: sql.Composable,
    outer: sql.Composable = ALL_SOURCE,
    joins: sql.Composable = NOTHING,
    total: sql.Composable = NULL,
    inserted: sql.Composable = NULL,
) -> sql.Composed:
    """The main query: rows counted, the body as text, response.headers/status read after it, and the
    total (Prefer: count) and inserted rows (an upsert's status) when asked."""
    return sql.SQL(
        "WITH pgrst_source AS ({source}) "
        "SELECT count(*)::int, {body}, nullif(current_setting('response.headers', true), ''), "
        "nullif(current_setting('response.status', true), ''), {total}, {inserted} "
        "FROM (SELECT {outer} FROM pgrst_source{joins}) AS _postgrest_t"
    ).format(source=source, body=body, outer=outer, joins=joins, total=total, inserted=inserted)


class Tree:
    """A select list with its embedded resources: columns, and one lateral join per embed (embed.py
    finds the relationship). Values are appended in the order of their placeholders in the text."""

    def __init__(self, cache, top: ReadParams, values: list):
        self.cache, self.top, self.values = cache, top, values
        self.counter = 0
        self.used: set[tuple[str, ...]] = set()

    def build(self, table, select, filters: list, qualifier: sql.Composable, path=()) -> embed.Built:
        built = embed.Built()
        built.embeds = {}
        for item in select or ["*"]:
            if isinstance(item, embed.Embed):
                self._embed(table, item, qualifier, path, built)
            else:
                built.columns.append(_column(item, qualifier))
        built.filters = []
        for item in filters:
            target = (
                built.embeds.get(item.column) if isinstance(item, Filter) and isinstance(item.column, str) else None
            )
            if target is None:
                built.filters.append(item)
                continue
            if item.operator != "is" or item.value not in ("null", "not_null"):
                raise errors.ApiError(
                    400,
                    "PGRST120",
                    f"Bad operator on the '{item.column}' embedded resource",
                    "Only is null or not is null filters are allowed on embedded resources",
                )
            is_null = (item.value == "null") != item.negated
            built.conditions.append(
                sql.SQL("{}.pgrst_body IS NULL" if is_null else "{}.pgrst_body IS NOT NULL").format(target[0])
            )
        return built

    def _embed(self, table, item: embed.Embed, parent: sql.Composable, path, built: embed.Built) -> None:
        rel = embed.find(self.cache, (table.schema, table.name), item)
        child = self.cache.tables[rel.foreign]
        self.counter += 1
        alias, source = sql.Identifier(f"pgrst_{self.counter}"), sql.Identifier(f"pgrst_{self.counter}_src")
        key_path = (*path, item.key)
        self.used.add(key_path)
        params = self.top.embedded.get(key_path, ReadParams())
        if self.top.max_rows is not None and not rel.to_one:  # QueryLimitedSpec "works on all levels"
            params = replace(params, limit=cap(params.limit, self.top.max_rows))
        inner = self.build(child, item.items, params.filters, source, key_path)
        if rel.function:  # fn(parent row): the parent's row cast back to its table's type
            origin = sql.SQL("{}(CAST(ROW({}.*) AS {}))").format(
                sql.Identifier(*rel.function), parent, sql.Identifier(table.schema, table.name)
            )
            conditions = [sql.SQL("TRUE")]
        else:
            origin = sql.Identifier(*rel.foreign)
            conditions = [embed.join_condition(rel, source, parent)]
        conditions += [condition(f, source, self.values) for f in inner.filters] + inner.conditions
        rows = sql.SQL("SELECT {cols} FROM {table} AS {src}{joins} WHERE {where}{rest}").format(
            cols=sql.SQL(", ").join(inner.columns),
            table=origin,
            src=source,
            joins=sql.Composed(inner.joins),
            where=sql.SQL(" AND ").join(conditions),
            rest=order_limit(params, source, self.values, self._related(inner, child, source)),
        )
        if rel.to_one:
            lateral = "SELECT row_to_json(pgrst_t) AS pgrst_body FROM ({}) AS pgrst_t"
        else:
            lateral = "SELECT json_agg(pgrst_t) AS pgrst_body FROM ({}) AS pgrst_t HAVING count(*) > 0"
        built.joins.append(sql.SQL(" LEFT JOIN LATERAL (" + lateral + ") AS {} ON TRUE").format(rows, alias))
        built.embeds[item.key] = (alias, rel, child, source)
        if item.join == "inner":
            built.conditions.append(sql.SQL("{}.pgrst_body IS NOT NULL").format(alias))
        body = sql.SQL("{}.pgrst_body").format(alias)
        if item.spread:
            for key in self._keys(child, item.items):
                if rel.to_one:
                    expr = sql.SQL("({} -> {})").format(body, sql.Literal(key))
                else:
                    expr = sql.SQL(
                        "(SELECT coalesce(json_agg(e -> {}), '[]') FROM json_array_elements({}) AS e)"
                    ).format(sql.Literal(key), body)
                built.columns.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(key)))
        elif item.items:
            expr = body if rel.to_one else sql.SQL("coalesce({}, '[]')").format(body)
            built.columns.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(item.key)))

    def _keys(self, table, items) -> list[str]:
        keys = []
        for item in items or ["*"]:
            if item == "*":
                keys += [c.name for c in table.columns]
            elif isinstance(item, embed.Embed):
                if item.spread:
                    rel = embed.find(self.cache, (table.schema, table.name), item)
                    keys += self._keys(self.cache.tables[rel.foreign], item.items)
                elif item.items:
                    keys.append(item.key)
            else:
                keys.append(item.alias or item.field.label)
        return keys

    def _related(self, built: embed.Built, table, qualifier):
        """order=authors(name): the to-one embed's column, read again by its foreign key."""

        def term(key: str, found: Field) -> sql.Composable:
            if key not in built.embeds:
                raise errors.ApiError(
                    400,
                    "PGRST108",
                    f"'{key}' is not an embedded resource in this request",
                    hint=f"Verify that '{key}' is included in the 'select' query parameter.",
                )
            _, rel, child, _ = built.embeds[key]
            if not rel.to_one:
                raise errors.ApiError(
                    400,
                    "PGRST118",
                    f"A related order on '{key}' is not possible",
                    f"'{table.name}' and '{key}' do not form a many-to-one or one-to-one relationship",
                )
            other = sql.Identifier("pgrst_order")
            if rel.function:
                return sql.SQL("(SELECT {} FROM {}(CAST(ROW({}.*) AS {})) AS {} LIMIT 1)").format(
                    field_sql(other, found),
                    sql.Identifier(*rel.function),
                    qualifier,
                    sql.Identifier(table.schema, table.name),
                    other,
                )
            return sql.SQL("(SELECT {} FROM {} AS {} WHERE {})").format(
                field_sql(other, found),
                sql.Identifier(*rel.foreign),
                other,
                embed.join_condition(rel, other, qualifier),
            )

        return term

    def check_used(self) -> None:
        for path in self.top.embedded:
            if path not in self.used:
                name = ".".join(path)
                raise errors.ApiError(
                    400,
                    "PGRST108",
                    f"'{name}' is not an embedded resource in this request",
                    hint=f"Verify that '{name}' is included in the 'select' query parameter.",
                )


def _where(filters: list, conditions: list, qualifier, values: list) -> sql.Composable:
    parts = [condition(item, qualifier, values) for item in filters] + conditions
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts) if parts else sql.SQL("")


def read(cache, table, params: ReadParams, body: sql.Composable, values: list, count: str | None = None):
    """GET: the rows, and with count="exact" their total before limit and offset."""
    qualified = sql.Identifier(table.schema, table.name)
    tree = Tree(cache, params, values)
    built = tree.build(table, params.select, params.filters, qualified)
    tree.check_used()
    source = sql.SQL("SELECT {cols} FROM {table}{joins}{where}{rest}").format(
        cols=sql.SQL(", ").join(built.columns),
        table=qualified,
        joins=sql.Composed(built.joins),
        where=_where(built.filters, built.conditions, qualified, values),
        rest=order_limit(params, qualified, values, tree._related(built, table, qualified)),
    )
    total = sql.SQL("NULL")
    if count == "exact":
        total = sql.SQL("(SELECT count(*) FROM ({}) AS pgrst_count)").format(counted(cache, table, params, values))
    return wrap(source, body, total=total)


def counted(cache, table, params: ReadParams, values: list) -> sql.Composed:
    """The rows a count counts: the read's filters (embeds' !inner included), no order or range."""
    qualified = sql.Identifier(table.schema, table.name)
    built = Tree(cache, params, values).build(table, params.select, params.filters, qualified)
    return sql.SQL("SELECT 1 FROM {table}{joins}{where}").format(
        table=qualified,
        joins=sql.Composed(built.joins) if built.conditions else sql.SQL(""),
        where=_where(built.filters, built.conditions, qualified, values),
    )


def returning(representation: bool) -> sql.Composable:
    return sql.SQL(" RETURNING {}.*") if representation else sql.SQL(" RETURNING 1")


def _outer(cache, table, params: ReadParams, representation: bool, values: list):
    """The representation of mutated rows (pgrst_source), embeds included: (columns, joins)."""
    if not representation:
        return sql.SQL("pgrst_source.*"), sql.SQL("")
    source = sql.Identifier("pgrst_source")
    tree = Tree(cache, params, values)
    built = tree.build(table, params.select, [], source)
    tree.check_used()
    return sql.SQL(", ").join(built.columns), sql.Composed(built.joins)


def insert(
    cache,
    table,
    columns: list[str],
    payload: str,
    representation: bool,
    params: ReadParams,
    body,
    values: list,
    conflict: tuple[list[str], str] | None = None,
    missing_default: bool = False,
):
    """POST (and PUT): json_populate_recordset over the payload; `conflict` is (columns, resolution)
    for an upsert, resolution "merge-duplicates" (DO UPDATE) or "ignore-duplicates" (DO NOTHING).
    With `missing_default` (Prefer: missing=default) a key a row lacks takes the column's default
    (its expression from the catalog), else NULL."""
    qualified = sql.Identifier(table.schema, table.name)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    values.append(payload)
    source = sql.SQL(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, "
        "(SELECT CASE WHEN json_typeof(j) = 'array' THEN j ELSE json_build_array(j) END "
        "FROM (SELECT {ph}::json AS j) AS pgrst_payload)) AS pgrst_body"
    ).format(table=qualified, cols=cols, ph=sql.Placeholder())
    defaults = {c.name: c.default for c in table.columns if c.default is not None}
    if missing_default and any(c in defaults for c in columns):
        picked = sql.SQL(", ").join(
            sql.SQL("CASE WHEN pgrst_row::jsonb ? {k} THEN pgrst_body.{c} ELSE {d} END").format(
                k=sql.Literal(c), c=sql.Identifier(c), d=sql.SQL(defaults[c])
            )
            if c in defaults
            else sql.SQL("pgrst_body.{}").format(sql.Identifier(c))
            for c in columns
        )
        source = sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {picked} FROM json_array_elements("
            "(SELECT CASE WHEN json_typeof(j) = 'array' THEN j ELSE json_build_array(j) END "
            "FROM (SELECT {ph}::json AS j) AS pgrst_payload)) AS pgrst_row, "
            "LATERAL json_populate_record(NULL::{table}, pgrst_row) AS pgrst_body"
        ).format(table=qualified, cols=cols, picked=picked, ph=sql.Placeholder())
    if not columns:
        source = sql.SQL("INSERT INTO {table} SELECT FROM json_array_elements({ph}::json)").format(
            table=qualified, ph=sql.Placeholder()
        )
    inserted = sql.SQL("NULL")
    if conflict:
        keys, resolution = conflict
        target = sql.SQL(", ").join(sql.Identifier(c) for c in keys)
        if resolution == "ignore-duplicates" or not columns:
            source += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(target)
        else:
            source += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                target,
                sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns),
            )
        inserted = sql.SQL("(SELECT count(*) FROM pgrst_source WHERE pgrst_source.pgrst_inserted)::int")
        all_columns = sql.SQL(", ").join(
            sql.SQL("{}.{}").format(qualified, sql.Identifier(c.name)) for c in table.columns
        )
        source += sql.SQL(" RETURNING {}, (xmax = 0) AS pgrst_inserted").format(all_columns)
        if representation and not params.select:
            params.select = [Item(Field(c.name)) for c in table.columns]
    else:
        source += returning(representation).format(qualified)
    outer, joins = _outer(cache, table, params, representation, values)
    if conflict and not representation:
        outer = sql.SQL("pgrst_source.pgrst_inserted")
    return wrap(source, body, outer, joins, inserted=inserted)


def update(cache, table, columns: list[str], payload: str, representation: bool, params: ReadParams, body, values):
    qualified = sql.Identifier(table.schema, table.name)
    values.append(payload)
    assignments = sql.SQL(", ").join(sql.SQL("{c} = pgrst_body.{c}").format(c=sql.Identifier(c)) for c in columns)
    source = sql.SQL(
        "UPDATE {table} SET {assign} FROM (SELECT * FROM json_populate_record(NULL::{table}, {ph}::json)) AS pgrst_body"
    ).format(table=qualified, assign=assignments, ph=sql.Placeholder())
    source += where_clause(params.filters, qualified, values) + returning(representation).format(qualified)
    outer, joins = _outer(cache, table, params, representation, values)
    return wrap(source, body, outer, joins)


def delete(cache, table, representation: bool, params: ReadParams, body, values: list):
    qualified = sql.Identifier(table.schema, table.name)
    source = sql.SQL("DELETE FROM {table}").format(table=qualified)
    source += where_clause(params.filters, qualified, values) + returning(representation).format(qualified)
    outer, joins = _outer(cache, table, params, representation, values)
    return wrap(source, body, outer, joins)


def call(
    function,
    arguments: dict,
    params: ReadParams,
    singular: bool,
    values: list,
    cache=None,
    count=None,
    whole_body: str | None = None,
) -> tuple[sql.Composed, str]:
    """The call of a function with named arguments (or, `whole_body`, the request body as its one unnamed
    json parameter); returns (query, kind) with kind in void / scalar / scalar_set / composite / set.
    A composite result can embed when its type is a table's; count="exact" totals a set's rows."""
    import json

    qualified = sql.Identifier(function.schema, function.name)
    used = [p for p in function.params if p.name in arguments]

    def arguments_sql(lateral_form: bool):
        """(named arguments, their FROM) with the arguments' placeholder appended to values."""
        if whole_body is not None:
            values.append(whole_body)
            return sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(function.params[0].type)), sql.SQL("")
        if not used:
            return sql.SQL(""), sql.SQL("")
        values.append(json.dumps(arguments))
        record = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(p.name), sql.SQL(p.type)) for p in used)
        named = sql.SQL(", ").join(
            sql.SQL("{v}{n} := pgrst_args.{n}").format(
                v=sql.SQL("VARIADIC " if p.variadic else ""), n=sql.Identifier(p.name)
            )
            for p in used
        )
        form = (
            "json_to_record({ph}::json) AS pgrst_args({record}), "
            if lateral_form
            else (" FROM json_to_record({ph}::json) AS pgrst_args({record})")
        )
        return named, sql.SQL(form).format(ph=sql.Placeholder(), record=record)

    if function.void:
        named, args_from = arguments_sql(False)
        invocation = sql.SQL("{}({})").format(qualified, named)
        return wrap(sql.SQL("SELECT {} AS pgrst_scalar").format(invocation) + args_from, BODY_NONE), "void"
    call_alias = sql.Identifier("pgrst_call")
    if function.composite:
        table = cache.tables.get(function.table_name) if cache else None
        named, lateral = arguments_sql(True)
        invocation = sql.SQL("{}({})").format(qualified, named)
        if params.has_embeds and table is None:
            raise embed.find(
                cache or _NO_CACHE,
                (function.schema, function.name),
                next(item for item in params.select if isinstance(item, embed.Embed)),
            )
        if table is not None:
            tree = Tree(cache, params, values)
            built = tree.build(table, params.select, params.filters, call_alias)
            tree.check_used()
            cols, joins, filters, conditions = built.columns, built.joins, built.filters, built.conditions
            related = tree._related(built, table, call_alias)
        else:
            cols, joins, filters, conditions, related = (
                [select_list(params.select, call_alias)],
                [],
                params.filters,
                [],
                None,
            )
        source = sql.SQL("SELECT {cols} FROM {lateral}{inv} AS pgrst_call{joins}{where}{rest}").format(
            cols=sql.SQL(", ").join(cols),
            lateral=lateral,
            inv=invocation,
            joins=sql.Composed(joins),
            where=_where(filters, conditions, call_alias, values),
            rest=order_limit(params, call_alias, values, related),
        )
        if function.returns_set:
            if count is None:
                return wrap(source, BODY_SINGLE if singular else BODY_ARRAY), "set"
            named, lateral = arguments_sql(True)
            counted_rows = sql.SQL("SELECT 1 FROM {lateral}{fn}({named}) AS pgrst_call{where}").format(
                lateral=lateral, fn=qualified, named=named, where=where_clause(params.filters, call_alias, values)
            )
            if count == "planned":  # the planner's estimate, read by Server.execute from the EXPLAIN
                query = wrap(source, BODY_SINGLE if singular else BODY_ARRAY)
                return query + sql.SQL("; EXPLAIN (FORMAT JSON) ") + counted_rows, "set"
            total = sql.SQL("(SELECT count(*) FROM ({}) AS pgrst_count)").format(counted_rows)
            return wrap(source, BODY_SINGLE if singular else BODY_ARRAY, total=total), "set"
        return wrap(source, BODY_SINGLE), "composite"
    if function.returns_set:
        named, lateral = arguments_sql(True)
        invocation = sql.SQL("{}({})").format(qualified, named)
        source = sql.SQL("SELECT pgrst_call AS pgrst_scalar FROM {lateral}{inv} AS pgrst_call").format(
            lateral=lateral, inv=invocation
        )
        return wrap(source, BODY_SCALAR_SET), "scalar_set"
    named, args_from = arguments_sql(False)
    invocation = sql.SQL("{}({})").format(qualified, named)
    return wrap(sql.SQL("SELECT {} AS pgrst_scalar").format(invocation) + args_from, BODY_SCALAR), "scalar"


class _NoCache:
    relationships: dict = {}
    tables: dict = {}


_NO_CACHE = _NoCache()
