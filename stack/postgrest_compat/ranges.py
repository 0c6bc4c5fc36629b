"""Prefer and Range headers, and the Content-Range and status they lead to, as PostgREST v16.2 reads
and writes them (src/library/PostgREST/ApiRequest/Preferences.hs, RangeQuery.hs, ApiRequest.hs)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import errors

# Each preference's accepted values; the first one given of a kind wins, as Preferences.hs parsePrefs.
KINDS = {
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "missing": ("default", "null"),
    "return": ("representation", "minimal", "headers-only"),
    "count": ("exact", "planned", "estimated"),
    "handling": ("strict", "lenient"),
}
ACCEPTED = {f"{kind}={value}" for kind, options in KINDS.items() for value in options} | {"tx=commit", "tx=rollback"}


@dataclass
class Preferences:
    chosen: dict[str, str] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)

    def get(self, kind: str) -> str | None:
        return self.chosen.get(kind)

    @property
    def max_affected(self) -> int | None:
        """max-affected=N, which counts only with handling=strict (Preferences.hs)."""
        if self.get("handling") != "strict" or "max-affected" not in self.chosen:
            return None
        return int64(self.chosen["max-affected"])

    def applied(self, *kinds: str) -> list[tuple[str, str]]:
        """Preference-Applied with the given kinds that were asked for, in Preferences.hs's order."""
        order = ("resolution", "missing", "return", "count", "tx", "handling", "timezone")
        kinds = (*kinds, "tx")  # every answer names an applied tx= (RollbackSpec)
        values = [f"{kind}={self.chosen[kind]}" for kind in order if kind in kinds and kind in self.chosen]
        if "max-affected" in kinds and self.max_affected is not None:
            values.append(f"max-affected={self.max_affected}")
        return [("Preference-Applied", ", ".join(values))] if values else []


def preferences(headers: list[str], allow_tx: bool = False) -> Preferences:
    """Every Prefer header, split on commas; with handling=strict an unknown one is PGRST122.
    timezone= is always taken: PostgreSQL refuses a zone it does not know (22023), whatever the
    handling (v16.2 Preferences.hs fromHeaders; CHANGELOG 16.0, #5128). tx= counts only when db-tx-end
    allows an override (allow_tx); otherwise it is accepted and ignored."""
    found = Preferences()
    for header in headers:
        for item in (part.strip() for part in header.split(",")):
            if not item:
                continue
            kind, _, value = item.partition("=")
            if item in ACCEPTED:
                if kind in KINDS or (kind == "tx" and allow_tx):
                    found.chosen.setdefault(kind, value)
            elif kind == "timezone":
                found.chosen.setdefault(kind, value)
            elif kind == "max-affected" and re.fullmatch(r"-?[0-9]+", value):
                found.chosen.setdefault(kind, value)
            elif kind != "max-affected":
                found.invalid.append(item)
    if found.get("handling") == "strict" and found.invalid:
        raise errors.ApiError(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
            "Invalid preferences: " + ", ".join(found.invalid),
        )
    return found


_RANGE = re.compile(r"^([0-9]+)-([0-9]*)$")
BIGINT_MAX = 2**63 - 1


def integer(digits: str) -> int:
    """Decimal digits as an int, however many (Python's int() refuses over 4300 digits)."""
    import decimal

    sign, digits = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
    digits = digits.lstrip("0") or "0"
    if len(digits) <= 4000:
        return int(sign + digits)
    with decimal.localcontext() as context:
        context.prec = len(digits) + 1
        return int(decimal.Decimal(sign + digits))


def int64(digits: str) -> int:
    """GHC's `readMaybe :: Int64`, as Preferences.hs reads max-affected: the value modulo 2^64."""
    value = integer(digits) % 2**64
    return value - 2**64 if value > BIGINT_MAX else value


def bigint_refusal(value: int) -> errors.ApiError:
    """PostgreSQL's answer to a LIMIT or OFFSET parameter beyond bigint (int8in): 400, 22003."""
    import decimal

    shown = str(decimal.Decimal(value))  # str(int) too refuses over 4300 digits
    return errors.ApiError(400, "22003", f'value "{shown}" is out of range for type bigint')


def top_level(range_header: str | None, limit: int | None, offset: int | None) -> tuple[int, int | None]:
    """(offset, limit) from the Range header (GET only; the caller passes None otherwise) intersected
    with limit/offset; an empty intersection is 416 PGRST103, except limit=0."""
    lower, upper = 0, None
    header_empty = False
    if range_header:
        match = _RANGE.match(range_header.strip())
        if match:
            lower, upper = integer(match.group(1)), integer(match.group(2)) if match.group(2) else None
            header_empty = upper is not None and upper < lower
    if limit == 0:
        return offset or 0, 0
    start = max(lower, offset or 0)
    ends = [end for end in (upper, None if limit is None else (offset or 0) + limit - 1) if end is not None]
    end = min(ends) if ends else None
    if header_empty or (end is not None and end < start):
        detail = (
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
            if header_empty
            else "Limit should be greater than or equal to zero."
        )
        raise errors.ApiError(416, "PGRST103", "Requested range not satisfiable", detail)
    count = None if end is None else end - start + 1
    # v16.2 sends both as parameters (SqlFragment.hs limitOffsetF), LIMIT first: past bigint,
    # PostgreSQL refuses the first that does not fit.
    for value in (count, start):
        if value is not None and value > BIGINT_MAX:
            raise bigint_refusal(value)
    return start, count


def content_range(lower: int, upper: int, total: int | None) -> str:
    """RangeQuery.hs contentRangeH: "lower-upper/total", "*" for an empty range or an unknown total."""
    shown = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{shown}/{'*' if total is None else total}"


def status(lower: int, rows: int, total: int | None) -> int:
    """RangeQuery.hs rangeStatus: 416 past the end, 206 for part of the total, else 200."""
    if total is None:
        return 200
    if lower > total:
        return 416
    return 206 if rows < total else 200


def out_of_bounds(lower: int, total: int) -> errors.ApiError:
    return errors.ApiError(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        f"An offset of {lower} was requested, but there are only {total} rows.",
        headers=[("Content-Range", f"*/{total}")],
    )
