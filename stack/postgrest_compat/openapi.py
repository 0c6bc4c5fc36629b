"""GET / : the OpenAPI 2.0 description of the default schema, as PostgREST generates it."""

from __future__ import annotations

from . import FOLLOWS

MEDIA = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
]

_TYPES = {
    "integer": ("integer", "integer"),
    "smallint": ("integer", "smallint"),
    "bigint": ("integer", "bigint"),
    "boolean": ("boolean", None),
    "real": ("number", "real"),
    "double precision": ("number", "double precision"),
    "numeric": ("number", "numeric"),
    "json": ("object", None),
    "jsonb": ("object", None),
}


def _property(column) -> dict:
    kind, fmt = _TYPES.get(column.type, ("string", None))
    if column.type.endswith("[]"):
        prop = {"format": column.type, "items": {"type": "string"}, "type": "array"}
    else:
        prop = {"format": fmt or column.type, "type": kind}
    if column.default is not None:
        prop["default"] = column.default
    description = column.description or ""
    if column.pk:
        description = (description + "\n\n" if description else "") + "Note:\nThis is a Primary Key.<pk/>"
    if description:
        prop["description"] = description
    return prop


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
        definition = {"properties": {c.name: _property(c) for c in table.columns}, "type": "object"}
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
            args = {
                "properties": {
                    p.name: {"format": p.type, "type": _TYPES.get(p.type, ("string", None))[0]}
                    for p in function.params
                    if p.name
                },
                "type": "object",
            }
            required = [p.name for p in function.params if p.required and p.name]
            if required:
                args["required"] = required
            body = {"in": "body", "name": "args", "required": True, "schema": args}
            post = {
                "parameters": [body, {"$ref": "#/parameters/preferParams"}],
                "produces": [
                    "application/json",
                    "application/vnd.pgrst.object+json;nulls=stripped",
                    "application/vnd.pgrst.object+json",
                ],
                "responses": {"200": {"description": "OK"}},
                "tags": ["(rpc) " + name],
            }
            get = {
                "parameters": [
                    {
                        "format": p.type,
                        "in": "query",
                        "name": p.name,
                        "required": p.required,
                        "type": _TYPES.get(p.type, ("string", None))[0],
                    }
                    for p in function.params
                    if p.name
                ],
                "responses": {"200": {"description": "OK"}},
                "tags": ["(rpc) " + name],
            }
            if function.description:
                post["summary"] = get["summary"] = function.description.split("\n")[0]
            paths[f"/rpc/{name}"] = {"get": get, "post": post}
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
            "url": "https://postgrest.org/en/v14/references/api.html",
        },
    }
