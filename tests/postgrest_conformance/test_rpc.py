"""Contract: functions under /rpc, request settings, response control from SQL, profiles."""

import time

import jwt
import psycopg
import pytest

from stack.harness.conformance import SECRET

JSON = "application/json; charset=utf-8"


def user():
    return {"Authorization": "Bearer " + jwt.encode({"role": "pgrst_conf_user"}, SECRET, algorithm="HS256")}


def test_void_is_204_without_body_or_content_type(s):
    """A void function: 204, empty body, no Content-Type."""
    r = s.post("/rpc/void_fn")
    assert r.status_code == 204
    assert r.text == ""
    assert "Content-Type" not in r.headers


def test_scalar_is_bare_json(s):
    """Scalar result: the bare JSON value with application/json; charset=utf-8."""
    r = s.post("/rpc/add", json={"a": 2, "b": 3})
    assert r.status_code == 200
    assert r.text == "5"
    assert r.headers["Content-Type"] == JSON


def test_default_parameter_is_optional(s):
    """Parameters with a default are optional; named arguments by key."""
    assert s.post("/rpc/greet", json={"name": "ann"}).json() == "hello, ann"
    assert s.post("/rpc/greet", json={"name": "ann", "greeting": "hi"}).json() == "hi, ann"


def test_set_is_array(s):
    """Set-returning function: a JSON array."""
    body = s.post("/rpc/list_items").json()
    assert isinstance(body, list) and len(body) == 10 and body[0] == {"id": 1, "name": "item 1", "qty": 10}


def test_missing_content_type_counts_as_json_and_empty_body_as_object(s):
    """No Content-Type is JSON; an empty body is {}."""
    assert s.post("/rpc/add", data='{"a":1,"b":1}').text == "2"
    assert s.post("/rpc/void_fn", data="").status_code == 204


def test_invalid_json_is_pgrst102(s):
    """Invalid JSON body: 400 PGRST102."""
    r = s.post("/rpc/add", data="{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST102"


def test_extra_key_is_pgrst202(s):
    """Unknown key set: 404 PGRST202 with PostgREST's message and details."""
    r = s.post("/rpc/add", json={"a": 1, "b": 2, "c": 3})
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "PGRST202"
    assert body["message"] == "Could not find the function api.add(a, b, c) in the schema cache"
    assert body["details"] == (
        "Searched for the function api.add with parameters a, b, c or with a single unnamed "
        "json/jsonb parameter, but no matches were found in the schema cache."
    )


def test_missing_required_key_is_pgrst202(s):
    """Missing required key: 404 PGRST202."""
    r = s.post("/rpc/add", json={"a": 1})
    assert r.status_code == 404
    assert r.json()["message"] == "Could not find the function api.add(a) in the schema cache"


def test_unknown_function_without_parameters(s):
    """Unknown function, no keys: '... without parameters ...'."""
    r = s.post("/rpc/nope_nothing_like_it")
    assert r.status_code == 404
    assert (
        r.json()["message"]
        == "Could not find the function api.nope_nothing_like_it without parameters in the schema cache"
    )


def test_overload_ambiguity_is_pgrst203(s):
    """Two overloads match: 300 PGRST203."""
    r = s.post("/rpc/over", json={"a": 1})
    assert r.status_code == 300
    assert r.json()["code"] == "PGRST203"


def test_overload_resolved_by_keys(s):
    """The overload is chosen by the set of keys."""
    assert s.post("/rpc/over", json={"a": 1, "b": 2}).json() == 3


def test_get_query_arguments(s):
    """GET /rpc/f?a=1: query parameters are arguments cast to the parameter type."""
    r = s.get("/rpc/add?a=4&b=5")
    assert r.status_code == 200 and r.json() == 9


def test_get_filters_the_result(s):
    """GET /rpc/f?col=op.val filters a set result."""
    assert [row["id"] for row in s.get("/rpc/list_items?id=lt.3").json()] == [1, 2]


def test_delete_on_rpc_is_pgrst101(s):
    """Methods other than GET/HEAD/POST/OPTIONS on /rpc: 405 PGRST101."""
    r = s.delete("/rpc/add")
    assert r.status_code == 405
    assert r.json()["code"] == "PGRST101"
    assert r.json()["message"] == "Cannot use the DELETE method on RPC"


def test_volatile_post_can_write(s):
    """POST /rpc of a VOLATILE function runs read-write."""
    assert s.post("/rpc/add_note", json={"body": "from rpc"}, headers=user()).status_code == 204


def test_get_rpc_is_read_only_25006_405(s):
    """GET runs read-only: a write gives 25006, HTTP 405."""
    r = s.get("/rpc/add_note?body=x", headers=user())
    assert r.status_code == 405
    assert r.json()["code"] == "25006"


def test_stable_post_is_read_only(s):
    """POST of a non-VOLATILE function runs read-only."""
    assert s.post("/rpc/whoami").json()["read_only"] == "on"


def test_request_settings(s):
    """role, request.method/path/headers/cookies, app.settings.*, search_path, pre-request."""
    body = s.post("/rpc/whoami?x=1", headers={"X-Custom": "Yes"}, cookies={"c1": "v1"}).json()
    assert body["method"] == "POST"
    assert body["path"] == "/rpc/whoami"
    assert body["headers"]["x-custom"] == "Yes"
    assert "cookie" not in body["headers"]
    assert body["cookies"] == {"c1": "v1"}
    assert body["greeting"] == "hi"
    assert body["search_path"] == '"api", "public"'
    assert body["pre"] == "ran"


def test_pre_request_can_refuse(s):
    """db-pre-request runs before the main query; its error is the response."""
    r = s.post("/rpc/whoami", headers={"X-Block": "yes"})
    assert r.status_code == 403
    assert r.json()["message"] == "Blocked by db-pre-request"


def test_response_headers_two_set_cookie(s):
    """response.headers: every entry sent, two Set-Cookie give two headers."""
    r = s.post("/rpc/set_cookies")
    assert r.status_code == 204
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.headers["Cache-Control"] == "no-store"


def test_response_status(s):
    """response.status replaces the status."""
    r = s.post("/rpc/accepted")
    assert r.status_code == 202 and r.json() == "queued"


def test_bad_response_headers_pgrst111(s):
    """response.headers not an array of one-key objects: 500 PGRST111."""
    r = s.post("/rpc/bad_headers")
    assert r.status_code == 500 and r.json()["code"] == "PGRST111"


def test_bad_response_status_pgrst112(s):
    """response.status not an integer: 500 PGRST112."""
    r = s.post("/rpc/bad_status")
    assert r.status_code == 500 and r.json()["code"] == "PGRST112"


def test_bad_response_headers_after_commit(s, database):
    """response.headers is decoded after the transaction (Response.hs): the 500 PGRST111 comes
    back, yet what the function wrote stays committed."""
    body = f"bad headers {time.monotonic_ns()}"
    r = s.post("/rpc/note_then_bad_headers", json={"body": body})
    assert r.status_code == 500 and r.json()["code"] == "PGRST111"
    with psycopg.connect(database) as conn:
        assert conn.execute("select count(*) from api.notes where body = %s", [body]).fetchone() == (1,)


def test_response_status_leading_digits(s):
    """response.status is read as its leading decimal digits (Data.Text.Read.decimal): '202 Accepted' is 202."""
    assert s.post("/rpc/status_with_reason").status_code == 202


def test_headers_rolled_back_on_error(s):
    """On error response.headers are not sent."""
    r = s.post("/rpc/headers_then_fail")
    assert r.status_code == 400 and "X-Leak" not in r.headers


def test_content_profile_picks_schema_for_post(s):
    """Content-Profile picks the schema for POST; the response names it."""
    r = s.post("/rpc/where_am_i", headers={"Content-Profile": "other"})
    assert r.json() == "other"
    assert r.headers["Content-Profile"] == "other"


def test_accept_profile_picks_schema_for_get(s):
    """Accept-Profile picks the schema for GET."""
    assert s.get("/rpc/where_am_i", headers={"Accept-Profile": "other"}).json() == "other"


def test_default_schema_is_first_and_named_when_several(s):
    """The default schema is the first of db-schemas; Content-Profile sent when several are configured."""
    assert s.get("/items?limit=1").headers["Content-Profile"] == "api"


def test_unknown_profile_is_406_pgrst106(s):
    """Profile not in db-schemas: 406 PGRST106 (14.x message and hint)."""
    r = s.post("/rpc/void_fn", headers={"Content-Profile": "nope"})
    assert r.status_code == 406
    body = r.json()
    assert body["code"] == "PGRST106"
    assert body["message"] == "Invalid schema: nope"
    assert body["hint"] == "Only the following schemas are exposed: api, other"


def test_single_out_param_is_an_object(s):
    """v14.1 RpcSpec "returns an object result when there is a single OUT param"."""
    assert s.get("/rpc/plus_one?num=5").json() == {"num_plus_one": 6}


def test_many_out_params_are_an_object(s):
    """RpcSpec "returns an object result when there are many OUT params"."""
    assert s.get("/rpc/several_out").json() == {"my_json": {"a": 1}, "num": 3, "str": "four"}


def test_variadic(s):
    """RpcSpec "procs with VARIADIC params": POST an array, or GET the parameter repeated (n=0 by DEFAULT)."""
    assert s.post("/rpc/variadic_words", json={"v": ["hi", "hello", "there"]}).json() == ["hi", "hello", "there"]
    assert s.get("/rpc/variadic_words").json() == []
    assert s.get("/rpc/variadic_words?v=hi").json() == ["hi"]
    assert s.get("/rpc/variadic_words?v=hi&v=there").json() == ["hi", "there"]


def test_single_unnamed_json_param(s):
    """RpcSpec "single unnamed param": "can insert json directly", the body is the argument."""
    assert s.post("/rpc/echo_json", json={"A": 1, "B": 2, "C": 3}).json() == {"A": 1, "B": 2, "C": 3}


def test_scalar_content_range(s):
    """src/PostgREST/Response.hs (CallReadPlan): every function that returns something has a
    Content-Range, a scalar's 0-0/*."""
    r = s.get("/rpc/add?a=1&b=2")
    assert r.json() == 3 and r.headers["Content-Range"] == "0-0/*"


def test_rpc_count_and_range(s):
    """RpcSpec "includes total count if requested": limit/offset, Range, and count=exact's total."""
    r = s.get("/rpc/list_items?limit=1&offset=1", headers={"Prefer": "count=exact"})
    assert r.status_code == 206
    assert r.json() == [{"id": 2, "name": "item 2", "qty": 20}]
    assert r.headers["Content-Range"] == "1-1/10"
    r = s.get("/rpc/list_items?select=id", headers={"Range": "0-1"})
    assert r.json() == [{"id": 1}, {"id": 2}] and r.headers["Content-Range"] == "0-1/*"
    r = s.get("/rpc/list_items?id=gt.8", headers={"Prefer": "count=planned"})
    assert r.status_code in (200, 206) and r.headers["Content-Range"].startswith("0-1/")


def test_embed_from_function_result(s):
    """RpcSpec "embedding": a function returning a table's rows embeds like the table."""
    r = s.get("/rpc/books_by?author=2&select=title,authors(name),tags(label)&tags.order=label")
    assert r.json() == [{"title": "Gamma", "authors": {"name": "Bob"}, "tags": [{"label": "new"}, {"label": "old"}]}]


def test_rpc_max_affected_with_handling_strict(s):
    """v16.2 test/spec/Feature/Query/Preferences/MaxAffectedSpec.hs "should fail with rpc when deleting
    rows more than prefered with returns setof" (PGRST124, rolled back) and "should succeed with rpc
    deleting rows less than prefered"; the rows a call returns are the rows it affects."""
    r = s.post("/rpc/items_volatile?select=id", headers={"Prefer": "handling=strict, max-affected=5"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST124",
        "details": "The query affects 10 rows",
        "hint": None,
        "message": "Query result exceeds max-affected preference constraint",
    }
    r = s.post("/rpc/items_volatile?select=id", headers={"Prefer": "handling=strict, max-affected=20"})
    assert r.status_code == 200 and len(r.json()) == 10
    assert r.headers["Preference-Applied"] == "handling=strict, max-affected=20"
    r = s.post("/rpc/items_volatile?select=id", headers={"Prefer": "max-affected=5"})  # lenient: ignored
    assert r.status_code == 200 and len(r.json()) == 10


@pytest.mark.parametrize("function", ["void_fn", "add?a=1&b=2"])
def test_rpc_max_affected_needs_a_set(s, function):
    """v16.2 MaxAffectedSpec "should fail with rpc when returns void with handling=strict" (Plan.hs
    failMaxAffectedRpcReturnsSingle: any function that returns a single value, PGRST128)."""
    r = s.get(f"/rpc/{function}", headers={"Prefer": "handling=strict, max-affected=20"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST128",
        "details": None,
        "hint": None,
        "message": "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
    }


def test_rpc_params_single_object_is_not_a_preference(s):
    """v16.2 src/library/PostgREST/ApiRequest/Preferences.hs fromHeaders: params=single-object is no
    longer among the accepted preferences, so handling=strict refuses it (PGRST122, Plan.hs
    callReadPlan) after the function is found; a call no function matches is PGRST202 first."""
    strict = {"Prefer": "params=single-object, handling=strict"}
    r = s.post("/rpc/add", json={"a": 1, "b": 2}, headers=strict)
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST122",
        "message": "Invalid preferences given with handling=strict",
        "details": "Invalid preferences: params=single-object",
        "hint": None,
    }
    assert s.post("/rpc/add", json={"a": 1, "b": 2}, headers={"Prefer": "params=single-object"}).json() == 3
    assert s.post("/rpc/add", json={"x": 1}, headers=strict).json()["code"] == "PGRST202"
