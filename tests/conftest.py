"""Fixtures shared by the stack's tests. Each test file brings the stack to the state it needs."""

from __future__ import annotations

import pytest

from stack import chapter


@pytest.fixture(scope="session")
def page_stack() -> str:
    """The stack up, migrated, seeded, running the seed page's recipe as written."""
    return chapter.ready(recipe="page")
