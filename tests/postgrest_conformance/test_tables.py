"""Contract: tables and views (select, filters, order, limit/offset, Content-Range, object+json, writes)."""

import jwt
import pytest

from stack.harness.conformance import SECRET

JSON = "application/json; charset=utf-8"


def user(**extra):
    return {"Authorization": "Bearer " + jwt.encode({"role": "pgrst_conf_user"}, SECRET, algorithm="HS256"), **extra}


def ids(r):
    return [row["id"] for row in r.json()]


def test_get_table_array_and_content_range(s):
    """GET /table: JSON array, application/json; charset=utf-8, Content-Range 0-9/*."""
    r = s.get("/items")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON
    assert r.headers["Content-Range"] == "0-9/*"
    assert len(r.json()) == 10


def test_empty_result_content_range(s):
    """An empty result: [] with Content-Range */*."""
    r = s.get("/items?id=gt.100")
    assert r.json() == [] and r.headers["Content-Range"] == "*/*"


def test_select_columns(s):
    """select=a,b picks columns."""
    assert s.get("/items?select=id,name&id=eq.1").json() == [{"id": 1, "name": "item 1"}]


def test_filters(s):
    """eq, neq, gt, gte, lt, lte, like, ilike, in, is, not."""
    assert ids(s.get("/items?id=eq.3")) == [3]
    assert len(s.get("/items?id=neq.3").json()) == 9
    assert ids(s.get("/items?id=gt.8")) == [9, 10]
    assert ids(s.get("/items?id=gte.9")) == [9, 10]
    assert ids(s.get("/items?id=lt.2")) == [1]
    assert ids(s.get("/items?id=lte.2")) == [1, 2]
    assert ids(s.get("/items?name=like.*m 1*&order=id")) == [1, 10]
    assert ids(s.get("/items?name=ilike.ITEM 2")) == [2]
    assert ids(s.get("/items?id=in.(1,3,5)")) == [1, 3, 5]
    assert ids(s.get("/items?qty=is.null")) == [10]
    assert ids(s.get("/items?id=not.lt.10")) == [10]


@pytest.mark.parametrize("query", ["select=na%25me", "na%25me=eq.1", "order=na%25me", "select=n:na%25s"])
def test_percent_in_a_column_name(s, query):
    """An unknown column is PostgreSQL's 42703 (400), a '%' in its name included; the server stays up."""
    r = s.get(f"/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "42703" and "%" in r.json()["message"]
    assert s.get("/items?limit=1").status_code == 200


def test_percent_in_a_value(s):
    """A '%' in a filter value reaches PostgreSQL as written: LIKE's own wildcard (as `*` is), plain text for eq."""
    assert ids(s.get("/items?name=like.item 1%25&order=id")) == [1, 10]
    assert s.get("/items?name=eq.100%25").json() == []


def test_filters_are_anded(s):
    """Several filters are ANDed."""
    assert ids(s.get("/items?id=gt.2&id=lt.5")) == [3, 4]


def test_order_limit_offset(s):
    """order=col.desc, limit, offset; Content-Range follows offset."""
    r = s.get("/items?order=id.desc&limit=2&offset=1")
    assert ids(r) == [9, 8]
    assert r.headers["Content-Range"] == "1-2/*"


def test_view(s):
    """Views are readable like tables."""
    assert s.get("/items_view?id=eq.2").json() == [{"id": 2, "name": "item 2"}]


def test_unknown_table_pgrst205(s):
    """Unknown table: 404 PGRST205 (13.0+)."""
    r = s.get("/nothing_here_at_all")
    assert r.status_code == 404
    assert r.json()["code"] == "PGRST205"
    assert r.json()["message"] == "Could not find the table 'api.nothing_here_at_all' in the schema cache"


def test_object_json_one_row(s):
    """Accept vnd.pgrst.object+json with one row: the object."""
    r = s.get("/items?id=eq.1", headers={"Accept": "application/vnd.pgrst.object+json"})
    assert r.status_code == 200
    assert r.json() == {"id": 1, "name": "item 1", "qty": 10}
    assert r.headers["Content-Type"] == "application/vnd.pgrst.object+json; charset=utf-8"


def test_object_json_many_rows_pgrst116(s):
    """vnd.pgrst.object+json with several rows: 406 PGRST116."""
    r = s.get("/items", headers={"Accept": "application/vnd.pgrst.object+json"})
    assert r.status_code == 406
    assert r.json()["code"] == "PGRST116"
    assert r.json()["message"] == "Cannot coerce the result to a single JSON object"
    assert r.json()["details"] == "The result contains 10 rows"


def test_post_minimal_201(s):
    """POST inserts: 201 with an empty body by default; v16.2 test/spec/Feature/Query/InsertSpec.hs
    "should not throw and return no location header when selecting without PK": no Content-Type and
    Content-Length 0 (fixed in 14.2, #4518)."""
    r = s.post("/notes", json={"body": "minimal"}, headers=user())
    assert r.status_code == 201 and r.text == ""
    assert r.headers["Content-Length"] == "0" and "Content-Type" not in r.headers
    r = s.post("/notes", json={"body": "headers-only"}, headers=user(Prefer="return=headers-only"))
    assert r.status_code == 201 and r.headers["Content-Length"] == "0" and "Content-Type" not in r.headers


def test_post_representation_array(s):
    """POST of an array with Prefer: return=representation returns the rows."""
    r = s.post(
        "/notes?select=body", json=[{"body": "r1"}, {"body": "r2"}], headers=user(Prefer="return=representation")
    )
    assert r.status_code == 201
    assert r.json() == [{"body": "r1"}, {"body": "r2"}]


def test_patch_with_filter(s):
    """PATCH with filters updates matching rows; representation returns them."""
    s.post("/notes", json={"body": "patch me"}, headers=user())
    r = s.patch("/notes?body=eq.patch me", json={"owner": "ann"}, headers=user(Prefer="return=representation"))
    assert r.status_code == 200
    assert [row["owner"] for row in r.json()] == ["ann"]
    assert s.patch("/notes?body=eq.patch me", json={"owner": "bob"}, headers=user()).status_code == 204


def test_delete_with_filter(s):
    """DELETE with filters; 204 without representation."""
    s.post("/notes", json={"body": "delete me"}, headers=user())
    assert s.delete("/notes?body=eq.delete me", headers=user()).status_code == 204
    assert s.get("/notes?body=eq.delete me", headers=user()).json() == []


def test_unique_violation_409(s):
    """23505 unique violation: 409."""
    s.post("/notes", json={"body": "dup"}, headers=user())
    r = s.post("/notes", json={"body": "dup"}, headers=user())
    assert r.status_code == 409 and r.json()["code"] == "23505"


def test_get_is_read_only(s):
    """GET/HEAD run read-only."""
    assert s.get("/rpc/whoami").json()["read_only"] == "on"


def test_head_has_no_body(s):
    """HEAD: headers only."""
    r = s.head("/items")
    assert r.status_code == 200 and r.text == "" and r.headers["Content-Range"] == "0-9/*"


# ---- and/or logic trees (PostgREST's test/spec AndOrParamsSpec, on this fixture) ----


@pytest.mark.parametrize(
    "query, expected",
    [
        ("or=(id.eq.1,id.eq.2)", [1, 2]),
        ("not.or=(id.lt.9,id.eq.10)", [9]),
        ("or=(id.eq.1,id.eq.2)&name=eq.item 1", [1]),
        ("or=(and(name.eq.item 2,id.eq.2),and(name.eq.item 1,id.eq.1))", [1, 2]),
        ("and=(id.lte.3,or(id.eq.1,not.and(id.gt.1,id.lt.3)))", [1, 3]),
        ("and=(id.eq.1,name.eq.item 1)&or=(id.eq.1,id.eq.2)", [1]),
        ("or=(id.lt.2,id.gt.9)", [1, 10]),
        ("or=(name.like.*m 1,name.ilike.*ITEM 2)", [1, 2]),
        ("or=(id.in.(1,2),id.in.(3,4))", [1, 2, 3, 4]),
        ("and=(qty.is.null,id.gte.5)", [10]),
        ("and=(id.not.in.(1,3),id.lte.3)", [2]),
        ('or=(name.eq."item 1",name.eq."item,2")', [1]),
        ("and=( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )", [3]),
        ("or=(id.eq.1)", [1]),
        ("or=( id.eq.1, id.eq.2, and(id.in.(1,3), id.in.(2,3)), id.eq.4 )", [1, 2, 3, 4]),
    ],
)
def test_logic_trees(s, query, expected):
    """and=/or=, negated and nested, with every operator, quotes and whitespace, ANDed with plain filters."""
    r = s.get(f"/items?{query}&select=id&order=id")
    assert r.status_code == 200, r.text
    assert ids(r) == expected


def test_logic_tree_without_conditions(s):
    """or=() is a parse error naming the tree: 400 PGRST100."""
    r = s.get("/items?or=()")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "PGRST100"
    assert body["message"].startswith('"failed to parse logic tree (())"')
    assert body["details"] == (
        'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)'
    )


@pytest.mark.parametrize("query", ["or=(id.eq.1", "or=id.eq.1", "and=(id.zz.1)", "or=(id)"])
def test_malformed_logic_tree(s, query):
    """A malformed tree is 400 PGRST100, never rows filtered by half of it."""
    r = s.get(f"/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "PGRST100"
    assert r.json()["message"].startswith('"failed to parse logic tree')


@pytest.mark.parametrize(
    "query, expected",
    [
        ("tags=cs.{1,2}", [1]),
        ("tags=cd.{1,2,3,4}", [1, 2]),
        ("tags=ov.{2,9}", [1, 2]),
        ("tags=not.cs.{1}", [2]),
        ("tags=isdistinct.{2}", [1, 3]),
        ("span=sl.[4,5)", [1]),
        ("span=sr.[4,5)", [2, 3]),
        ("span=nxr.[3,4)", [1]),
        ("span=nxl.[9,10)", [3]),
        ("span=adj.[3,5)", [1, 2]),
        ("body=fts.fox", [1, 3]),
        ("body=fts(english).fox", [1, 3]),
        ("body=plfts.lazy dog", [2]),
        ("body=phfts.quick brown", [1]),
        ("body=wfts.dog -lazy", [3]),
        ("body=not.fts(english).fox", [2]),  # English stems "Foxes" to "fox"
        ("or=(tags.cs.{3},body.wfts(english).dogs)", [1, 2, 3]),
    ],
)
def test_array_range_and_text_search_operators(s, query, expected):
    """cs, cd, ov, sl, sr, nxr, nxl, adj, isdistinct, and fts/plfts/phfts/wfts with an optional language."""
    r = s.get(f"/tagged?{query}&select=id&order=id")
    assert r.status_code == 200, r.text
    assert ids(r) == expected


def test_filter_parse_error_position(s):
    """v14.1 QuerySpec ("/ghostBusters?id=0"): the filter in quotes, then Parsec's line and column."""
    r = s.get("/items?id=0")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST100",
        "message": '"failed to parse filter (0)" (line 1, column 1)',
        "details": 'unexpected "0" expecting "not" or operator (eq, gt, ...)',
        "hint": None,
    }
    assert s.get("/items?id=not.xx.1").json()["message"] == '"failed to parse filter (not.xx.1)" (line 1, column 5)'


def test_content_location_alphabetized(s):
    """v14.1 QuerySpec "Sets Content-Location with alphabetized params" (QueryParams.hs qsCanonical)."""
    assert s.get("/items?name=eq.item 1&id=eq.1").headers["Content-Location"] == "/items?id=eq.1&name=eq.item%201"
    assert s.get("/items").headers["Content-Location"] == "/items"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id=eq(any).{3,4,5}", [3, 4, 5]),
        ("id=gt(all).{8,7}", [9, 10]),
        ("id=gte(all).{9,8}", [9, 10]),
        ("id=lt(all).{3,2}", [1]),
        ("id=lte(all).{3,2}", [1, 2]),
        ("name=like(any).{*m 1,*m 3}", [1, 3]),
        ("name=ilike(all).{ITEM*,*1*}", [1, 10]),
        ("name=match(any).{m 2$,m 4$}", [2, 4]),
        ("name=imatch(any).{M 2$,M 4$}", [2, 4]),
        ("id=not.eq(any).{1,2,3,4,5,6,7,8}", [9, 10]),
    ],
)
def test_any_all_quantifiers(s, query, expected):
    """v16.2 test/spec/Feature/Query/QuerySpec.hs "any/all quantifiers" (QueryParams.hs pQuantOp:
    eq, gt(e), lt(e), like, ilike, match, imatch with (any) or (all); SqlFragment.hs OpQuant)."""
    r = s.get(f"/items?select=id&order=id&{query}")
    assert r.status_code == 200, r.text
    assert ids(r) == expected


@pytest.mark.parametrize(
    "accept", ["application/vnd.pgrst.array+json;nulls=stripped", "application/vnd.pgrst.array;nulls=stripped"]
)
def test_nulls_stripped_array(s, accept):
    """v16.2 test/spec/Feature/Query/NullsStripSpec.hs "strips nulls when Accept:
    application/vnd.pgrst.array+json;nulls=stripped" (and the form without +json), even selected."""
    r = s.get("/items?select=id,qty&id=gte.9&order=id", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.json() == [{"id": 9, "qty": 90}, {"id": 10}]
    assert r.headers["Content-Type"] == "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"


def test_nulls_stripped_object(s):
    """v16.2 NullsStripSpec "strips nulls when Accept: application/vnd.pgrst.object+json;nulls=stripped"
    and "throws error ... and result not singular" (PGRST116, 406)."""
    accept = {"Accept": "application/vnd.pgrst.object+json;nulls=stripped"}
    r = s.get("/items?select=id,qty&id=eq.10", headers=accept)
    assert r.status_code == 200 and r.json() == {"id": 10}
    assert r.headers["Content-Type"] == "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
    r = s.get("/items?select=id,qty", headers=accept)
    assert r.status_code == 406 and r.json()["code"] == "PGRST116"


def test_order_parse_error_has_its_position(s):
    """v16.2 test/spec/Feature/Query/QuerySpec.hs "gives meaningful error message on bad syntax"
    (order): Parsec's "(line 1, column N)" after the message, where the parser stopped."""
    r = s.get("/items?order=id.asc.nullslasttt")
    assert r.status_code == 400
    assert r.json() == {
        "details": "unexpected 't' expecting \",\" or end of input",
        "message": '"failed to parse order (id.asc.nullslasttt)" (line 1, column 17)',
        "code": "PGRST100",
        "hint": None,
    }
    r = s.get("/items?order=name.desc,id.ascending")
    assert r.json()["message"] == '"failed to parse order (name.desc,id.ascending)" (line 1, column 17)'


def test_logic_tree_parse_error_has_its_position(s):
    """v16.2 test/spec/Feature/Query/AndOrParamsSpec.hs "cannot have zero conditions": PostgREST parses
    the key and the value together ("or()", QueryParams.hs pRequestLogicTree), so the column counts
    from the key's first letter."""
    r = s.get("/items?or=()")
    assert r.status_code == 400
    assert r.json() == {
        "details": 'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic '
        "operator (and, or)",
        "message": '"failed to parse logic tree (())" (line 1, column 4)',
        "code": "PGRST100",
        "hint": None,
    }
    assert s.get("/items?not.or=()").json()["message"] == '"failed to parse logic tree (())" (line 1, column 8)'
