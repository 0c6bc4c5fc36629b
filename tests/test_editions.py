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
        ("base64.urlsafe_b64decode(", "base64.b64decode("),  # the standard alphabet
        ('segment + "=" * (-len(segment) % 4)', "segment"),  # no padding
    ],
    "06": [
        ("tokens.make(exp=int(time.time()) - 5)", "tokens.make()"),
        ("tokens.make(exp=int(time.time()) - 5)", "tokens.make(exp=int(time.time()) - 60)"),
    ],
    "07": [('"POST /rpc/logout": {"access_token"}', '"POST /rpc/logout": {"access_token", "refresh_token"}')],
    "08": [('"jar after logout": {"refresh_token"}', '"jar after logout": set()')],
    "09": [
        ('if not response.content and "WWW-Authenticate" not in response.headers:', "if response.status_code == 401:")
    ],
    "10": [
        ("revoked_rows_after_reuse = 3", "revoked_rows_after_reuse = 1"),
        ("r3_still_works = False", "r3_still_works = True"),
    ],
    "11": [
        ('answer = {"refresh_token": "/rpc/refresh_token"}', 'answer = {"refresh_token": "/"}'),
        ('answer = {"refresh_token": "/rpc/refresh_token"}', "answer = {}"),
    ],
    "12": [
        ("ms_at_cost_4 * 2 ** (cost + 1 - 4) <= budget_ms", "ms_at_cost_4 * 2 ** (cost - 4) <= budget_ms"),
        ("while cost < 31 and ", "while "),
    ],
}
# What the check must not print on the stub: the answer itself.
GIVEAWAY = {
    "00": ["hmac.new", "urlsafe", "digest"],
    "01": ["token_bytes(32)", "token_bytes(16)"],
    "02": ["handle /hello", "respond"],
    "03": ["grant select", "public.note to"],
    "04": ["crypt(%(password)s", "crypt(candidate"],
    "04.2": ["grant reader", "create role"],
    "05": ["urlsafe_b64decode"],
    "07": ["{'access_token'", "{'refresh_token'"],
    "08": ["204", "200", "{'refresh_token'}"],
    "09": ["it was"],
    "10": ["3", "True", "False"],
    "11": ["/rpc/refresh_token"],
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
    index = int(nth or 1) - 1
    [path] = site.chapters([f"{chapter}-"])
    if chapter == "11" and not browser.available():
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
