"""The instructor guide's timing table: each chapter's measured run time and a reading estimate.

No learner was timed for this course, so the reading part is derived, and says how: prose words at
READING_WPM, code lines at CODE_LINES_PER_MINUTE, EXERCISE_MINUTES for the exercise, plus the run time
that `make tutorial` measured (build/course-times.json), rounded up to 5 minutes. `python -m
stack.course.guide` prints the table for docs/instructor-guide.md; the chapters' "Time to learn" lines
carry the same minutes (tests/test_guide.py).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import nbformat

from . import plan, site

READING_WPM = 120  # a slow, technical reading rate: these chapters are read next to a running stack
CODE_LINES_PER_MINUTE = 10  # reading a cell and its output before running it
EXERCISE_MINUTES = 5  # an allowance per exercise, not a measurement
GUIDE = site.config.ROOT / "docs" / "instructor-guide.md"
TIME_TO_LEARN = re.compile(r"\*\*Time to learn\*\*: (\d+) minutes")


def counts(path: Path) -> tuple[int, int, int]:
    """Prose words, code lines and exercises of a chapter."""
    notebook = nbformat.read(path, as_version=4)
    prose = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    prose = re.sub(r"```.*?```", " ", prose, flags=re.S)  # diagrams are looked at, not read word by word
    words = len(re.findall(r"[\w'`-]+", prose))
    code = sum(len(c.source.splitlines()) for c in notebook.cells if c.cell_type == "code")
    exercises = sum(1 for c in notebook.cells if "solution" in c.get("metadata", {}).get("tags", []))
    return words, code, exercises


def minutes(path: Path, run_seconds: float) -> tuple[float, int]:
    """The reading estimate (minutes, unrounded) and the Time to learn (rounded up to 5 minutes)."""
    words, code, exercises = counts(path)
    reading = words / READING_WPM + code / CODE_LINES_PER_MINUTE + exercises * EXERCISE_MINUTES
    return reading, 5 * math.ceil((reading + run_seconds / 60) / 5)


def table(times: dict[str, float]) -> str:
    rows = [
        "| Chapter | Path | Run time (measured) | Prose words | Code lines | Reading estimate | Time to learn |",
        "|---|---|---|---|---|---|---|",
    ]
    total = core = 0
    for path in site.chapters():
        words, code, _ = counts(path)
        reading, learn = minutes(path, times[path.stem])
        total += learn
        core += learn if plan.is_core(path) else 0
        rows.append(
            f"| {path.stem} | {plan.part(path)} | {times[path.stem]:.1f} s | {words} | {code} | {reading:.0f} min"
            f" | {learn} min |"
        )
    core_seconds = sum(seconds for stem, seconds in times.items() if plan.is_core(stem))
    rows.append(f"| core path ({plan.CORE[0]}-{plan.CORE[-1]}) | | {core_seconds:.0f} s | | | | {core} min |")
    rows.append(f"| all | | {sum(times.values()):.0f} s | | | | {total} min |")
    return "\n".join(rows)


def committed_run_times() -> dict[str, float]:
    """The Run time column of the committed guide, per chapter: for chapters the last run did not measure."""
    found = {}
    for line in GUIDE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if re.fullmatch(r"\d\d-[\w-]+", cells[0]):
            found[cells[0]] = next(float(cell[:-2]) for cell in cells if re.fullmatch(r"[\d.]+ s", cell))
    return found


def guide_minutes() -> dict[str, int]:
    """The Time to learn column of the committed guide, per chapter."""
    found = re.findall(r"^\| (\d\d-[\w-]+) \|.*\| (\d+) min \|$", GUIDE.read_text(), re.M)
    return {stem: int(value) for stem, value in found}


def core_minutes(without: tuple[str, ...] = ()) -> int:
    """The core path's Time to learn in the committed guide (the sum over its chapters), leaving out `without`."""
    return sum(
        minutes for stem, minutes in guide_minutes().items() if plan.is_core(stem) and plan.number(stem) not in without
    )


def main() -> int:
    measured = json.loads(site.TIMES.read_text())
    times = {path.stem: measured.get(path.stem, committed_run_times().get(path.stem)) for path in site.chapters()}
    unmeasured = sorted(stem for stem in times if stem not in measured)
    if any(times[stem] is None for stem in unmeasured):
        print(f"no run time for {[s for s in unmeasured if times[s] is None]}: run them first", file=sys.stderr)
        return 1
    if unmeasured:
        print(f"(run times of {', '.join(unmeasured)} are the committed guide's: the last run left them out)")
    print(table(times))
    print(f"\n(for the core path's prose, once this table is in the guide: {core_minutes()} minutes; without the")
    print(f"set-up chapters {', '.join(plan.SET_UP)}: {core_minutes(plan.SET_UP)} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
