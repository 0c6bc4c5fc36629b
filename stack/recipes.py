"""Which recipe the stack runs: the seed page's as written ("page"), or the hardened one.

Chapters before the hardening chapter call use("page"); the hardening chapter and those
after it call use("hardened"). Switching is idempotent and works in both directions, so
every chapter reruns on its own. (Implemented with the hardening chapter, issue 5.)
"""

from __future__ import annotations

RECIPES = ("page", "hardened")


def current() -> str:
    return "page"


def use(recipe: str) -> str:
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}")
    if recipe != "page":
        raise NotImplementedError("the hardened recipe arrives with the hardening chapter")
    return recipe
