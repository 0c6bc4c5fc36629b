"""The instructor guide's timings and the chapters' "Time to learn" say the same (issue 14)."""

from __future__ import annotations

import nbformat

from stack.course import book, guide, plan, site


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


def test_every_chapter_is_on_the_core_path_or_in_an_advanced_part():
    parts = {path.name[:2]: plan.part(path) for path in site.chapters()}
    assert {number for number, part in parts.items() if part == "core path"} == set(plan.CORE) & set(parts)
    assert all(part.startswith("advanced: ") for number, part in parts.items() if number not in plan.CORE)


def test_the_guide_names_the_core_path_and_its_measured_time():
    text = guide.GUIDE.read_text()
    span = f"{plan.CORE[0]}-{plan.CORE[-1]}"
    total = guide.core_minutes()
    assert total == sum(minutes for stem, minutes in guide.guide_minutes().items() if stem[:2] in plan.CORE) > 0
    assert f"| core path ({span}) |" in text and text.count(f"| {total} min |") >= 1
    assert f"The core path is chapters {span}" in " ".join(text.split())
    assert f"{total} minutes" in text  # the prose says the table's figures
    assert f"{guide.core_minutes(plan.SET_UP)} minutes" in text
    for path in site.chapters():
        row = next(line for line in text.splitlines() if line.startswith(f"| {path.stem} |"))
        assert row.split(" | ")[1] == plan.part(path), row


def test_the_site_marks_core_and_advanced():
    chapters = book.stored()
    index = book.index_page(chapters, [])
    core = index.split(":caption: Core path\n:hidden:\n")[1].split("```")[0].split()
    advanced = index.split(":caption: Advanced\n:hidden:\n")[1].split("```")[0].split()
    assert core == [c.path.name for c in chapters if c.path.name[:2] in plan.CORE]
    assert advanced == [c.path.name for c in chapters if c.path.name[:2] not in plan.CORE]
    for c in chapters:
        assert f"({c.path.name}) | {plan.part(c.path)} |" in index
