"""The schema cache: tables, views, columns and functions of the exposed schemas.

Loaded at start-up and again on `NOTIFY pgrst, 'reload schema'` (see app.py), as PostgREST does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TABLES_SQL = """
select n.nspname, c.relname, c.relkind::text, obj_description(c.oid, 'pg_class'),
       coalesce(json_agg(json_build_object(
         'name', a.attname, 'nullable', not a.attnotnull,
         -- v16.2 SchemaCache.hs data_type: a built-in type without its modifier (numeric, not numeric(10,2))
         'type', format_type(a.atttypid, case when (select t.typnamespace from pg_type t where t.oid = a.atttypid)
           = 'pg_catalog'::regnamespace then null else a.atttypmod end),
         'default', pg_get_expr(d.adbin, d.adrelid), 'description', col_description(c.oid, a.attnum),
         'pk', coalesce(a.attnum = any(pk.conkey), false)) order by a.attnum)
         filter (where a.attnum is not null), '[]')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'f', 'p')
group by n.nspname, c.relname, c.relkind, c.oid
"""

FUNCTIONS_SQL = """
select n.nspname, p.proname, p.oid::int, p.provolatile::text, p.proretset,
       format_type(p.prorettype, null), t.typtype::text, (t.typrelid <> 0 or p.prorettype = 'record'::regtype),
       p.pronargs, p.pronargdefaults, coalesce(p.proargnames, '{}'),
       coalesce(p.proargmodes::text[], '{}'),
       array(select format_type(x, null) from unnest(p.proargtypes) with ordinality u(x, i) order by i),
       obj_description(p.oid, 'pg_proc'), p.prorows
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type t on t.oid = p.prorettype
where n.nspname = any(%s) and p.prokind = 'f'
"""


# Foreign keys between relations of the exposed schemas, with whether the referencing columns are a
# primary key or unique (one-to-one), as v14.1's SchemaCache.hs allM2OandO2ORels reads them.
FOREIGN_KEYS_SQL = """
select c.conname, ns.nspname, cs.relname, nf.nspname, cf.relname,
       array(select a.attname from unnest(c.conkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i),
       array(select a.attname from unnest(c.confkey) with ordinality k(n, i)
             join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i),
       exists(select from pg_constraint u where u.conrelid = c.conrelid and u.contype in ('p', 'u')
              and (select array_agg(x order by x) from unnest(u.conkey) x)
                = (select array_agg(x order by x) from unnest(c.conkey) x))
from pg_constraint c
join pg_class cs on cs.oid = c.conrelid join pg_namespace ns on ns.oid = cs.relnamespace
join pg_class cf on cf.oid = c.confrelid join pg_namespace nf on nf.oid = cf.relnamespace
where c.contype = 'f' and ns.nspname = any(%s) and nf.nspname = any(%s)
order by c.conname
"""


# Which base-table columns each view of the exposed schemas reads (its rewrite rule's dependencies).
VIEW_COLUMNS_SQL = """
select distinct vn.nspname, v.relname, tn.nspname, t.relname, a.attname
from pg_rewrite r
join pg_class v on v.oid = r.ev_class and v.relkind = 'v'
join pg_namespace vn on vn.oid = v.relnamespace
join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
join pg_class t on t.oid = d.refobjid and t.oid <> v.oid and t.relkind in ('r', 'p')
join pg_namespace tn on tn.oid = t.relnamespace
join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
where vn.nspname = any(%s)
"""


@dataclass
class Relationship:
    """One way to embed `foreign` in `table` (names as (schema, name)), PostgREST's Relationship."""

    table: tuple[str, str]
    foreign: tuple[str, str]
    cardinality: str  # "many-to-one", "one-to-one", "one-to-many" or "many-to-many"
    constraint: str
    columns: list[tuple[str, str]]  # (column of table, column of foreign); for m2m, unused
    junction: tuple[str, str] | None = None
    junction_constraints: tuple[str, str] = ("", "")
    junction_source: list[tuple[str, str]] = field(default_factory=list)  # (junction column, table column)
    junction_target: list[tuple[str, str]] = field(default_factory=list)  # (junction column, foreign column)
    referencing: bool = False  # `table` holds the foreign key (many-to-one, or one-to-one from that side)
    function: tuple[str, str] | None = None  # a computed relationship: this function of a `table` row

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("many-to-one", "one-to-one")

    @property
    def is_self(self) -> bool:
        return self.table == self.foreign


def relationships(foreign_keys: list, tables: dict) -> dict[tuple[str, str], list[Relationship]]:
    """Every relationship by origin: each foreign key both ways, plus many-to-many through a junction
    whose two foreign keys' columns are all in its primary key (SchemaCache.hs addM2MRels)."""
    found: dict[tuple[str, str], list[Relationship]] = {}
    many_to_one = []
    for name, schema, table, fschema, ftable, columns, fcolumns, unique in foreign_keys:
        origin, target, pairs = (schema, table), (fschema, ftable), list(zip(columns, fcolumns, strict=True))
        found.setdefault(origin, []).append(
            Relationship(origin, target, "one-to-one" if unique else "many-to-one", name, pairs, referencing=True)
        )
        found.setdefault(target, []).append(
            Relationship(target, origin, "one-to-one" if unique else "one-to-many", name, [(f, c) for c, f in pairs])
        )
        if not unique:
            many_to_one.append((origin, target, name, pairs))
    for junction, first, first_name, first_pairs in many_to_one:
        keys = {c.name for c in tables[junction].columns if c.pk} if junction in tables else set()
        for other, second, second_name, second_pairs in many_to_one:
            if other != junction or second_name == first_name:
                continue
            if {c for c, _ in first_pairs} | {c for c, _ in second_pairs} <= keys:
                found.setdefault(first, []).append(
                    Relationship(
                        first,
                        second,
                        "many-to-many",
                        "",
                        [],
                        junction,
                        (first_name, second_name),
                        first_pairs,
                        second_pairs,
                    )
                )
    return found


def view_relationships(found: dict, view_columns: list, tables: dict) -> None:
    """A view over one table gets that table's foreign keys whose columns it shows under their own
    names (v14.1 infers view relationships from the view's definition; this covers the plain
    `select ... from table` view, where a renamed key column gives no relationship)."""
    used: dict[tuple, dict[tuple, set]] = {}
    for vschema, view, tschema, table, column in view_columns:
        used.setdefault((vschema, view), {}).setdefault((tschema, table), set()).add(column)
    for view, bases in used.items():
        if len(bases) != 1 or view not in tables:
            continue
        ((base, columns),) = bases.items()
        shown = columns & tables[view].column_names
        for rel in list(found.get(base, [])):
            if rel.junction or not {c for c, _ in rel.columns} <= shown:
                continue
            forward = Relationship(
                view, rel.foreign, rel.cardinality, rel.constraint, rel.columns, referencing=rel.referencing
            )
            found.setdefault(view, []).append(forward)
            backward = {"many-to-one": "one-to-many", "one-to-many": "many-to-one"}.get(
                rel.cardinality, rel.cardinality
            )
            found.setdefault(rel.foreign, []).append(
                Relationship(
                    rel.foreign,
                    view,
                    backward,
                    rel.constraint,
                    [(f, c) for c, f in rel.columns],
                    referencing=not rel.referencing,
                )
            )


def computed_relationships(found: dict, functions: dict, tables: dict) -> None:
    """A function taking one row of a table and returning rows of a table is a computed relationship
    (v14.1 SchemaCache.hs allComputedRels), named by the function; ROWS 1 or no SETOF makes it to-one."""
    for (schema, name), overloads in functions.items():
        for function in overloads:
            if len(function.params) != 1 or function.table_name not in tables:
                continue
            kind = function.params[0].type
            origin = tuple(kind.split(".", 1)) if "." in kind else (schema, kind)
            if origin not in tables:
                continue
            cardinality = "many-to-one" if function.one_row else "one-to-many"
            found.setdefault(origin, []).append(
                Relationship(origin, function.table_name, cardinality, name, [], function=(schema, name))
            )


@dataclass
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None
    pk: bool
    description: str | None = None


@dataclass
class Table:
    schema: str
    name: str
    kind: str
    description: str | None
    columns: list[Column]

    @property
    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}


@dataclass
class Param:
    name: str
    type: str
    required: bool
    variadic: bool = False


@dataclass
class Function:
    schema: str
    name: str
    oid: int
    volatile: bool
    returns_set: bool
    return_type: str
    composite: bool
    params: list[Param]
    description: str | None = None
    table_name: tuple[str, str] | None = None  # the table whose row type it returns
    one_row: bool = True  # not SETOF, or ROWS 1: a computed relationship through it is to-one

    @property
    def single_unnamed(self) -> bool:
        """One unnamed json or jsonb parameter: a POST's whole body is its argument (RpcSpec)."""
        return len(self.params) == 1 and not self.params[0].name and self.params[0].type in ("json", "jsonb")

    @property
    def void(self) -> bool:
        return self.return_type == "void" and not self.returns_set


@dataclass
class SchemaCache:
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    functions: dict[tuple[str, str], list[Function]] = field(default_factory=dict)
    relationships: dict[tuple[str, str], list[Relationship]] = field(default_factory=dict)
    # Query texts of plain calls (no select, filter, order or paging), built once per schema load
    calls: dict[tuple, object] = field(default_factory=dict)  # (query.Text, kind), or a plain read's Text

    def table_names(self, schema: str) -> list[str]:
        return sorted(name for (s, name) in self.tables if s == schema)

    def function_names(self, schema: str) -> list[str]:
        return sorted(name for (s, name) in self.functions if s == schema)


def _function(row) -> Function:
    (
        schema,
        name,
        oid,
        volatility,
        retset,
        rettype,
        _typtype,
        composite,
        nargs,
        ndefaults,
        argnames,
        argmodes,
        argtypes,
        description,
        rows,
    ) = row
    params, position = [], 0
    modes = argmodes or ["i"] * len(argtypes)
    inputs = [
        (argnames[i] if i < len(argnames) else "", mode) for i, mode in enumerate(modes) if mode in ("i", "b", "v")
    ]
    for position, type_name in enumerate(argtypes):
        pname, mode = inputs[position] if position < len(inputs) else ("", "i")
        params.append(Param(pname, type_name, required=position < nargs - ndefaults, variadic=mode == "v"))
    # OUT/INOUT parameters make the result an object named after them, even a single one (RpcSpec)
    composite = bool(composite) or any(mode in ("o", "b") for mode in modes)
    table = tuple(rettype.split(".", 1)) if "." in rettype else (schema, rettype)
    return Function(
        schema,
        name,
        oid,
        volatility == "v",
        retset,
        rettype,
        composite,
        params,
        description,
        table_name=table,
        one_row=not retset or rows == 1,
    )


async def load(conn, schemas: tuple[str, ...]) -> SchemaCache:
    cache = SchemaCache()
    cur = await conn.execute(TABLES_SQL, [list(schemas)])
    for schema, name, kind, description, columns in await cur.fetchall():
        cache.tables[(schema, name)] = Table(
            schema,
            name,
            kind,
            description,
            [Column(c["name"], c["type"], c["nullable"], c["default"], c["pk"], c["description"]) for c in columns],
        )
    cur = await conn.execute(FOREIGN_KEYS_SQL, [list(schemas), list(schemas)])
    cache.relationships = relationships(await cur.fetchall(), cache.tables)
    cur = await conn.execute(VIEW_COLUMNS_SQL, [list(schemas)])
    view_relationships(cache.relationships, await cur.fetchall(), cache.tables)
    cur = await conn.execute(FUNCTIONS_SQL, [list(schemas)])
    for row in await cur.fetchall():
        function = _function(row)
        cache.functions.setdefault((function.schema, function.name), []).append(function)
    computed_relationships(cache.relationships, cache.functions, cache.tables)
    return cache


# ---- fuzzy hints, after Haskell's FuzzySet (gram cosine similarity, then Levenshtein) ----------


def _grams(text: str, size: int) -> dict[str, int]:
    padded = "-" + text.lower() + "-"
    counts: dict[str, int] = {}
    for i in range(max(len(padded) - size + 1, 1)):
        gram = padded[i : i + size]
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _may_reach(candidate: str, wanted: str, wanted_lower: int, min_score: float) -> bool:
    """Whether the candidate's score can reach min_score at all: the edit distance is at least
    the difference in length, so the score is at most 1 - that difference / the longer length."""
    longer = max(len(candidate), len(wanted)) or 1
    return 1 - abs(len(candidate.lower()) - wanted_lower) / longer >= min_score


def fuzzy_one(candidates: list[str], wanted: str, min_score: float) -> str | None:
    # The same answer as without this check, but a request's megabyte of text is never
    # compared character by character (that held the event loop for seconds, issue 13): the
    # text is then at most 1 / min_score times as long as a name in the schema cache.
    wanted_lower = len(wanted.lower())
    if not any(_may_reach(candidate, wanted, wanted_lower, min_score) for candidate in candidates):
        return None
    for size in (3, 2):
        target = _grams(wanted, size)
        norm_t = sum(v * v for v in target.values()) ** 0.5
        scored = []
        for candidate in candidates:
            grams = _grams(candidate, size)
            dot = sum(count * grams.get(gram, 0) for gram, count in target.items())
            norm_c = sum(v * v for v in grams.values()) ** 0.5
            if dot and norm_t and norm_c:
                scored.append(candidate)
        if scored:
            rescored = sorted(
                ((1 - _levenshtein(c.lower(), wanted.lower()) / max(len(c), len(wanted)), c) for c in scored),
                reverse=True,
            )
            best_score, best = rescored[0]
            return best if best_score >= min_score else None
    return None
