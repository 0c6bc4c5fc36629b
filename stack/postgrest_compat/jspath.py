"""jwt-role-claim-key paths: .role, ."https://example.com/role", .roles[0], .roles[?(@ ^== "app_")].

The grammar of v14.1's src/PostgREST/Config/JSPath.hs: keys, indexes, and one filter, last.
"""

from __future__ import annotations

import json
import re


class JSPathError(ValueError):
    pass


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


def parse_jspath(text: str) -> tuple:
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
    return tuple(steps)


def walk(claims, path: tuple):
    """The role named by the path, or None; non-string values are JSON-encoded as PostgREST does."""
    value = claims
    for kind, step in path:
        if kind == "key" and isinstance(value, dict) and step in value:
            value = value[step]
        elif kind == "index" and isinstance(value, list) and step < len(value):
            value = value[step]
        elif kind == "filter" and isinstance(value, list):
            operator, pattern = step
            value = next((item for item in value if isinstance(item, str) and MATCHES[operator](pattern, item)), None)
        else:
            return None
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
