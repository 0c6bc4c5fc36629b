"""A real client: Supabase's Python `postgrest` (SyncPostgrestClient), used the way a SuperStack app
uses it, against the server under test (the suite's own, or POSTGREST_URL). Each call goes through
the client's own request building and response parsing; the expected rows are the fixture's."""

import jwt
import pytest
from postgrest import APIError, CountMethod, ReturnMethod, SyncPostgrestClient

from stack.harness.conformance import SECRET


@pytest.fixture
def client(s):
    with SyncPostgrestClient(s.base, schema="api") as api:
        yield api


@pytest.fixture
def keyless(client):
    yield client
    client.from_("keyless").delete().gte("a", 100).execute()


def test_select_filters_order(client):
    rows = client.from_("items").select("id,name").gt("id", 7).order("id", desc=True).execute().data
    assert rows == [{"id": 10, "name": "item 10"}, {"id": 9, "name": "item 9"}, {"id": 8, "name": "item 8"}]
    assert client.from_("items").select("id").in_("id", [2, 4]).is_("qty", "null").execute().data == []
    assert client.from_("items").select("id").like("name", "item 1%").order("id").execute().data == [
        {"id": 1},
        {"id": 10},
    ]
    either = client.from_("items").select("id").or_("id.eq.1,id.eq.3").order("id").execute().data
    assert either == [{"id": 1}, {"id": 3}]


def test_range_and_count(client):
    response = client.from_("items").select("id", count=CountMethod.exact).order("id").range(2, 4).execute()
    assert response.data == [{"id": 3}, {"id": 4}, {"id": 5}]
    assert response.count == 10
    limited = client.from_("items").select("id").order("id").limit(2).offset(1).execute()
    assert limited.data == [{"id": 2}, {"id": 3}]
    head = client.from_("items").select("*", count=CountMethod.exact, head=True).execute()
    assert head.count == 10


def test_single_and_maybe_single(client):
    assert client.from_("items").select("name").eq("id", 2).single().execute().data == {"name": "item 2"}
    assert client.from_("items").select("name").eq("id", 99).maybe_single().execute() is None
    with pytest.raises(APIError) as refused:
        client.from_("items").select("name").single().execute()
    assert refused.value.code == "PGRST116"


def test_insert_bulk_update_delete(keyless):
    inserted = keyless.from_("keyless").insert({"a": 100, "b": "x"}).execute().data
    assert inserted == [{"a": 100, "b": "x"}]
    # Different keys in one bulk insert: the client sends ?columns= with their union
    bulk = keyless.from_("keyless").insert([{"a": 101}, {"a": 102, "b": "y"}]).execute().data
    assert bulk == [{"a": 101, "b": None}, {"a": 102, "b": "y"}]
    minimal = keyless.from_("keyless").insert({"a": 103}, returning=ReturnMethod.minimal).execute()
    assert minimal.data == []
    updated = keyless.from_("keyless").update({"b": "z"}).gte("a", 101).order("a").execute().data
    assert [row["b"] for row in updated] == ["z", "z", "z"]
    deleted = keyless.from_("keyless").delete(count=CountMethod.exact).eq("b", "z").execute()
    assert deleted.count == 3
    assert keyless.from_("keyless").select("a").execute().data == [{"a": 100}]


def test_upsert(client):
    try:
        merged = client.from_("upsertable").upsert([{"id": 1, "name": "uno"}, {"id": 40, "name": "forty"}]).execute()
        assert merged.data == [
            {"id": 1, "name": "uno", "note": "first"},
            {"id": 40, "name": "forty", "note": "none"},  # not in ?columns=: its default
        ]
        ignored = client.from_("upsertable").upsert({"id": 1, "name": "ignored"}, ignore_duplicates=True).execute()
        assert ignored.data == []
        keyed = client.from_("upsertable").upsert({"id": 40, "name": "FORTY"}, on_conflict="id").execute()
        assert keyed.data[0]["name"] == "FORTY"
    finally:
        client.from_("upsertable").delete().eq("id", 40).execute()
        client.from_("upsertable").update({"name": "one"}).eq("id", 1).execute()


def test_rpc(client):
    assert client.rpc("add", {"a": 2, "b": 3}).execute().data == 5
    assert client.rpc("greet", {"name": "Ann"}).execute().data == "hello, Ann"
    listed = client.rpc("list_items", {}).lt("id", 3).order("id", desc=True).execute().data
    assert [row["id"] for row in listed] == [2, 1]
    with pytest.raises(APIError) as refused:
        client.rpc("no_such_function", {}).execute()
    assert refused.value.code == "PGRST202"


def test_embedding(client):
    rows = client.from_("books").select("title, authors(name), tags(label)").eq("id", 3).execute().data
    assert rows == [{"title": "Gamma", "authors": {"name": "Bob"}, "tags": [{"label": "old"}, {"label": "new"}]}]
    inner = client.from_("authors").select("name, books!inner(title)").eq("books.title", "Beta").execute().data
    assert inner == [{"name": "Ann", "books": [{"title": "Beta"}]}]


def test_json_path(client):
    rows = client.from_("books").select("id, meta->>color").eq("meta->>color", "green").execute().data
    assert rows == [{"id": 3, "color": "green"}]


def test_csv(client):
    text = client.from_("items").select("id,qty").lte("id", 2).order("id").csv().execute().data
    assert text == "id,qty\n1,10\n2,20"


def test_schema_switch(client):
    assert client.schema("other").from_("things").select("id").order("id").execute().data == [{"id": 1}, {"id": 2}]
    assert client.schema("other").rpc("where_am_i", {}).execute().data == "other"


def test_auth_with_a_token(client):
    with pytest.raises(APIError) as anonymous:
        client.from_("secrets").select("*").execute()
    assert anonymous.value.code == "42501"
    token = jwt.encode({"role": "pgrst_conf_user"}, SECRET, algorithm="HS256")
    client.auth(token)
    assert client.from_("secrets").select("secret").eq("id", 1).execute().data == [{"secret": "hidden"}]
    client.auth(jwt.encode({"role": "pgrst_conf_user"}, "x" * 40, algorithm="HS256"))
    with pytest.raises(APIError) as refused:
        client.from_("secrets").select("*").execute()
    assert refused.value.code == "PGRST301"
    assert refused.value.message == "No suitable key or wrong key type"


def test_more_filters(client):
    assert client.from_("items").select("id").match({"id": 3, "name": "item 3"}).execute().data == [{"id": 3}]
    assert len(client.from_("items").select("id").neq("id", 1).execute().data) == 9
    assert client.from_("items").select("id").ilike("name", "ITEM 2").execute().data == [{"id": 2}]
    assert client.from_("items").select("id").not_.is_("qty", "null").lte("id", 1).execute().data == [{"id": 1}]
    assert client.from_("tagged").select("id").contains("tags", [2]).order("id").execute().data == [
        {"id": 1},
        {"id": 2},
    ]
    found = client.from_("tagged").select("id").text_search("body", "fox", {"type": "plain", "config": "english"})
    assert found.order("id").execute().data == [{"id": 1}, {"id": 3}]
    assert client.from_("items").select("id").filter("id", "in", "(4,5)").order("id").execute().data == [
        {"id": 4},
        {"id": 5},
    ]
