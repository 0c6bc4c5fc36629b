"""Resource embedding: `select=title,authors(name)` resolved against the schema cache's foreign keys
and built as one lateral join per embedded resource.

Which relationship an embed means follows v14.1's src/PostgREST/Plan.hs `findRel` (target = table,
constraint or column; hint = constraint, column or junction), and its errors PGRST200/PGRST201 are
Error.hs's NoRelBetween and AmbiguousRelBetween. A to-one embed is an object or null; a to-many one
an array; `!inner` (or `embed=not.is.null`) keeps only parents that have a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

from . import errors, schema


@dataclass
class Embed:
    target: str
    items: list  # of query.Item, Embed and "*"
    alias: str | None = None
    hint: str | None = None
    join: str | None = None  # "inner" or "left"
    spread: bool = False

    @property
    def key(self) -> str:
        return self.alias or self.target


@dataclass
class Built:
    """A select list's SQL: its output expressions, the lateral joins they read, and the conditions
    (`!inner`, `embed=is.null`) the parent's WHERE must add."""

    columns: list = field(default_factory=list)
    joins: list = field(default_factory=list)
    conditions: list = field(default_factory=list)


def _matches_column(hint: str, rel: schema.Relationship, side: int) -> bool:
    return len(rel.columns) == 1 and rel.columns[0][side] == hint


def find(cache, origin: tuple[str, str], embed: Embed) -> schema.Relationship:
    """The one relationship `embed` names from `origin`, else PGRST200 / PGRST201."""
    target, hint = embed.target, embed.hint
    found = []
    relationships = cache.relationships.get(origin, [])
    computed = [rel for rel in relationships if rel.function and rel.function[1] == target and hint is None]
    if computed:  # a computed relationship overrides the foreign keys of the same name
        relationships = computed[:1]
    for rel in relationships:
        foreign_name = rel.foreign[1]
        if rel.function:
            ok = target == rel.function[1] and hint is None
        elif rel.cardinality == "many-to-many":
            ok = target == foreign_name and (hint is None or hint == rel.junction[1])
        elif rel.is_self:
            if hint is None:
                ok = (target == foreign_name and rel.cardinality == "one-to-many") or (
                    rel.cardinality == "many-to-one" and _matches_column(target, rel, 0)
                )
            else:
                ok = target == foreign_name and rel.cardinality == "one-to-many" and _matches_column(hint, rel, 1)
        elif hint is None:
            ok = target in (foreign_name, rel.constraint) or _matches_column(target, rel, 0)
        else:
            ok = target == foreign_name and (
                hint == rel.constraint or _matches_column(hint, rel, 0) or _matches_column(hint, rel, 1)
            )
        if ok:
            found.append(rel)
    if len(found) == 1:
        return found[0]
    if not found:
        raise no_relationship(cache, origin, embed)
    raise errors.ApiError(
        300,
        "PGRST201",
        f"Could not embed because more than one relationship was found for '{origin[1]}' and '{target}'",
        [_described(rel) for rel in found],
        f"Try changing '{target}' to one of the following: "
        + ", ".join(f"'{rel.foreign[1]}!{rel.junction[1] if rel.junction else rel.constraint}'" for rel in found)
        + ". Find the desired relationship in the 'details' key.",
    )


def no_relationship(cache, origin, embed: Embed) -> errors.ApiError:
    using = f"' using the hint '{embed.hint}" if embed.hint else ""
    children = sorted({rel.foreign[1] for rel in cache.relationships.get(origin, [])})
    suggestion = schema.fuzzy_one(children, embed.target, 0.33) if children else None
    hint = None
    if suggestion and suggestion != embed.target:
        hint = f"Perhaps you meant '{suggestion}' instead of '{embed.target}'."
    return errors.ApiError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{origin[1]}' and '{embed.target}' in the schema cache",
        f"Searched for a foreign key relationship between '{origin[1]}' and '{embed.target}{using}' "
        f"in the schema '{origin[0]}', but no matches were found.",
        hint,
    )


def _described(rel: schema.Relationship) -> dict:
    def columns(names):
        return "(" + ", ".join(names) + ")"

    if rel.junction:
        first, second = rel.junction_constraints
        text = (
            f"{rel.junction[1]} using {first}{columns(j for j, _ in rel.junction_source)} "
            f"and {second}{columns(j for j, _ in rel.junction_target)}"
        )
    else:
        text = (
            f"{rel.constraint} using {rel.table[1]}{columns(c for c, _ in rel.columns)} "
            f"and {rel.foreign[1]}{columns(f for _, f in rel.columns)}"
        )
    return {"cardinality": rel.cardinality, "embedding": f"{rel.table[1]} with {rel.foreign[1]}", "relationship": text}


def join_condition(rel: schema.Relationship, child: sql.Composable, parent: sql.Composable) -> sql.Composable:
    if rel.junction is None:
        return sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(child, sql.Identifier(f), parent, sql.Identifier(c)) for c, f in rel.columns
        )
    junction = sql.Identifier(*rel.junction)
    pairs = [(junction, j, child, f) for j, f in rel.junction_target] + [
        (junction, j, parent, c) for j, c in rel.junction_source
    ]
    return sql.SQL("EXISTS (SELECT 1 FROM {} WHERE {})").format(
        junction,
        sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(a, sql.Identifier(ac), b, sql.Identifier(bc)) for a, ac, b, bc in pairs
        ),
    )
