"""`python -m bench.room` (root; `make bench-room`): how many learners, working at a learner's pace, one
server holds while each cell still answers quickly.

A real hub (bench.capacity.spawned: workshop/jupyterhub_config.py, learners spawned through its REST
API). Each learner works as in their browser: opens chapter 00 (a session through their own server's
API: its kernel starts), reads, runs the chapter's own code cells one by one (their kernel's websocket),
then opens the next chapter, leaving the earlier ones open (tab and kernel), for a fixed wall time. Between
two cells a learner thinks for a time drawn from a lognormal distribution (THINK_MEDIAN, THINK_SIGMA),
multiplied by --think-scale so that a round fits the time (a scale of 0.1: ten times that pace).
Recorded per cell: the seconds from sending it to its kernel being idle again (its output complete).

Rounds: one learner alone, then N together, a solo round between every two, for N in --learners, until
a round's p95 is over FACTOR times the solo p95 or a cell fails; the solo reference pools every solo
round of the run. Per round: p50 and p95, the CPU each learner's processes used (cores), their memory
(PSS, peak), the hub's CPU, the machine's CPU use and load average. At the end of a round the learners
close their chapters (their kernels stop), so every round starts alike.

--ab K first measures what the workshop's settings save, before and after in the same run: two hubs at
once, K learners each, their spawn requests sent together. "before" is the workshop as it was
(WORKSHOP_SHARED_VENV=0: each learner installs their own venv; WORKSHOP_KERNEL_IDLE_MINUTES=0: every
kernel kept), "after" as it is now, with the kernel limit shortened to --ab-kernel-minutes. Measured:
spawn time, each learner's memory and CPU idle when fresh, then with chapters 00-08 opened (their first
cell run) and left idle past that limit, and where the first learner's memory goes.
Writes build/room.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from urllib.parse import quote

import psutil
from tornado.httpclient import AsyncHTTPClient

from stack import config
from stack.workshop import memory, room

from . import capacity
from .timing import percentile

# Seconds between two cells. The instructor guide's reading rates (120 prose words and 10 code lines a
# minute) give 100 s per code cell on average over chapters 00-08 (10418 words, 1241 code lines, 127 code
# cells): a median of 20 s is a fast learner, about five times the guide's pace.
THINK_MEDIAN = 20.0
THINK_SIGMA = 0.75  # lognormal spread: a quarter of the gaps under 12 s, one in twenty over 68 s
FACTOR = 2.0  # a round holds while its p95 cell latency stays within this many times the solo p95
CELL_TIMEOUT = 180
PROJECTED_CORES = (8, 16, 32)
GIB_PER_CORE = 4  # the projection's assumed server: 4 GiB per core (8 cores / 32 GiB, ...)


@dataclass
class Cell:
    round: int
    learners: int
    learner: str
    chapter: str
    index: int
    seconds: float
    ok: bool


def think(rng: random.Random, scale: float, median: float = THINK_MEDIAN, sigma: float = THINK_SIGMA) -> float:
    """One gap between two cells, in seconds: lognormal with that median, times `scale`."""
    return scale * rng.lognormvariate(math.log(median), sigma)


def code_cells(notebook: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]  # fmt: skip


def summary(cells: list[Cell]) -> dict:
    seconds = [c.seconds for c in cells]
    return {
        "cells": len(cells),
        "failed": sum(not c.ok for c in cells),
        "p50_s": round(percentile(seconds, 0.50), 3) if seconds else None,
        "p95_s": round(percentile(seconds, 0.95), 3) if seconds else None,
    }


def holds(round_p95: float, solo_p95: float, factor: float = FACTOR) -> bool:
    return round_p95 <= factor * solo_p95


def largest_holding(rounds: list[dict]) -> int:
    """The largest N of the consecutive rounds, from the first, whose p95 held and no cell failed."""
    best = 1
    for r in (r for r in rounds if r["learners"] > 1):  # the solo rounds are the reference
        if not r["holds"]:
            break
        best = max(best, r["learners"])
    return best


def projection(learners_here: float, cores_here: int, peak_bytes: int, cores: int) -> dict:
    """Learners a bigger server would hold by CPU (this machine's figure scaled by cores: assumes CPU
    saturates first, as measured here, and that it scales linearly) and by memory (GIB_PER_CORE per
    core, capacity.HEADROOM of it for learners, each at the measured peak)."""
    by_cpu = int(learners_here * cores / cores_here)
    by_memory = int(capacity.HEADROOM * cores * GIB_PER_CORE * 2**30 / peak_bytes)
    return {"cores": cores, "memory_gib": cores * GIB_PER_CORE, "by_cpu": by_cpu, "by_memory": by_memory, "learners": min(by_cpu, by_memory)}  # fmt: skip


async def chapter_paths(hub: room.Hub, name: str) -> list[str]:
    """Chapters 00-08 as the learner's server lists them (their own copy of the course)."""
    response = await AsyncHTTPClient().fetch(f"{hub.url}/user/{name}/api/contents?content=1", headers=auth(hub))
    listed = sorted(item["path"] for item in json.loads(response.body)["content"] if item["type"] == "notebook")
    return [path for path in listed if any(path.startswith(prefix) for prefix in room.CHAPTERS)]


def auth(hub: room.Hub) -> dict:
    return {"Authorization": f"token {hub.token}"}


async def read_chapter(hub: room.Hub, name: str, path: str) -> list[str]:
    response = await AsyncHTTPClient().fetch(f"{hub.url}/user/{name}/api/contents/{quote(path)}?content=1", headers=auth(hub))  # fmt: skip
    return code_cells(json.loads(response.body)["content"])


async def learner(
    hub: room.Hub, name: str, paths: list[str], deadline: float, rng: random.Random, scale: float, record
) -> list[room.Notebook]:
    """One learner's round: chapter after chapter (back to 00 after 08), a thought before each cell."""
    opened: list[room.Notebook] = []
    for number in range(10**6):
        path = paths[number % len(paths)]
        cells = await read_chapter(hub, name, path)
        notebook = room.Notebook(hub, name, path)
        opened.append(notebook)
        started = time.monotonic()
        try:
            record(name, path.split("-")[0], -1, await notebook.open(), None)  # cell -1: opening the chapter
        except Exception as failure:  # no kernel: the room broke for this learner, as a failed cell
            record(name, path.split("-")[0], 0, time.monotonic() - started, f"opening {path}: {failure}")
            return opened
        for index, code in enumerate(cells):
            await asyncio.sleep(think(rng, scale))
            if time.monotonic() >= deadline:
                return opened
            started = time.monotonic()
            try:
                _, error = await notebook.execute(code, CELL_TIMEOUT)
            except Exception as failure:  # a dead kernel or a timeout: the room broke for this learner
                error = str(failure)
            record(name, path.split("-")[0], index, time.monotonic() - started, error)
            if error:
                print(f"    {name} {path} cell {index} failed:\n{error[-1500:]}", flush=True)
                return opened
    return opened


def hub_cpu(hub: room.Hub) -> float:
    total = 0.0
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(hub.process.pid)
        for process in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def one_round(hub: room.Hub, number: int, names: list[str], paths: list[str], wall: float, scale: float, seed: int):
    """N learners (`names`) for `wall` seconds; their cells, and the round's report."""
    cells: list[Cell] = []
    opens: list[float] = []

    def record(name, chapter, index, seconds, error):
        if index < 0:
            opens.append(seconds)
        else:
            cells.append(Cell(number, len(names), name, chapter, index, round(seconds, 4), error is None))

    async def everyone():
        deadline = time.monotonic() + wall
        rngs = [random.Random(f"{seed}-{number}-{name}") for name in names]
        opened = await asyncio.gather(*(learner(hub, n, paths, deadline, r, scale, record) for n, r in zip(names, rngs, strict=True)))  # fmt: skip
        for notebooks in opened:  # the round is over: the learners close their tabs (and kernels)
            for notebook in notebooks:
                await notebook.close()
        return [len(notebooks) for notebooks in opened]

    uids = {name: memory.uid_of(name) for name in names}
    load_before, hub_before = os.getloadavg()[0], hub_cpu(hub)
    psutil.cpu_percent()
    started = time.monotonic()
    with memory.Sampler(uids, interval=2.0) as sampled:
        kernels = asyncio.run(everyone())
    elapsed = time.monotonic() - started
    report = {
        "round": number,
        "learners": len(names),
        "seconds": round(elapsed, 1),
        **summary(cells),
        "chapters_opened_per_learner": kernels,
        "open_chapter_p50_s": round(percentile(opens, 0.5), 2) if opens else None,
        "open_chapter_max_s": round(max(opens), 2) if opens else None,
        "cpu_cores_per_learner": round(statistics.mean(sampled.cpu_seconds.values()) / elapsed, 3),
        "peak_bytes_per_learner": max(sampled.peak.values()),
        "hub_cpu_cores": round((hub_cpu(hub) - hub_before) / elapsed, 3),
        "machine_cpu_percent": psutil.cpu_percent(),
        "machine_memory_percent": psutil.virtual_memory().percent,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    return cells, report


def run_rounds(options, report: dict) -> list[Cell]:
    sizes = sorted(set(options.learners))
    all_cells: list[Cell] = []
    with capacity.spawned(max(sizes), options.shared, {"WORKSHOP_IDLE_MINUTES": "600"}) as (hub, names, ready):
        report["spawn_seconds"] = {"max": round(max(ready.values()), 1), "median": round(statistics.median(ready.values()), 1)}  # fmt: skip
        print(f"==> {len(names)} learners ready {report['spawn_seconds']['max']:.0f} s after the spawn requests", flush=True)  # fmt: skip
        paths = asyncio.run(chapter_paths(hub, names[0]))
        plan = [1]
        for size in sizes:
            if size > 1:
                plan += [size, 1]
        solo: list[Cell] = []
        for number, size in enumerate(plan):
            cells, row = one_round(hub, number, names[:size], paths, options.wall, options.think_scale, options.seed)
            all_cells += cells
            if size == 1:
                solo += cells
            report["rounds"].append(row)
            reference = summary(solo)
            print(
                f"==> round {number}: {size} learner(s), {row['cells']} cells, p50 {row['p50_s']} s, p95 {row['p95_s']} s, "
                f"opening a chapter p50 {row['open_chapter_p50_s']} s (max {row['open_chapter_max_s']} s) "
                f"(solo so far: p95 {reference['p95_s']} s), {row['cpu_cores_per_learner']} cores and "
                f"{memory.mib(row['peak_bytes_per_learner'])} MiB per learner, machine CPU {row['machine_cpu_percent']}%, "
                f"load {row['load_average']}",
                flush=True,
            )
            if row["failed"] or (size > 1 and not holds(row["p95_s"], reference["p95_s"])):
                if plan[number + 1 :][:1] == [1]:  # the solo round after it, then stop: it broke
                    cells, row = one_round(hub, number + 1, names[:1], paths, options.wall, options.think_scale, options.seed)  # fmt: skip
                    all_cells += cells
                    solo += cells
                    report["rounds"].append(row)
                break
        reference = summary(solo)
        report["solo"] = reference
        for row in report["rounds"]:
            row["p95_over_solo"] = round(row["p95_s"] / reference["p95_s"], 2) if row["p95_s"] else None
            row["p50_over_solo"] = round(row["p50_s"] / reference["p50_s"], 2) if row["p50_s"] else None
            row["holds"] = not row["failed"] and bool(row["p95_s"]) and holds(row["p95_s"], reference["p95_s"])
    return all_cells


# --- item 2: before and after, same run ---------------------------------------------------------------

BEFORE = {
    "WORKSHOP_KERNEL_IDLE_MINUTES": "0",
    "WORKSHOP_SHARED_VENV": "0",
}  # as the workshop was: own venvs, no kernel limit


async def open_every_chapter(hub: room.Hub, name: str, paths: list[str]) -> None:
    """As a learner who opens every chapter and runs its first cell, then leaves them all open."""
    for path in paths:
        notebook = room.Notebook(hub, name, path)
        await notebook.open()
        cells = await read_chapter(hub, name, path)
        await notebook.execute(cells[0], CELL_TIMEOUT)
        notebook.connection.close()  # the websocket; the kernel stays, as with a tab left open


def idle_memory(hubs: dict, seconds: float) -> dict[str, dict[str, list]]:
    """Every learner's PSS at the end of `seconds` of sampling, and the CPU their processes used meanwhile
    (cores), per arm: both arms sampled together."""
    uids = {(arm, name): memory.uid_of(name) for arm, (_, names, _) in hubs.items() for name in names}
    with memory.Sampler({f"{arm}/{name}": uid for (arm, name), uid in uids.items()}, interval=2.0) as sampled:
        time.sleep(seconds)
    return {
        arm: {
            "bytes": sorted(sampled.last[f"{arm}/{name}"] for name in names),
            "cpu_cores": sorted(round(sampled.cpu_seconds[f"{arm}/{name}"] / seconds, 4) for name in names),
        }
        for arm, (_, names, _) in hubs.items()
    }


def parts(hubs: dict) -> dict[str, dict[str, int]]:
    """Where the first learner of each arm's memory goes (MiB of PSS by process kind)."""
    return {arm: {k: memory.mib(v) for k, v in memory.pss_by_part(memory.uid_of(names[0])).items()} for arm, (_, names, _) in hubs.items()}  # fmt: skip


def before_and_after(options, report: dict) -> None:
    minutes = options.ab_kernel_minutes
    arms = {"before": {**BEFORE, "WORKSHOP_IDLE_MINUTES": "600"}, "after": {"WORKSHOP_KERNEL_IDLE_MINUTES": str(minutes), "WORKSHOP_IDLE_MINUTES": "600"}}  # fmt: skip
    with capacity.spawned_hubs(options.ab, options.shared, arms) as hubs:
        figures = {arm: {"spawn_seconds": sorted(round(s, 1) for s in ready.values())} for arm, (_, _, ready) in hubs.items()}  # fmt: skip
        for arm, sampled in idle_memory(hubs, 20).items():
            figures[arm]["idle_fresh_bytes"], figures[arm]["idle_fresh_cpu_cores"] = (
                sampled["bytes"],
                sampled["cpu_cores"],
            )
        for arm, mib in parts(hubs).items():
            figures[arm]["idle_fresh_parts_mib"] = mib

        async def open_all():
            jobs = []
            for hub, names, _ in hubs.values():
                paths = await chapter_paths(hub, names[0])
                jobs += [open_every_chapter(hub, name, paths) for name in names]
            await asyncio.gather(*jobs)

        asyncio.run(open_all())
        for arm, sampled in idle_memory(hubs, 4).items():
            figures[arm]["chapters_open_bytes"] = sampled["bytes"]
        wait = minutes * 60 * 1.25 + 20
        print(f"==> chapters 00-08 open in every learner; idle for {wait:.0f} s (the kernel limit after: {minutes} min)", flush=True)  # fmt: skip
        time.sleep(wait)
        for arm, sampled in idle_memory(hubs, 20).items():
            figures[arm]["chapters_left_idle_bytes"] = sampled["bytes"]
            figures[arm]["chapters_left_idle_cpu_cores"] = sampled["cpu_cores"]
        for arm, mib in parts(hubs).items():
            figures[arm]["chapters_left_idle_parts_mib"] = mib
        for arm, (hub, names, _) in hubs.items():
            figures[arm]["kernels_left"] = [len(hub.server_api(n, "GET", "/kernels").json()) for n in names]
    report["before_after"] = {"learners_each": options.ab, "kernel_idle_minutes_after": minutes, **figures}
    for arm, f in figures.items():
        print(
            f"==> {arm}: spawn {f['spawn_seconds']} s; idle MiB fresh {[memory.mib(b) for b in f['idle_fresh_bytes']]} "
            f"(CPU {f['idle_fresh_cpu_cores']} cores), "
            f"chapters 00-08 open {[memory.mib(b) for b in f['chapters_open_bytes']]}, "
            f"left idle {[memory.mib(b) for b in f['chapters_left_idle_bytes']]} ({f['kernels_left']} kernels, "
            f"CPU {f['chapters_left_idle_cpu_cores']} cores); "
            f"first learner's MiB by part, fresh {f['idle_fresh_parts_mib']}, left idle {f['chapters_left_idle_parts_mib']}",
            flush=True,
        )


def print_table(report: dict) -> None:
    print()
    print("round | learners | cells | p50 s | p95 s | p95 vs solo | cores per learner | peak MiB per learner | machine CPU % | load")  # fmt: skip
    for r in report["rounds"]:
        print(
            f"{r['round']:>5} | {r['learners']:>8} | {r['cells']:>5} | {r['p50_s']:>5} | {r['p95_s']:>5} | {r['p95_over_solo']:>10}x | "
            f"{r['cpu_cores_per_learner']:>17} | {memory.mib(r['peak_bytes_per_learner']):>20} | {r['machine_cpu_percent']:>13} | {r['load_average']}"
        )


def markdown(report: dict) -> str:
    """The README's tables from a run's build/room.json."""
    lines = [
        "| round | learners | cells run | p50 | p95 | p95 vs solo | CPU per learner | peak memory per learner | machine CPU | load average |",  # fmt: skip
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rounds"]:
        lines.append(
            f"| {r['round']} | {r['learners']} | {r['cells']} | {r['p50_s']:.2f} s | {r['p95_s']:.2f} s | {r['p95_over_solo']:.2f}x | "
            f"{r['cpu_cores_per_learner'] * 100:.1f}% of a core | {memory.mib(r['peak_bytes_per_learner'])} MiB | "
            f"{r['machine_cpu_percent']:.0f}% | {r['load_average'][0]:.1f}-{r['load_average'][1]:.1f} |"
        )
    ab = report.get("before_after")
    if ab:
        lines += ["", "| per learner | before | after |", "|---|---|---|"]
        rows = [
            ("spawn (all at once), s", "spawn_seconds", lambda v: ", ".join(f"{x:.0f}" for x in v)),
            ("idle, fresh, MiB", "idle_fresh_bytes", lambda v: ", ".join(str(memory.mib(x)) for x in v)),
            ("idle CPU, fresh, % of a core", "idle_fresh_cpu_cores", lambda v: ", ".join(f"{x * 100:.1f}" for x in v)),
            ("chapters 00-08 just opened, MiB", "chapters_open_bytes", lambda v: ", ".join(str(memory.mib(x)) for x in v)),
            ("chapters 00-08 left idle, MiB", "chapters_left_idle_bytes", lambda v: ", ".join(str(memory.mib(x)) for x in v)),
            ("kernels left", "kernels_left", lambda v: ", ".join(str(x) for x in v)),
        ]  # fmt: skip
        for label, key, show in rows:
            lines.append(f"| {label} | {show(ab['before'][key])} | {show(ab['after'][key])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.room", description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=lambda s: [int(n) for n in s.split(",")], default=[2, 4, 8, 16])
    parser.add_argument("--wall", type=float, default=90, help="seconds per round")
    parser.add_argument("--think-scale", type=float, default=0.1, help="think time multiplier (1: a learner's pace)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--ab", type=int, default=2, help="learners per arm of the before/after; 0 skips it")
    parser.add_argument("--ab-kernel-minutes", type=float, default=1.0, help="the kernel limit in the after arm")
    parser.add_argument("--shared", default=os.environ.get("WORKSHOP_SHARED", "/tmp/superstack-jwt-room"))
    parser.add_argument("--markdown", metavar="ROOM_JSON", help="only print the README's tables of an earlier run")
    options = parser.parse_args(argv)
    if options.markdown:
        print(markdown(json.loads(open(options.markdown).read())))
        return 0
    report: dict = {
        "cores": os.cpu_count(),
        "memory_bytes": capacity.total_memory(),
        "think": {
            "distribution": "lognormal",
            "median_s": THINK_MEDIAN,
            "sigma": THINK_SIGMA,
            "scale": options.think_scale,
        },  # fmt: skip
        "wall_seconds_per_round": options.wall,
        "factor": FACTOR,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "rounds": [],
    }
    print(
        f"Room benchmark: think time lognormal, median {THINK_MEDIAN * options.think_scale:.1f} s "
        f"({THINK_MEDIAN:.0f} s x {options.think_scale}), sigma {THINK_SIGMA}; {options.wall:.0f} s a round; "
        f"load average now {report['load_average_at_start']}",
        flush=True,
    )
    if options.ab:
        before_and_after(options, report)
    cells = run_rounds(options, report)
    here = largest_holding(report["rounds"])
    peak = max(r["peak_bytes_per_learner"] for r in report["rounds"])
    report["capacity"] = here
    report["capped"] = here == max(r["learners"] for r in report["rounds"])
    report["equivalent_at_a_learners_pace"] = round(here / options.think_scale, 1)
    report["peak_bytes_per_learner"] = peak
    report["memory_bound_here"] = int(capacity.HEADROOM * report["memory_bytes"] / peak)
    equivalent = report["equivalent_at_a_learners_pace"]
    report["projection"] = [projection(equivalent, report["cores"], peak, cores) for cores in PROJECTED_CORES]
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print_table(report)
    bound = "at least " if report["capped"] else ""
    print(
        f"\nthis machine ({report['cores']} cores): {bound}{here} learners at {1 / options.think_scale:.0f}x a learner's pace "
        f"with p95 within {FACTOR:.0f}x solo (solo p95 {report['solo']['p95_s']} s); "
        f"by cell rate that is {report['equivalent_at_a_learners_pace']} learners at a think median of {THINK_MEDIAN:.0f} s; "
        f"memory ({memory.mib(peak)} MiB per learner at the peak) would allow {report['memory_bound_here']}"
    )
    for p in report["projection"]:
        print(f"projection, {p['cores']} cores / {p['memory_gib']} GiB: {p['learners']} learners at a learner's pace (CPU {p['by_cpu']}, memory {p['by_memory']})")  # fmt: skip
    target = config.BUILD_DIR / "room.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**report, "cells": [asdict(c) for c in cells]}, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
