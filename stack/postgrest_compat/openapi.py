"""GET / : the OpenAPI 2.0 description of the default schema, as PostgREST generates it."""

from __future__ import annotations

import json

from . import FOLLOWS

MEDIA = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
]

_TYPES = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "json": None,  # any JSON: no type
    "jsonb": None,
}


# v16.2 OpenAPI.hs toSwaggerFormat (since 14.8, PR 4641): OpenAPI 2.0's integer formats; any other
# type's format is its PostgreSQL name.
_FORMATS = {"smallint": "int32", "integer": "int32", "bigint": "int64"}


def swagger_type(type_name: str) -> str | None:
    """v16.2 src/library/PostgREST/Response/OpenAPI.hs toSwaggerType."""
    if type_name in _TYPES:
        return _TYPES[type_name]
    return "array" if type_name.endswith("[]") else "string"


def _typed(type_name: str) -> dict:
    """type (when it has one), format, and items for an array, as makeProperty/makeProcProperty set them."""
    found = {"format": _FORMATS.get(type_name, type_name)}
    kind = swagger_type(type_name)
    if kind:
        found["type"] = kind
    if kind == "array":
        element = swagger_type(type_name[:-2])
        found["items"] = {"type": element} if element else {}
    return found


def _default(column):
    """OpenAPI.hs parseDefault: a string type's default unquoted and uncast, others as JSON (a default
    that is no JSON value, such as nextval(...), is left out)."""
    text = column.default
    if swagger_type(column.type) == "string":
        if text.endswith("::" + column.type):
            text = text[: -len("::" + column.type)].strip("'")
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _property(column, foreign_key: tuple[str, str] | None) -> dict:
    prop = _typed(column.type)
    if column.default is not None and _default(column) is not None:
        prop["default"] = _default(column)
    notes = ["Note:"]
    if column.pk:
        notes.append("This is a Primary Key.<pk/>")
    if foreign_key:
        table, target = foreign_key
        notes.append(f"This is a Foreign Key to `{table}.{target}`.<fk table='{table}' column='{target}'/>")
    description = column.description
    if len(notes) > 1:
        description = (description + "\n\n" if description else "") + "\n".join(notes)
    if description:
        prop["description"] = description
    return prop


def foreign_keys(cache, table) -> dict[str, tuple[str, str]]:
    """Each single-column foreign key of the table: its column -> (referenced table, column)."""
    found = {}
    for rel in cache.relationships.get((table.schema, table.name), []):
        if rel.referencing and len(rel.columns) == 1:
            column, target = rel.columns[0]
            found.setdefault(column, (rel.foreign[1], target))
    return found


def document(
    cache, schema: str, tables: set[str], functions: set[int], description: str | None, host: str, port: int
) -> dict:
    title, _, rest = (description or "").partition("\n")
    paths: dict = {
        "/": {
            "get": {
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
                "summary": "OpenAPI description (this document)",
                "tags": ["Introspection"],
            }
        }
    }
    definitions: dict = {}
    parameters: dict = {
        "preferParams": {
            "name": "Prefer",
            "description": "Preference",
            "required": False,
            "enum": ["params=single-object"],
            "in": "header",
            "type": "string",
        },
        "preferReturn": {
            "name": "Prefer",
            "description": "Preference",
            "required": False,
            "enum": ["return=representation", "return=minimal", "return=none"],
            "in": "header",
            "type": "string",
        },
        "preferCount": {
            "name": "Prefer",
            "description": "Preference",
            "required": False,
            "enum": ["count=none"],
            "in": "header",
            "type": "string",
        },
        "select": {
            "name": "select",
            "description": "Filtering Columns",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "on_conflict": {
            "name": "on_conflict",
            "description": "On Conflict",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "order": {"name": "order", "description": "Ordering", "required": False, "in": "query", "type": "string"},
        "range": {
            "name": "Range",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "header",
            "type": "string",
        },
        "rangeUnit": {
            "name": "Range-Unit",
            "description": "Limiting and Pagination",
            "required": False,
            "default": "items",
            "in": "header",
            "type": "string",
        },
        "offset": {
            "name": "offset",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "limit": {
            "name": "limit",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "query",
            "type": "string",
        },
    }
    for name in cache.table_names(schema):
        if name not in tables:
            continue
        table = cache.tables[(schema, name)]
        required = [c.name for c in table.columns if not c.nullable and c.default is None]
        references = foreign_keys(cache, table)
        definition = {
            "properties": {c.name: _property(c, references.get(c.name)) for c in table.columns},
            "type": "object",
        }
        if required:
            definition["required"] = required
        if table.description:
            definition["description"] = table.description
        definitions[name] = definition
        row_filters = []
        for column in table.columns:
            key = f"rowFilter.{name}.{column.name}"
            parameters[key] = {"name": column.name, "required": False, "in": "query", "type": "string"}
            if column.description:
                parameters[key]["description"] = column.description
            row_filters.append({"$ref": f"#/parameters/{key}"})
        parameters[f"body.{name}"] = {
            "name": name,
            "description": name,
            "required": False,
            "in": "body",
            "schema": {"$ref": f"#/definitions/{name}"},
        }
        tag = [name]
        ok = {
            "200": {"description": "OK", "schema": {"items": {"$ref": f"#/definitions/{name}"}, "type": "array"}},
            "206": {"description": "Partial Content"},
        }
        path = {
            "get": {
                "parameters": [
                    *row_filters,
                    *(
                        {"$ref": f"#/parameters/{p}"}
                        for p in ("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount")
                    ),
                ],
                "responses": ok,
                "tags": tag,
            }
        }
        if table.kind in ("r", "p", "v", "f"):
            path["post"] = {
                "parameters": [
                    {"$ref": f"#/parameters/body.{name}"},
                    {"$ref": "#/parameters/select"},
                    {"$ref": "#/parameters/preferReturn"},
                ],
                "responses": {"201": {"description": "Created"}},
                "tags": tag,
            }
            path["delete"] = {
                "parameters": [*row_filters, {"$ref": "#/parameters/preferReturn"}],
                "responses": {"204": {"description": "No Content"}},
                "tags": tag,
            }
            path["patch"] = {
                "parameters": [
                    *row_filters,
                    {"$ref": f"#/parameters/body.{name}"},
                    {"$ref": "#/parameters/preferReturn"},
                ],
                "responses": {"204": {"description": "No Content"}},
                "tags": tag,
            }
        if table.description:
            for operation in path.values():
                operation["summary"] = table.description
        paths[f"/{name}"] = path
    for name in cache.function_names(schema):
        for function in cache.functions[(schema, name)]:
            if function.oid not in functions:
                continue
            args = {"properties": {p.name: _typed(p.type) for p in function.params if p.name}, "type": "object"}
            required = [p.name for p in function.params if p.required and p.name]
            if required:
                args["required"] = required
            if function.description:
                args["description"] = function.description
            body = {"in": "body", "name": "args", "required": True, "schema": args}
            operation = {
                "produces": [
                    "application/json",
                    "application/vnd.pgrst.object+json;nulls=stripped",
                    "application/vnd.pgrst.object+json",
                ],
                "responses": {"200": {"description": "OK"}},
                "tags": ["(rpc) " + name],
            }
            if function.description:  # OpenAPI.hs makeProcPathItem: first line summary, the rest description
                summary, _, rest = function.description.partition("\n")
                operation["summary"] = summary
                if rest.lstrip("\n"):
                    operation["description"] = rest.lstrip("\n")
            post = {**operation, "parameters": [body, {"$ref": "#/parameters/preferParams"}]}
            get = {
                **operation,
                "parameters": [
                    {
                        "format": p.type,
                        "in": "query",
                        "name": p.name,
                        "required": p.required,
                        "type": swagger_type(p.type) or "string",
                    }
                    for p in function.params
                    if p.name
                ],
            }
            # a volatile function is POST only (OpenAPI.hs makeProcPathItem)
            paths[f"/rpc/{name}"] = {"post": post} if function.volatile else {"get": get, "post": post}
            break
    shown_host = "0.0.0.0" if host in ("0.0.0.0", "::") else host
    return {
        "swagger": "2.0",
        "info": {"description": rest.strip(), "title": title or "PostgREST API", "version": FOLLOWS},
        "host": f"{shown_host}:{port}",
        "basePath": "/",
        "schemes": ["http"],
        "consumes": MEDIA,
        "produces": MEDIA,
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/v16/references/api.html",
        },
    }
