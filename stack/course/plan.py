"""Which chapters are the core path and which are advanced: said once, here.

The core path is the seed page's steps in its order (00-09): a half-day workshop. Every later chapter is
advanced, in parts. The instructor guide (guide.py), the course site (book.py) and tests/test_guide.py all
read this list.
"""

from __future__ import annotations

from pathlib import Path

CORE = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09")
SET_UP = ("01", "02", "03", "04")  # the core's set-up steps, which a teacher may present when time is short
ADVANCED = {
    "hardening": ("10", "11", "12", "13"),
    "in the browser": ("14",),
    "what auth costs": ("15",),
    "beyond the page": ("16", "17", "18", "19"),
}


def number(chapter: Path | str) -> str:
    """A chapter's number, from its path or its stem: "05" for notebooks/05-log-in.ipynb."""
    return Path(chapter).name[:2]


def is_core(chapter: Path | str) -> bool:
    return number(chapter) in CORE


def part(chapter: Path | str) -> str:
    """ "core path", or the advanced part the chapter belongs to."""
    if is_core(chapter):
        return "core path"
    found = [name for name, numbers in ADVANCED.items() if number(chapter) in numbers]
    if not found:
        raise ValueError(f"chapter {number(chapter)} is in no part: add it to stack/course/plan.py")
    return f"advanced: {found[0]}"
