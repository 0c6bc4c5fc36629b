"""jwt-role-claim-key: an RFC 9535 JSON Path (`$.role`, `$.roles[0]`, `$["https://example.com/role"]`,
`$.roles[?@ == "app"]`, `$.roles[?search(@, "^app_")]`), or the deprecated pre-v16 syntax (`.role`,
`.roles[?(@ ^== "app_")]`), which is still accepted with a warning.

As v16.2's src/library/PostgREST/Config.hs parseRoleClaimKey: the value is read as JSON Path first, and
only if that fails as the old syntax (Config/DeprecatedJSPath.hs); the role is the first node the path
selects (Config/JSPath.hs evaluateJSPath). Of RFC 9535 this reads name, index, wildcard and filter
selectors, child and descendant segments; filters compare a relative path (`@`, `@.x`) with a literal,
combine with `&&`, `||`, `!` and parentheses, and call match() or search(). Slices and other functions are
refused at start with a message that names them.
"""

from __future__ import annotations

import json
import re


class JSPathError(ValueError):
    pass


# ---- the deprecated syntax (v16.2 Config/DeprecatedJSPath.hs) ----------------------------------------

_STEP = re.compile(r'\.(?:"([^"]*)"|([A-Za-z0-9_$@]+))|\[(\d+)\]')
# ==^ before ==, as PostgREST tries them: "ends with" would otherwise read as "equals" plus a stray ^
_FILTER = re.compile(r'\[\?\(@\s*(==\^|==|!=|\^==|\*==)\s*"([^"]*)"\)\]$')
MATCHES = {
    "==": lambda pattern, text: text == pattern,
    "!=": lambda pattern, text: text != pattern,
    "^==": lambda pattern, text: text.startswith(pattern),
    "==^": lambda pattern, text: text.endswith(pattern),
    "*==": lambda pattern, text: pattern in text,
}


def parse_deprecated(text: str) -> tuple:
    steps, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _STEP.match(text, position)
        if match:
            quoted, plain, index = match.groups()
            steps.append(
                ("index", int(index)) if index is not None else ("key", quoted if quoted is not None else plain)
            )
            position = match.end()
            continue
        condition = _FILTER.match(text, position)
        if not condition:
            raise JSPathError(f"cannot parse {text!r} at position {position}")
        steps.append(("filter", condition.groups()))
        position = condition.end()
    if not steps:
        raise JSPathError("empty path")
    return ("deprecated", tuple(steps))


def dump_deprecated(path: tuple) -> str:
    """DeprecatedJSPath.hs dumpDeprecatedJSPath: keys quoted, as the start-up warning shows them."""
    parts = []
    for kind, step in path[1]:
        if kind == "key":
            parts.append("." + json.dumps(step))
        elif kind == "index":
            parts.append(f"[{step}]")
        else:
            parts.append(f"[?(@ {step[0]} {json.dumps(step[1])})]")
    return "".join(parts)


def _walk_deprecated(claims, steps):
    value = claims
    for kind, step in steps:
        if kind == "key" and isinstance(value, dict) and step in value:
            value = value[step]
        elif kind == "index" and isinstance(value, list) and step < len(value):
            value = value[step]
        elif kind == "filter" and isinstance(value, list):
            operator, pattern = step
            value = next((item for item in value if isinstance(item, str) and MATCHES[operator](pattern, item)), None)
        else:
            return None
    return value


# ---- RFC 9535 --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)
    | (?P<op>\.\.|==|!=|<=|>=|&&|\|\||[$@.\[\]()*?,:<>!])
    | (?P<name>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)
    )""",
    re.X,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JSPathError(f"unexpected {text[position:]!r} at position {position}")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _string(literal: str) -> str:
    if literal.startswith("'"):
        literal = '"' + literal[1:-1].replace('\\"', '"').replace("\\'", "'").replace('"', '\\"') + '"'
    return json.loads(literal)


class _Parser:
    def __init__(self, text: str):
        self.tokens, self.at = _tokens(text), 0

    def peek(self, offset: int = 0):
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind) or token is None:
            raise JSPathError(f"expected {value or kind} at token {self.at + 1}, found {token!r}")
        self.at += 1
        return token

    def query(self, root: str) -> list:
        self.take(root)
        segments = []
        while self.peek()[1] in (".", "..", "["):
            token = self.take()
            descendant = token == ".."
            if token == "[" or (descendant and self.peek()[1] == "["):
                if descendant:
                    self.take("[")
                selectors = [self.selector()]
                while self.peek()[1] == ",":
                    self.take(",")
                    selectors.append(self.selector())
                self.take("]")
            elif self.peek()[1] == "*":
                self.take("*")
                selectors = [("wildcard", None)]
            else:
                selectors = [("name", self.take(kind="name"))]
            segments.append((descendant, selectors))
        return segments

    def selector(self):
        kind, token = self.peek()
        if kind == "string":
            self.take()
            return ("name", _string(token))
        if token == "*":
            self.take()
            return ("wildcard", None)
        if kind == "number" and re.fullmatch(r"-?[0-9]+", token):
            self.take()
            if self.peek()[1] == ":":
                raise JSPathError("array slices are not supported by this server")
            return ("index", int(token))
        if token == ":":
            raise JSPathError("array slices are not supported by this server")
        if token == "?":
            self.take()
            return ("filter", self.logical_or())
        raise JSPathError(f"unexpected {token!r} in a selector")

    def logical_or(self):
        left = self.logical_and()
        while self.peek()[1] == "||":
            self.take()
            left = ("or", left, self.logical_and())
        return left

    def logical_and(self):
        left = self.basic()
        while self.peek()[1] == "&&":
            self.take()
            left = ("and", left, self.basic())
        return left

    def basic(self):
        kind, token = self.peek()
        if token == "!":
            self.take()
            return ("not", self.basic())
        if token == "(":
            self.take()
            inner = self.logical_or()
            self.take(")")
            return inner
        left = self.comparable()
        if self.peek()[1] in ("==", "!=", "<", "<=", ">", ">="):
            operator = self.take()
            return ("compare", operator, left, self.comparable())
        if left[0] == "path":
            return ("exists", left)
        if left[0] == "call" and left[1] in ("match", "search"):
            return left
        raise JSPathError(f"a filter needs a comparison, found {token!r}")

    def comparable(self):
        kind, token = self.peek()
        if kind == "string":
            self.take()
            return ("literal", _string(token))
        if kind == "number":
            self.take()
            return ("literal", json.loads(token))
        if kind == "name" and token in ("true", "false", "null"):
            self.take()
            return ("literal", json.loads(token))
        if token in ("@", "$"):
            return ("path", token, self.query(token))
        if kind == "name" and self.peek(1)[1] == "(":
            if token not in ("match", "search"):
                raise JSPathError(f"the function {token}() is not supported by this server")
            self.take()
            self.take("(")
            argument = self.comparable()
            self.take(",")
            pattern = self.comparable()
            self.take(")")
            return ("call", token, argument, pattern)
        raise JSPathError(f"unexpected {token!r} in a filter")


def parse_json_path(text: str) -> tuple:
    parser = _Parser(text.strip())
    segments = parser.query("$")
    if parser.peek()[1] is not None:
        raise JSPathError(f"unexpected {parser.peek()[1]!r} after the path")
    return ("jsonpath", segments)


def _children(value, selector, root):
    kind, argument = selector
    if kind == "name":
        if isinstance(value, dict) and argument in value:
            yield value[argument]
    elif kind == "index":
        if isinstance(value, list) and -len(value) <= argument < len(value):
            yield value[argument]
    elif kind == "wildcard":
        yield from value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    elif kind == "filter":
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        yield from (item for item in items if _test(argument, item, root))


def _descendants(value):
    yield value
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        yield from _descendants(child)


def _select(segments, value, root) -> list:
    nodes = [value]
    for descendant, selectors in segments:
        found = []
        for node in nodes:
            for start in _descendants(node) if descendant else (node,):
                for selector in selectors:
                    found.extend(_children(start, selector, root))
        nodes = found
    return nodes


_NOTHING = object()


def _value(expression, current, root):
    kind = expression[0]
    if kind == "literal":
        return expression[1]
    if kind == "path":
        nodes = _select(expression[2], current if expression[1] == "@" else root, root)
        return nodes[0] if len(nodes) == 1 else _NOTHING
    raise JSPathError("a function result cannot be compared")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(operator, left, right) -> bool:
    """RFC 9535 2.3.5.2.2: == on equal values (numbers by value), < and > on two numbers or two strings."""
    if operator in ("==", "!="):
        if _number(left) and _number(right):
            equal = left == right
        else:
            equal = left is right or (left is not _NOTHING and type(left) is type(right) and left == right)
        return equal if operator == "==" else not equal
    if not ((_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str))):
        return operator in ("<=", ">=") and _compare("==", left, right)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


def _test(expression, current, root) -> bool:
    kind = expression[0]
    if kind == "or":
        return _test(expression[1], current, root) or _test(expression[2], current, root)
    if kind == "and":
        return _test(expression[1], current, root) and _test(expression[2], current, root)
    if kind == "not":
        return not _test(expression[1], current, root)
    if kind == "exists":
        path = expression[1]
        return bool(_select(path[2], current if path[1] == "@" else root, root))
    if kind == "compare":
        return _compare(expression[1], _value(expression[2], current, root), _value(expression[3], current, root))
    if kind == "call":
        text, pattern = _value(expression[2], current, root), _value(expression[3], current, root)
        if not isinstance(text, str) or not isinstance(pattern, str):
            return False
        try:  # RFC 9535 I-Regexp; Python's re reads the common subset the same way
            found = re.fullmatch(pattern, text) if expression[1] == "match" else re.search(pattern, text)
        except re.error:
            return False
        return found is not None
    raise JSPathError(f"cannot evaluate {kind}")


def parse_jspath(text: str) -> tuple:
    """The JSON Path, else the deprecated syntax (is_deprecated tells which); both failing is an error."""
    try:
        return parse_json_path(text)
    except JSPathError as error:
        try:
            return parse_deprecated(text)
        except JSPathError:
            raise error from None


def is_deprecated(path: tuple) -> bool:
    return path[0] == "deprecated"


def deprecation_warning(path: tuple) -> list[str]:
    """v16.2 src/library/PostgREST/Logger.hs DeprecatedJSPathSyntaxObs, word for word."""
    shown = f"`jwt-role-claim-key={dump_deprecated(path)}`"
    return [
        f"WARNING: The config {shown} is using the deprecated JSPath syntax.",
        f"Update {shown} to the new JSONPath syntax as support for JSPath will be removed in a future release. "
        "See the migration guide on how to update: "
        "https://github.com/PostgREST/postgrest/blob/main/CHANGELOG.md#migration-to-v16",
    ]


def walk(claims, path: tuple):
    """The role named by the path, or None; non-string values are JSON-encoded as PostgREST does."""
    if path[0] == "deprecated":
        value = _walk_deprecated(claims, path[1])
    else:
        nodes = _select(path[1], claims, claims)
        value = nodes[0] if nodes else None
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
