"""The room benchmark's arithmetic (bench/room.py): its think times, its p95 rule and its projection.
The benchmark itself needs root and a hub (`make bench-room`); these parts need neither."""

from __future__ import annotations

import os
import random
import statistics
import time

from bench import room
from stack.workshop import memory


def test_think_times_are_lognormal_around_the_stated_median():
    rng = random.Random(1)
    gaps = [room.think(rng, 1.0) for _ in range(4000)]
    assert abs(statistics.median(gaps) - room.THINK_MEDIAN) < 1.5
    share_over_68 = sum(gap > 68 for gap in gaps) / len(gaps)  # sigma 0.75: about one in twenty
    assert 0.03 < share_over_68 < 0.07, share_over_68
    scaled = [room.think(random.Random(1), 0.25) for _ in range(10)]
    assert scaled[0] == room.think(random.Random(1), 1.0) * 0.25


def test_a_round_holds_while_p95_stays_within_twice_solo():
    assert room.holds(2.0, 1.0) and not room.holds(2.01, 1.0)
    rounds = [
        {"learners": 1, "holds": True},
        {"learners": 2, "holds": True},
        {"learners": 1, "holds": True},
        {"learners": 4, "holds": False},
        {"learners": 1, "holds": True},
        {"learners": 8, "holds": True},  # a noisy later round does not lift the figure past a broken one
    ]
    assert room.largest_holding(rounds) == 2


def test_summary_counts_failures_and_takes_percentiles():
    cells = [room.Cell(0, 1, "a", "00", i, seconds, ok) for i, (seconds, ok) in enumerate([(0.1, True), (0.2, True), (0.3, False)])]  # fmt: skip
    figures = room.summary(cells)
    assert figures["cells"] == 3 and figures["failed"] == 1
    assert figures["p50_s"] == 0.2 and figures["p95_s"] == 0.29


def test_projection_takes_the_smaller_of_cpu_and_memory():
    two_gib = 2 * 2**30
    small = room.projection(20, 2, two_gib, 8)  # CPU: 80; memory: 0.8 * 32 GiB / 2 GiB = 12
    assert (small["by_cpu"], small["by_memory"], small["learners"]) == (80, 12, 12)
    light = room.projection(20, 2, 2**28, 8)  # 256 MiB each: memory allows 102, CPU 80
    assert light["learners"] == 80


def test_code_cells_are_the_chapters_own():
    notebook = {
        "cells": [{"cell_type": "markdown", "source": "x"}, {"cell_type": "code", "source": ["a = 1\n", "b = 2"]}]
    }
    assert room.code_cells(notebook) == ["a = 1\nb = 2"]


def test_the_sampler_counts_cpu_spent_inside_the_block():
    with memory.Sampler({"me": os.getuid()}, interval=0.2) as sampled:
        deadline = time.process_time() + 0.5
        while time.process_time() < deadline:
            pass
    assert sampled.cpu_seconds["me"] >= 0.4, sampled.cpu_seconds
    assert sampled.peak["me"] >= sampled.last["me"] > 0


def test_the_readme_tables_come_from_the_run():
    round_row = {"round": 0, "learners": 1, "cells": 9, "p50_s": 0.05, "p95_s": 0.19, "p95_over_solo": 1.0, "cpu_cores_per_learner": 0.063, "peak_bytes_per_learner": 369 * 2**20, "machine_cpu_percent": 41.0, "load_average": [2.5, 1.7]}  # fmt: skip
    arm = {"spawn_seconds": [20.6], "idle_fresh_bytes": [249 * 2**20], "idle_fresh_cpu_cores": [0.004], "chapters_open_bytes": [480 * 2**20], "chapters_left_idle_bytes": [275 * 2**20], "kernels_left": [0]}  # fmt: skip
    text = room.markdown(
        {"rounds": [round_row], "before_after": {"before": {**arm, "kernels_left": [9]}, "after": arm}}
    )
    assert "| 0 | 1 | 9 | 0.05 s | 0.19 s | 1.00x | 6.3% of a core | 369 MiB | 41% | 2.5-1.7 |" in text
    assert "| kernels left | 9 | 0 |" in text and "| idle, fresh, MiB | 249 | 249 |" in text
