"""The instructor guide's timings and the chapters' "Time to learn" say the same (issue 14)."""

from __future__ import annotations

import nbformat

from stack.course import guide, site


def test_every_chapter_says_the_time_the_guide_derived():
    derived = guide.guide_minutes()
    assert set(derived) == {path.stem for path in site.chapters()}
    for path in site.chapters():
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        assert [int(m) for m in guide.TIME_TO_LEARN.findall(text)] == [derived[path.stem]], path.name


def test_the_guide_says_how_its_timings_were_derived():
    text = guide.GUIDE.read_text()
    for rate in (
        f"{guide.READING_WPM} words per minute",
        f"{guide.CODE_LINES_PER_MINUTE}\nper minute",
        f"{guide.EXERCISE_MINUTES} minutes per exercise",
    ):
        assert " ".join(rate.split()) in " ".join(text.split())
    assert "No learner was timed" in text
