"""Contract: resource embedding, as PostgREST v14.1's test/spec/Feature/Query/EmbedDisambiguationSpec.hs,
QuerySpec.hs ("embedding"), EmbedInnerJoinSpec.hs, SpreadQueriesSpec.hs and RelatedQueriesSpec.hs
exercise it; error texts from src/PostgREST/Error.hs (NoRelBetween, AmbiguousRelBetween, NotEmbedded,
UnacceptableFilter, RelatedOrderNotToOne, AggregatesNotAllowed). Fixture: authors, books, tags through
book_tags, biographies (one-to-one), duos (two foreign keys to authors)."""


def test_many_to_one_is_an_object(s):
    """QuerySpec "embeds parent": a many-to-one embed is one object, or null when the key is null."""
    r = s.get("/books?select=title,authors(name)&order=id")
    assert r.status_code == 200
    assert r.json() == [
        {"title": "Alpha", "authors": {"name": "Ann"}},
        {"title": "Beta", "authors": {"name": "Ann"}},
        {"title": "Gamma", "authors": {"name": "Bob"}},
        {"title": "Delta", "authors": None},
    ]


def test_one_to_many_is_an_array(s):
    """QuerySpec "embeds children": one-to-many is an array, [] when there are none."""
    r = s.get("/authors?select=name,books(title)&order=id&books.order=id")
    assert r.json() == [
        {"name": "Ann", "books": [{"title": "Alpha"}, {"title": "Beta"}]},
        {"name": "Bob", "books": [{"title": "Gamma"}]},
        {"name": "Cid", "books": []},
    ]


def test_many_to_many_through_junction(s):
    """QuerySpec "many to many": a table whose two foreign keys are its primary key is a junction."""
    r = s.get("/books?select=title,tags(label)&order=id&tags.order=label")
    assert r.json() == [
        {"title": "Alpha", "tags": [{"label": "old"}]},
        {"title": "Beta", "tags": [{"label": "new"}]},
        {"title": "Gamma", "tags": [{"label": "new"}, {"label": "old"}]},
        {"title": "Delta", "tags": []},
    ]


def test_one_to_one_is_an_object_both_ways(s):
    """A foreign key that is also the primary key is one-to-one (SchemaCache.hs): an object each way."""
    assert s.get("/authors?select=name,biographies(text)&id=eq.1").json() == [
        {"name": "Ann", "biographies": {"text": "Ann wrote two books"}}
    ]
    assert s.get("/biographies?select=authors(name)").json() == [{"authors": {"name": "Ann"}}]


def test_star_alias_and_nested_embeds(s):
    """QuerySpec "embed with alias" and nested embeds: alias:resource(...), two levels deep."""
    r = s.get("/books?select=id,writer:authors(name,books(id))&id=eq.3&writer.books.order=id")
    assert r.json() == [{"id": 3, "writer": {"name": "Bob", "books": [{"id": 3}]}}]
    full = s.get("/books?select=*,authors(*)&id=eq.3").json()[0]
    assert full["authors"] == {"id": 2, "name": "Bob"} and full["title"] == "Gamma"


def test_embedded_filters_order_limit(s):
    """QuerySpec "embedded resources with filters/order/limit": child rows filtered, parents kept."""
    r = s.get("/authors?select=name,books(title)&order=id&books.title=like.*a&books.order=title.desc&books.limit=1")
    assert r.json() == [
        {"name": "Ann", "books": [{"title": "Beta"}]},
        {"name": "Bob", "books": [{"title": "Gamma"}]},
        {"name": "Cid", "books": []},
    ]
    r = s.get("/authors?select=name,books(title)&id=eq.1&books.or=(title.eq.Alpha,year.gt.2004)&books.order=id")
    assert r.json() == [{"name": "Ann", "books": [{"title": "Alpha"}, {"title": "Beta"}]}]


def test_inner_join(s):
    """EmbedInnerJoinSpec: !inner drops the parents without a matching child."""
    r = s.get("/books?select=title,authors!inner(name)&authors.name=eq.Ann&order=id")
    assert r.json() == [{"title": "Alpha", "authors": {"name": "Ann"}}, {"title": "Beta", "authors": {"name": "Ann"}}]
    left = s.get("/books?select=title,authors(name)&authors.name=eq.Ann&order=id").json()
    assert [row["authors"] for row in left] == [{"name": "Ann"}, {"name": "Ann"}, None, None]


def test_null_filter_on_embed(s):
    """EmbedInnerJoinSpec "null filtering": embed=not.is.null is an inner join, embed=is.null an anti-join."""
    assert [a["name"] for a in s.get("/authors?select=name,books(id)&books=is.null").json()] == ["Cid"]
    names = s.get("/authors?select=name,books(id)&books=not.is.null&order=id").json()
    assert [a["name"] for a in names] == ["Ann", "Bob"]
    r = s.get("/authors?select=name,books(id)&books=eq.1")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST120",
        "message": "Bad operator on the 'books' embedded resource",
        "details": "Only is null or not is null filters are allowed on embedded resources",
        "hint": None,
    }


def test_empty_embed_filters_only(s):
    """EmbedInnerJoinSpec: an embed with no columns filters the parent and is not in the output."""
    r = s.get("/books?select=title,authors!inner()&authors.name=eq.Bob")
    assert r.json() == [{"title": "Gamma"}]


def test_spread_to_one(s):
    """SpreadQueriesSpec: ...authors(name) puts the to-one's columns in the parent."""
    r = s.get("/books?select=title,...authors(author:name)&order=id&limit=2")
    assert r.json() == [{"title": "Alpha", "author": "Ann"}, {"title": "Beta", "author": "Ann"}]


def test_spread_through_junction(s):
    """EmbedDisambiguationSpec "disambiguated with spread embeds": junction(...target(*))."""
    r = s.get("/books?select=id,book_tags(...tags(label))&id=eq.3&book_tags.order=tag_id")
    assert r.json() == [{"id": 3, "book_tags": [{"label": "old"}, {"label": "new"}]}]


def test_related_order(s):
    """RelatedQueriesSpec: order=authors(name).desc orders by a to-one embed's column."""
    r = s.get("/books?select=title,authors(name)&order=authors(name).desc.nullslast,id&limit=3")
    assert [row["title"] for row in r.json()] == ["Gamma", "Alpha", "Beta"]
    r = s.get("/authors?select=name,books(title)&order=books(title)")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST118",
        "message": "A related order on 'books' is not possible",
        "details": "'authors' and 'books' do not form a many-to-one or one-to-one relationship",
        "hint": None,
    }


def test_no_relationship_pgrst200(s):
    """Error.hs NoRelBetween: 400 PGRST200, details naming the schema, a fuzzy hint for a near name."""
    r = s.get("/books?select=*,author(*)")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST200",
        "message": "Could not find a relationship between 'books' and 'author' in the schema cache",
        "details": "Searched for a foreign key relationship between 'books' and 'author' in the schema 'api', "
        "but no matches were found.",
        "hint": "Perhaps you meant 'authors' instead of 'author'.",
    }
    hinted = s.get("/books?select=*,authors!no_such_fkey(*)").json()
    assert hinted["details"] == (
        "Searched for a foreign key relationship between 'books' and 'authors' using the hint 'no_such_fkey' "
        "in the schema 'api', but no matches were found."
    )
    assert s.get("/items?select=*,tags(*)").json()["code"] == "PGRST200"


def test_ambiguous_pgrst201(s):
    """EmbedDisambiguationSpec "errs on an ambiguous embed": 300 PGRST201, each relationship described."""
    r = s.get("/duos?select=*,authors(*)")
    assert r.status_code == 300
    assert r.json() == {
        "code": "PGRST201",
        "message": "Could not embed because more than one relationship was found for 'duos' and 'authors'",
        "details": [
            {
                "cardinality": "many-to-one",
                "embedding": "duos with authors",
                "relationship": "duos_first_id_fkey using duos(first_id) and authors(id)",
            },
            {
                "cardinality": "many-to-one",
                "embedding": "duos with authors",
                "relationship": "duos_second_id_fkey using duos(second_id) and authors(id)",
            },
        ],
        "hint": "Try changing 'authors' to one of the following: 'authors!duos_first_id_fkey', "
        "'authors!duos_second_id_fkey'. Find the desired relationship in the 'details' key.",
    }


def test_disambiguation_by_hint_and_column(s):
    """EmbedDisambiguationSpec: the hint is a constraint or a column; the target a column."""
    by_constraint = s.get("/duos?select=first:authors!duos_first_id_fkey(name),second:authors!second_id(name)")
    assert by_constraint.json() == [{"first": {"name": "Ann"}, "second": {"name": "Bob"}}]
    by_column = s.get("/duos?select=first_id(name)")
    assert by_column.json() == [{"first_id": {"name": "Ann"}}]


def test_filter_on_unselected_embed_pgrst108(s):
    """Error.hs NotEmbedded: a filter on a resource the select does not embed."""
    r = s.get("/books?select=title&authors.name=eq.Ann")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST108",
        "message": "'authors' is not an embedded resource in this request",
        "details": None,
        "hint": "Verify that 'authors' is included in the 'select' query parameter.",
    }


def test_aggregates_are_disabled(s):
    """db-aggregates-enabled is false by default (Error.hs AggregatesNotAllowed): 400 PGRST123."""
    r = s.get("/items?select=count()")
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST123"
    assert r.json()["message"] == "Use of aggregate functions is not allowed"


def test_embed_in_mutation_representation(s):
    """InsertSpec "embedding in the representation": POST ...&select=*,authors(name) returns the embed."""
    headers = {"Prefer": "return=representation"}
    r = s.post("/books?select=id,authors(name)", json={"id": 50, "title": "Epsilon", "author_id": 3}, headers=headers)
    try:
        assert r.status_code == 201
        assert r.json() == [{"id": 50, "authors": {"name": "Cid"}}]
    finally:
        s.delete("/books?id=eq.50")


def test_embedding_through_a_view(s):
    """EmbedDisambiguationSpec / SchemaCache.hs addViewM2OAndO2ORels: a view showing a table's foreign
    key columns has that table's relationships, both ways."""
    assert s.get("/books_view?select=title,authors(name)&id=eq.3").json() == [
        {"title": "Gamma", "authors": {"name": "Bob"}}
    ]
    r = s.get("/authors?select=name,books_view(title)&id=eq.2")
    assert r.json() == [{"name": "Bob", "books_view": [{"title": "Gamma"}]}]


def test_computed_fields_and_relationships(s):
    """v14.1 docs "Computed Fields" and ComputedRelsSpec: a function of a row is a column (select,
    filter, order) and, returning a table's rows, a relationship named by it (ROWS 1: to-one)."""
    assert s.get("/authors?select=id,label&label=eq.Author Bob").json() == [{"id": 2, "label": "Author Bob"}]
    r = s.get("/authors?select=name,written(title)&id=eq.1&written.order=id")
    assert r.json() == [{"name": "Ann", "written": [{"title": "Alpha"}, {"title": "Beta"}]}]
    r = s.get("/authors?select=name,first_book(title)&order=first_book(title).desc.nullslast")
    assert r.json() == [
        {"name": "Bob", "first_book": {"title": "Gamma"}},
        {"name": "Ann", "first_book": {"title": "Alpha"}},
        {"name": "Cid", "first_book": None},
    ]


def test_deeply_nested_select_is_a_400(s):
    """Not from PostgREST (its parser has no depth limit): nesting deeper than Python recurses must
    still be PostgREST's 400 PGRST100, not a 500."""
    r = s.get("/authors?select=" + "books(" * 1500 + "id" + ")" * 1500)
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST100"
