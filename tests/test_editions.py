"""Every exercise, both editions (issue 14): the check fails on the learner's stub with a hint,
passes on the solution, and fails on plausible wrong answers.

Each chapter runs once up to its exercise (stack.course.editions.attempt); then each answer is run
followed by the chapter's own check cell, in that kernel.
"""

from __future__ import annotations

import nbformat
import pytest

from stack.course import browser, editions, site

# Plausible wrong answers, as edits of the solution cell: (what the solution says, what a learner might write).
WRONG = {
    "00": [
        (
            "hmac.new(key, signing_input.encode(), hashlib.sha256).digest()",
            "hashlib.sha256(key + signing_input.encode()).digest()",
        ),
        (
            "b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())",
            "hmac.new(key, signing_input.encode(), hashlib.sha256).hexdigest()",
        ),
        ("hmac.new(key, signing_input.encode(),", "hmac.new(base64.b64encode(key), signing_input.encode(),"),
    ],
    "01": [
        (
            "my_secret = base64.b64encode(secrets.token_bytes(32))",
            "my_secret = base64.b64encode(secrets.token_bytes(16))",
        ),
        ("my_secret = base64.b64encode(secrets.token_bytes(32)).decode()", "my_secret = secrets.token_urlsafe(32)"),
        (
            "refused_secret = base64.b64encode(secrets.token_bytes(16)).decode()",
            'refused_secret = "correct-horse-battery-staple"',
        ),
        (
            "my_secret = base64.b64encode(secrets.token_bytes(32)).decode()",
            "my_secret = base64.b64encode(secrets.token_bytes(32))",
        ),
    ],
    "02": [
        # in the public part of the Caddyfile: served without a cookie
        (
            '.replace("# .. other private endpoints ..", "# .. other private endpoints .."',
            '.replace("# .. other public endpoints ..", "# .. other public endpoints .."',
        ),
        ("handle /hello {", "handle /hello/* {"),  # matches /hello/x, not /hello
        (
            'handle /hello {\n\t\trespond "hello, signed-in user"\n\t}',
            'handle /hello { respond "hi" }',
        ),  # Caddy refuses
    ],
    "03": [
        ("to basic_subscriber", "to anon"),
        ("grant select on", "grant select, insert, update on"),  # the task table's grant, copied
        ("to basic_subscriber", "to public"),
        ("grant select on public.note", "grant usage on schema public"),
        ("public.note", "public.notes"),  # PostgreSQL refuses it: its own message, not the wrong-answer hint
    ],
    "04": [
        ("crypt(%(password)s, password)", "crypt(%(password)s, gen_salt('bf'))"),
        ("password = crypt(%(password)s, password)", "password = %(password)s"),
    ],
    "04.2": [
        ("grant reader to authenticator;\n", ""),  # PostgREST may not switch to it
        ("grant select on public.task to reader;\n", ""),
        ("grant select on public.task to reader", "grant all on public.task to reader"),
        ("'read only please', 'reader')", "'read only please', 'basic_subscriber')"),
        (  # the user before its role: the constraint trigger refuses it, with PostgreSQL's message
            "create role reader nologin;\n",
            "insert into auth.user (username, password, role) values ('reader_user', 'x', 'reader');\ncreate role reader nologin;\n",
        ),
    ],
    "05": [
        ('headers={"Content-Profile": "auth"},', "headers={},"),  # PostgREST looks in public
        ('json={"user_": username, "pass": password}', 'json={"username": username, "password": password}'),
        ('algorithms=["HS256"])', 'algorithms=["HS256"], options={"verify_signature": False})'),
    ],
    "05.2": [
        ("base64.urlsafe_b64decode(", "base64.b64decode("),  # the standard alphabet
        ('segment + "=" * (-len(segment) % 4)', "segment"),  # no padding
    ],
    "06": [
        ('"exp": int(time.time()) - 5', '"exp": int(time.time()) - 60'),  # beyond PostgREST's leeway too
        ('"exp": int(time.time()) - 5', '"exp": int(time.time()) + 60'),  # both accept it
        ("tokens.secret_key(), algorithm", 'b"another key of exactly 32 bytes!", algorithm'),  # both refuse it
    ],
    "07": [
        (  # a plain prefix test: /rpc/refresh_tokens would get the refresh token
            'path == cookie.path or (\n            path.startswith(cookie.path) and (cookie.path.endswith("/") or path[len(cookie.path)] == "/")\n        )',
            "path.startswith(cookie.path)",
        ),
        ('headers={"Content-Profile": "auth"},', "headers={},"),
        ('cookies=cookies_for(jar, "/rpc/refresh_token")', 'cookies={"refresh_token": jar["refresh_token"]}'),
    ],
    "08": [
        (
            'session.post(http.gateway("/rpc/logout"), headers={"Content-Profile": "auth"}',
            'session.post(http.gateway("/rpc/logout"), headers={}',
        ),
        ('"refresh": session.post(', '"refresh": requests.post('),  # a request without the session's jar
        ('cookies={"access_token": copied_access_token}, ', ""),
    ],
    "09": [
        ('if not response.content and "WWW-Authenticate" not in response.headers:', "if response.status_code == 401:"),
        (  # the course's helper is the answer: the check must not accept it
            'if not response.content and "WWW-Authenticate" not in response.headers:\n        return "Caddy"\n    return "PostgREST"',
            "return http.refused_by(response)",
        ),
        ('if not response.content and "WWW-Authenticate" not in response.headers:', "if response.json() is None:"),
    ],
    "10": [
        ("where family = %(family)s and not revoked", "where username = 'demo' and not revoked"),
        ("update auth.refresh_token set revoked = true where", "delete from auth.refresh_token where"),
        ("set revoked = true where family = %(family)s and not revoked", "set revoked = true"),
    ],
    "11": [
        ("\tnot header Content-Type application/json*\n", ""),  # every write without Content-Profile
        ("not header Content-Type application/json*", "header Content-Type application/x-www-form-urlencoded"),
        ("method POST PUT PATCH DELETE", "method PUT PATCH DELETE"),
    ],
    "12": [
        ("pg_catalog.octet_length(new.password) > 72", "pg_catalog.length(new.password) > 72"),  # characters
        ("pg_catalog.octet_length(new.password) > 72", "pg_catalog.octet_length(new.password) >= 72"),
        ("public.gen_salt('bf', 10)", "public.gen_salt('bf')"),
    ],
    "14": [
        ("'Content-Profile': 'auth'", "'Accept': 'application/json'"),  # PostgREST looks in public: 404
        ("credentials: 'same-origin'", "credentials: 'omit'"),  # the browser keeps no cookie of the answer
        ("{user_: 'demo', pass: 'demo'}", "{username: 'demo', password: 'demo'}"),
    ],
    "15": [
        ("ms_at_cost_4 * 2 ** (cost + 1 - 4) <= budget_ms", "ms_at_cost_4 * 2 ** (cost - 4) <= budget_ms"),
        ("while cost < 31 and ", "while "),
    ],
    "17": [
        ("    and not revoked\n", ""),
        ("family_started_at > now() - interval '30 days'", "created_at > now() - interval '30 days'"),
        ("interval '7 days'", "interval '30 days'"),
    ],
    "18": [
        ('"headers": {"Content-Profile": "auth"}', '"headers": {}'),
        ('"path": "/rpc/signup"', '"path": "/rpc/login"'),
        ('"user_": "learner_1"', '"user": "learner_1"'),
        ('"pass": "my own long password"', '"pass": "learner_1 pw"'),
    ],
    "16": [
        ("using (owner = (select", "using (owner <> (select"),
        ("::json ->> 'sub'", "::json ->> 'role'"),
        ("to basic_subscriber", "to anon"),
    ],
    "19": [
        ('my_claims = {"aud": None}', 'my_claims = {"aud": "another-app"}'),
        ('my_claims = {"aud": None}', 'my_claims = {"iss": None}'),
        ('my_claims = {"aud": None}', 'my_claims = {"aud": "superstack", "iss": "another-app"}'),
    ],
    "13": [
        ("alter role basic_subscriber set", "alter role anon set"),  # another role's limit
        ("notify pgrst, 'reload config';", ""),  # PostgREST never reads it
        ("alter role basic_subscriber set", "set"),  # the psql session's own limit
    ],
}
# What the check must not print on the stub: the answer itself.
GIVEAWAY = {
    "00": ["hmac.new", "urlsafe", "digest"],
    "01": ["token_bytes(32)", "token_bytes(16)"],
    "02": ["handle /hello", "respond"],
    "03": ["grant select", "public.note to"],
    "04": ["crypt(%(password)s", "crypt(candidate"],
    "05": ["Content-Profile", "user_", "verify_signature", "HS256"],
    "05.2": ["urlsafe_b64decode"],
    "07": ["startswith", "Content-Profile", "endswith"],
    "08": ["204", "200", "Content-Profile", "refresh_token cookie"],
    "04.2": ["grant reader", "create role"],
    "09": ["it was"],
    "10": ["family", "revoked = true", "username"],
    "11": ["application/json", "Content-Profile", "not header"],
    "12": ["octet_length", "'bf', 10", "72 bytes"],
    "14": ["Content-Profile", "user_", "/rpc/login", "same-origin"],
    "16": ["request.jwt.claims", "owner =", "'sub'"],
    "17": ["revoked", "family_started_at", "7 days", "30 days"],
    "18": ["/rpc/signup", "Content-Profile", "user_", "POST"],
    "19": ["None", "[]", "absent", "missing", "without"],
    "13": ["alter role", "reload config", "'1s'"],
}


def key(chapter: str, index: int) -> str:
    """A chapter's first exercise is "07", its second "07.2", and so on."""
    return chapter if index == 0 else f"{chapter}.{index + 1}"


def test_every_exercise_is_covered():
    tagged = {
        key(path.name[:2], index)
        for path in site.chapters()
        for index, _ in enumerate(editions.exercises(nbformat.read(path, as_version=4)))
    }
    assert tagged == set(WRONG)


@pytest.mark.parametrize("number", sorted(WRONG))
def test_exercise(page_stack, number):
    chapter, _, nth = number.partition(".")
    index = int(nth) - 1 if nth else 0
    [path] = site.chapters([f"{chapter}-"])
    if chapter == "14" and not browser.available():
        pytest.skip(browser.missing())
    notebook = nbformat.read(path, as_version=4)
    exercise = editions.exercises(notebook)[index]
    solution = notebook.cells[exercise.solution].source
    stub = editions.learner(notebook).cells[exercise.solution].source
    assert stub != solution
    wrong = []
    for said, instead in WRONG[number]:
        assert said in solution, f"the wrong answer no longer edits the solution: {said!r}"
        wrong.append(solution.replace(said, instead))

    on_stub, on_solution, *on_wrong = editions.attempt(path, [stub, solution, *wrong], exercise=index)

    assert on_solution is None
    assert on_stub is not None and on_stub.startswith("AssertionError: ") and len(on_stub) > 30, on_stub
    for giveaway in GIVEAWAY.get(number, []):
        assert giveaway not in on_stub, f"the hint gives the answer away: {on_stub}"
    assert all(outcome is not None for outcome in on_wrong), list(zip(wrong, on_wrong, strict=True))
    if number == "03":  # SQL that PostgreSQL refuses gets PostgreSQL's message, not the wrong-answer hint
        assert "PostgreSQL refused your SQL" in on_wrong[-1] and "PostgreSQL refused" not in on_wrong[0], on_wrong


def test_learner_edition_has_no_answers_and_no_outputs():
    for path in site.chapters():
        notebook = nbformat.read(path, as_version=4)
        learner = editions.learner(notebook)
        for exercise in editions.exercises(notebook):
            assert learner.cells[exercise.solution].source == notebook.cells[exercise.solution].metadata["stub"]
        assert all(
            not cell.get("outputs") and cell.get("execution_count") is None
            for cell in learner.cells
            if cell.cell_type == "code"
        )
        assert all("stub" not in cell.metadata for cell in learner.cells)
