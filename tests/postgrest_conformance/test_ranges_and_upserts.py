"""Contract: counts, ranges, preferences, upserts, ?columns=, CSV and JSON paths, as PostgREST v14.1's
test/spec/Feature/Query/RangeSpec.hs, InsertSpec.hs, UpsertSpec.hs, JsonOperatorSpec.hs,
PreferencesSpec.hs and src/PostgREST/RangeQuery.hs, Response.hs, ApiRequest/Preferences.hs say."""

import pytest

REPRESENTATION = {"Prefer": "return=representation"}


# ---- counts and ranges ----------------------------------------------------------------------------


def test_count_exact_partial_is_206(s):
    """RangeSpec "with limit/offset" and RangeQuery.hs rangeStatus: a part of the total is 206, the
    total is in Content-Range, and Preference-Applied names the count."""
    r = s.get("/items?select=id&order=id&limit=3&offset=2", headers={"Prefer": "count=exact"})
    assert r.status_code == 206
    assert r.json() == [{"id": 3}, {"id": 4}, {"id": 5}]
    assert r.headers["Content-Range"] == "2-4/10"
    assert r.headers["Preference-Applied"] == "count=exact"


def test_count_exact_whole_is_200(s):
    """RangeSpec: every row is 200 with the total; a filter counts the filtered rows."""
    r = s.get("/items?select=id", headers={"Prefer": "count=exact"})
    assert r.status_code == 200 and r.headers["Content-Range"] == "0-9/10"
    r = s.get("/items?id=gt.8", headers={"Prefer": "count=exact"})
    assert r.status_code == 200 and r.headers["Content-Range"] == "0-1/2"


def test_count_exact_empty(s):
    """RangeSpec "offset=0&id=eq.0": no rows is */0."""
    r = s.get("/items?id=eq.0", headers={"Prefer": "count=exact"})
    assert r.json() == [] and r.headers["Content-Range"] == "*/0"


def test_count_with_inner_embed_counts_parents_kept(s):
    """The count follows !inner: only the books whose author is Ann."""
    r = s.get("/books?select=id,authors!inner(name)&authors.name=eq.Ann&limit=1", headers={"Prefer": "count=exact"})
    assert r.status_code == 206 and r.headers["Content-Range"] == "0-0/2"


def test_count_planned_and_estimated(s):
    """RangeSpec "when count=planned": the planner's estimate (the fixture is ANALYZEd); estimated is the
    exact count without db-max-rows."""
    r = s.head("/items?limit=2&offset=3", headers={"Prefer": "count=planned"})
    assert r.status_code == 206 and r.headers["Content-Range"] == "3-4/10"
    assert r.headers["Preference-Applied"] == "count=planned"
    r = s.get("/items?limit=2", headers={"Prefer": "count=estimated"})
    assert r.status_code == 206 and r.headers["Content-Range"] == "0-1/10"


def test_offset_past_the_end_416(s):
    """RangeSpec "refuses a range requesting start past last item": 416 PGRST103 with */total."""
    r = s.get("/items?offset=100", headers={"Prefer": "count=exact"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "*/10"
    assert r.json() == {
        "code": "PGRST103",
        "message": "Requested range not satisfiable",
        "details": "An offset of 100 was requested, but there are only 10 rows.",
        "hint": None,
    }


def test_range_header(s):
    """RangeSpec "with range headers": Range: 0-1 gives two rows, 0-1/*, status 200 without a count."""
    r = s.get("/items?select=id&order=id", headers={"Range-Unit": "items", "Range": "0-1"})
    assert r.status_code == 200
    assert r.json() == [{"id": 1}, {"id": 2}] and r.headers["Content-Range"] == "0-1/*"
    r = s.get("/items?select=id&order=id", headers={"Range": "8-"})
    assert r.json() == [{"id": 9}, {"id": 10}] and r.headers["Content-Range"] == "8-9/*"
    r = s.get("/items?select=id&order=id&limit=5", headers={"Range": "3-20"})
    assert r.json() == [{"id": 4}, {"id": 5}], "the header and limit/offset intersect (ApiRequest.hs getRanges)"
    r = s.get("/items?select=id", headers={"Range": "2-1"})
    assert r.status_code == 416
    assert r.json()["details"] == (
        "The lower boundary must be lower than or equal to the upper boundary in the Range header."
    )


def test_range_header_ignored_but_for_get(s):
    """ApiRequest.hs: "the Range header must be ignored for all methods other than GET" (RFC 9110)."""
    r = s.head("/items", headers={"Range": "0-1"})
    assert r.headers["Content-Range"] == "0-9/*"


def test_limit_zero_and_bad_limit_offset(s):
    """RangeSpec: limit=0 is [] and */*; a negative limit 416; a negative offset is a no-op; a limit that
    is no integer is ignored (QueryParams.hs reads them with readMaybe)."""
    r = s.get("/items?limit=0")
    assert r.status_code == 200 and r.json() == [] and r.headers["Content-Range"] == "*/*"
    r = s.get("/items?limit=-1")
    assert r.status_code == 416
    assert r.json()["details"] == "Limit should be greater than or equal to zero."
    r = s.get("/items?select=id&offset=-4")
    assert r.status_code == 200 and len(r.json()) == 10 and r.headers["Content-Range"] == "0-9/*"


# ---- preferences --------------------------------------------------------------------------------


def test_handling_strict_refuses_unknown_preferences(s):
    """PreferencesSpec / Error.hs InvalidPreferences: 400 PGRST122 naming the invalid ones."""
    r = s.get("/items", headers={"Prefer": "handling=strict, anything=else, count=exact"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST122",
        "message": "Invalid preferences given with handling=strict",
        "details": "Invalid preferences: anything=else",
        "hint": None,
    }
    lenient = s.get("/items?limit=1", headers={"Prefer": "handling=lenient, anything=else"})
    assert lenient.status_code == 200 and lenient.headers["Preference-Applied"] == "handling=lenient"


def test_preference_applied_return_minimal(s):
    """Response.hs: Preference-Applied names return=minimal too."""
    r = s.post("/keyless", json={"a": 1, "b": "x"}, headers={"Prefer": "return=minimal"})
    try:
        assert r.status_code == 201 and r.content == b""
        assert r.headers["Preference-Applied"] == "return=minimal"
        assert r.headers["Content-Range"] == "*/*"
    finally:
        s.delete("/keyless?a=eq.1")


# ---- inserts ------------------------------------------------------------------------------------


def test_post_empty_array_inserts_nothing(s):
    """InsertSpec "returns empty array when no items inserted, and return=rep": 201 [] (no NULL row)."""
    r = s.post("/keyless", json=[], headers=REPRESENTATION)
    assert r.status_code == 201 and r.json() == []
    assert s.get("/keyless").json() == []


def test_post_count_exact_content_range(s):
    """InsertSpec "includes related data after insert": Content-Range */1, both preferences applied."""
    r = s.post("/keyless", json={"a": 2, "b": "y"}, headers={"Prefer": "return=representation, count=exact"})
    try:
        assert r.status_code == 201
        assert r.headers["Content-Range"] == "*/1"
        assert r.headers["Preference-Applied"] == "return=representation, count=exact"
    finally:
        s.delete("/keyless?a=eq.2")


def test_columns_parameter(s):
    """InsertSpec "POST with ?columns parameter": keys outside ?columns= are ignored, missing ones NULL,
    so rows with different keys go in one bulk insert; an unknown column is PGRST204."""
    rows = [{"a": 3, "b": "p", "junk": 1}, {"a": 4}]
    r = s.post("/keyless?columns=a,b", json=rows, headers=REPRESENTATION)
    try:
        assert r.status_code == 201
        assert r.json() == [{"a": 3, "b": "p"}, {"a": 4, "b": None}]
    finally:
        s.delete("/keyless?a=in.(3,4)")
    r = s.post("/keyless?columns=helicopter", json=rows)
    assert r.status_code == 400
    assert r.json()["message"] == "Could not find the 'helicopter' column of 'keyless' in the schema cache"


def test_headers_only_location(s):
    """InsertSpec "requesting headers only representation": 201, no body, Location from the key."""
    r = s.post("/upsertable", json={"id": 30, "name": "thirty"}, headers={"Prefer": "return=headers-only"})
    try:
        assert r.status_code == 201 and r.content == b""
        assert r.headers["Location"] == "/upsertable?id=eq.30"
        assert r.headers["Preference-Applied"] == "return=headers-only"
        assert "Content-Type" not in r.headers
    finally:
        s.delete("/upsertable?id=eq.30")


def test_delete_and_patch_content_range(s):
    """Response.hs: DELETE answers */* (*/n with a count), PATCH 0-(n-1)/*."""
    s.post("/keyless", json=[{"a": 5}, {"a": 5}])
    r = s.patch("/keyless?a=eq.5", json={"b": "z"})
    assert r.status_code == 204 and r.headers["Content-Range"] == "0-1/*"
    r = s.delete("/keyless?a=eq.5", headers={"Prefer": "count=exact"})
    assert r.status_code == 204 and r.headers["Content-Range"] == "*/2"


# ---- upserts ------------------------------------------------------------------------------------


@pytest.fixture
def upsertable(s):
    yield s
    s.delete("/upsertable?id=gt.2")
    s.post(
        "/upsertable",
        json=[{"id": 1, "name": "one", "note": "first"}, {"id": 2, "name": "two", "note": "second"}],
        headers={"Prefer": "resolution=merge-duplicates"},
    )


def test_merge_duplicates(upsertable):
    """UpsertSpec "INSERTs and UPDATEs rows on pk conflict": 201 when one is new, both applied."""
    headers = {"Prefer": "return=representation, resolution=merge-duplicates"}
    r = upsertable.post(
        "/upsertable?select=id,name", json=[{"id": 1, "name": "uno"}, {"id": 3, "name": "tres"}], headers=headers
    )
    assert r.status_code == 201
    assert r.json() == [{"id": 1, "name": "uno"}, {"id": 3, "name": "tres"}]
    assert r.headers["Preference-Applied"] == "resolution=merge-duplicates, return=representation"
    assert upsertable.get("/upsertable?id=eq.1").json() == [{"id": 1, "name": "uno", "note": "first"}]


def test_merge_duplicates_only_updates_is_200(upsertable):
    """UpsertSpec "UPDATEs rows on pk conflict" (200) and "succeeds when the payload has no elements"."""
    headers = {"Prefer": "return=representation, resolution=merge-duplicates"}
    assert upsertable.post("/upsertable", json=[{"id": 2, "name": "dos"}], headers=headers).status_code == 200
    empty = upsertable.post("/upsertable", json=[], headers=headers)
    assert empty.status_code == 200 and empty.json() == []


def test_ignore_duplicates(upsertable):
    """UpsertSpec "ignore-duplicates": a conflicting row is left alone, only new ones come back."""
    headers = {"Prefer": "return=representation, resolution=ignore-duplicates"}
    r = upsertable.post("/upsertable", json=[{"id": 1, "name": "nope"}, {"id": 4, "name": "four"}], headers=headers)
    assert r.status_code == 201
    assert r.json() == [{"id": 4, "name": "four", "note": "none"}]
    assert upsertable.get("/upsertable?id=eq.1&select=name").json() == [{"name": "one"}]


def test_on_conflict_column(upsertable):
    """UpsertSpec "on single unique key conflict": on_conflict names the columns."""
    upsertable.post("/upsertable", json={"id": 5, "name": "five"})
    r = upsertable.post(
        "/upsertable?on_conflict=id",
        json={"id": 5, "name": "FIVE"},
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert r.status_code == 200 and r.json()[0]["name"] == "FIVE"


def test_resolution_without_key_is_plain_insert(s):
    """Response.hs: resolution is applied only with a primary key or on_conflict; without, a plain insert."""
    r = s.post("/keyless", json={"a": 6}, headers={"Prefer": "resolution=merge-duplicates"})
    try:
        assert r.status_code == 201 and "Preference-Applied" not in r.headers
    finally:
        s.delete("/keyless?a=eq.6")


def test_put_inserts_then_replaces(upsertable):
    """UpsertSpec "with PUT": 201 when it inserts, 200 when it replaces, 204 without representation."""
    r = upsertable.put("/upsertable?id=eq.7", json={"id": 7, "name": "seven"}, headers=REPRESENTATION)
    assert r.status_code == 201 and r.json() == [{"id": 7, "name": "seven", "note": "none"}]
    r = upsertable.put("/upsertable?id=eq.7", json=[{"id": 7, "name": "SEVEN", "note": "x"}], headers=REPRESENTATION)
    assert r.status_code == 200 and r.json() == [{"id": 7, "name": "SEVEN", "note": "x"}]
    assert upsertable.put("/upsertable?id=eq.7", json={"id": 7, "name": "7"}).status_code == 204


def test_put_errors(s):
    """UpsertSpec PUT errors: PGRST105 (filters not the key), PGRST115 (payload key differs), PGRST114."""
    row = {"id": 8, "name": "eight"}
    for path in (
        "/upsertable?name=eq.eight",
        "/upsertable?id=not.eq.8",
        "/upsertable?and=(id.eq.8)",
        "/keyless?a=eq.1",
    ):
        r = s.put(path, json=row)
        assert r.status_code == 405, path
        assert r.json()["message"] == "Filters must include all and only primary key columns with 'eq' operators"
    r = s.put("/upsertable?id=eq.9", json=row)
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST115",
        "message": "Payload values do not match URL in primary key column(s)",
        "details": None,
        "hint": None,
    }
    r = s.put("/upsertable?id=eq.8&limit=1", json=row)
    assert r.status_code == 400
    assert r.json()["message"] == "limit/offset querystring parameters are not allowed for PUT"


# ---- CSV and JSON paths -------------------------------------------------------------------------


def test_csv(s):
    """QuerySpec "CSV output": a header of the columns, then the rows; NULL is empty, text with a
    comma quoted (the row's composite text)."""
    r = s.get("/items?select=id,name,qty&id=in.(1,10)&order=id", headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.text == 'id,name,qty\n1,"item 1",10\n10,"item 10",'
    assert s.get("/items?id=eq.0", headers={"Accept": "text/csv"}).text == "\n"


def test_json_path_select(s):
    """JsonOperatorSpec "obtains a json subfield": -> keeps JSON, ->> gives text, named by the last key."""
    r = s.get("/books?select=id,meta->>color,w:meta->dims->w,meta->tags->0&id=eq.1")
    assert r.json() == [{"id": 1, "color": "red", "w": 3, "0": "x"}]
    r = s.get("/books?select=meta->dims&id=eq.3")
    assert r.json() == [{"dims": {"w": 5, "h": 5}}]


def test_json_path_filter_and_order(s):
    """JsonOperatorSpec "filters by json subfield" and "orders by a json subfield"."""
    r = s.get("/books?select=id&meta->>color=eq.blue")
    assert r.json() == [{"id": 2}]
    r = s.get("/books?select=id&meta->dims->w=gt.4&order=meta->dims->w.desc")
    assert r.json() == [{"id": 2}, {"id": 3}], "-> compares as jsonb: 10 > 4"
    assert s.get("/books?select=id&meta->dims->>w=gt.4").json() == [{"id": 3}], "->> compares text: '10' < '4'"
    r = s.get("/books?select=id&meta=not.is.null&order=meta->>color")
    assert r.json() == [{"id": 2}, {"id": 3}, {"id": 1}]


def test_blank_columns_parameter(s):
    """InsertSpec "disallows blank ?columns": PGRST100 with the parser's position."""
    r = s.post("/keyless?columns=", json=[{"a": 1}])
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST100",
        "message": '"failed to parse columns parameter ()" (line 1, column 1)',
        "details": "unexpected end of input expecting field name (* or [a..z0..9_$])",
        "hint": None,
    }


def test_missing_default(s):
    """UpsertSpec/InsertSpec "Prefer: missing=default": a key a row lacks takes the column's default;
    without it (missing=null is the default) NULL."""
    rows = [{"id": 60, "name": "sixty"}, {"id": 61, "name": "x", "note": "given"}]
    try:
        r = s.post(
            "/upsertable?columns=id,name,note", json=rows, headers={"Prefer": "return=representation, missing=default"}
        )
        assert r.status_code == 201
        assert [row["note"] for row in r.json()] == ["none", "given"]
        assert r.headers["Preference-Applied"] == "missing=default, return=representation"
        r = s.post("/upsertable?columns=id,note", json=[{"id": 62}], headers=REPRESENTATION)
        assert r.json()[0]["note"] is None
    finally:
        s.delete("/upsertable?id=in.(60,61,62)")


def test_max_affected_with_handling_strict(s):
    """PreferencesSpec "max-affected with handling=strict": more rows than allowed is 400 PGRST124 and
    nothing changes; within the limit it is applied; with handling=lenient it is ignored."""
    s.post("/keyless", json=[{"a": 7}, {"a": 7}, {"a": 7}])
    try:
        r = s.delete("/keyless?a=eq.7", headers={"Prefer": "handling=strict, max-affected=2"})
        assert r.status_code == 400
        assert r.json() == {
            "code": "PGRST124",
            "message": "Query result exceeds max-affected preference constraint",
            "details": "The query affects 3 rows",
            "hint": None,
        }
        assert len(s.get("/keyless?a=eq.7").json()) == 3, "rolled back"
        r = s.patch("/keyless?a=eq.7", json={"b": "q"}, headers={"Prefer": "handling=strict, max-affected=3"})
        assert r.status_code == 204 and r.headers["Preference-Applied"] == "handling=strict, max-affected=3"
        r = s.delete("/keyless?a=eq.7", headers={"Prefer": "handling=lenient, max-affected=1"})
        assert r.status_code == 204 and r.headers["Preference-Applied"] == "handling=lenient"
    finally:
        s.delete("/keyless?a=eq.7")


def test_csv_request_body(s):
    """InsertSpec "CSV": a text/csv body inserts its rows (NULL is null), answered as CSV of the selected
    columns; lines of different lengths are PGRST102."""
    headers = {"Content-Type": "text/csv", "Accept": "text/csv", "Prefer": "return=representation"}
    try:
        r = s.post("/keyless?select=b", data="a,b\n110,bar\n111,NULL", headers=headers)
        assert r.status_code == 201
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.text == "b\nbar\n"
    finally:
        s.delete("/keyless?a=in.(110,111)")
    r = s.post("/keyless", data="a,b\n1,x\n2", headers={"Content-Type": "text/csv"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST102",
        "message": "All lines must have same number of fields",
        "details": None,
        "hint": None,
    }


def test_timezone_preference(s):
    """v16.2 test/spec/Feature/Query/Preferences/TimezoneSpec.hs "should change timezone without
    handling=strict": timezone= is applied (timestamps shown in it) and named in Preference-Applied."""
    r = s.get("/events?select=at", headers={"Prefer": "timezone=America/Los_Angeles"})
    assert r.json() == [{"at": "2020-01-01T04:00:00-08:00"}]
    assert r.headers["Preference-Applied"] == "timezone=America/Los_Angeles"


@pytest.mark.parametrize("handling", ["", "handling=strict, ", "handling=lenient, "])
def test_timezone_preference_is_always_strict(s, handling):
    """v16.2 TimezoneSpec "should throw error without handling" / "with handling=strict" / "with
    handling=lenient" (CHANGELOG 16.0, #5128): an unknown zone is PostgreSQL's 22023, whatever handling."""
    r = s.get("/events", headers={"Prefer": handling + "timezone=Invalid/Timezone"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "22023",
        "details": None,
        "hint": None,
        "message": 'invalid value for parameter "TimeZone": "Invalid/Timezone"',
    }


def test_timezone_preference_takes_offsets(s):
    """v16.2 TimezoneSpec "should change with negative offset" (CHANGELOG 16.0, #5100): a numeric
    offset is a zone too: -4 shows timestamps at -04:00."""
    r = s.get("/events?select=at", headers={"Prefer": "timezone=-4"})
    assert r.json() == [{"at": "2020-01-01T08:00:00-04:00"}]
    assert r.headers["Preference-Applied"] == "timezone=-4"
