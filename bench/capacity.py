"""`python -m bench.capacity` (root; `make bench-capacity`): how many learners one server holds.

A real JupyterHub with workshop/jupyterhub_config.py, N learners spawned, then rounds: chapters 00-08 in
one learner alone, then in k learners at once (k = 2, 3, 4, 6, 8, ...), a solo round before each, so the
solo reference (the median of the solo rounds) is interleaved with the load. Capacity is the largest k at
which every chapter of every learner finished within FACTOR times its solo time. Memory per learner is
PSS (shared pages split between their users) of all the learner's processes: PostgreSQL, PostgREST,
Caddy, their Jupyter server and kernels, idle and at its peak while running chapters. The projection for a
bigger server scales the CPU-bound count by cores and checks it against memory. Writes build/capacity.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stack import config
from stack.errors import StackError
from stack.workshop import memory, room

FACTOR = 2.0
ROUNDS = (2, 3, 4, 6, 8, 10, 12)  # every one up to --max-learners runs, so a noisy round is seen as such
SPAWN_TIMEOUT = 1800
HEADROOM = 0.8  # of a machine's memory given to learners; the rest is the system's and the hub's


def chapters_in(kernels: dict, names: list[str], timeout: float = 1800) -> tuple[dict[str, dict], float]:
    started = time.monotonic()
    outputs = asyncio.run(room.run_everywhere(kernels, dict.fromkeys(names, room.RUN_CHAPTERS), timeout))
    results = {name: room.last_json(output) for name, output in outputs.items()}
    failed = {name: [c for c, (ok, _, _) in result.items() if not ok] for name, result in results.items()}
    if any(failed.values()):
        raise SystemExit(f"chapters failed under load: {failed}")
    return results, time.monotonic() - started


def total_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def spawned_hubs(count: int, shared: str, arms: dict[str, dict[str, str]]):
    """One real hub (workshop/jupyterhub_config.py) per arm, each with its settings (`arms`: name to
    environment) and `count` new learners; every learner's spawn request is sent at once through the
    hubs' REST APIs (alternating between the hubs), as a room starts. Yields, per arm, (hub, names,
    seconds from the spawn requests until each learner was ready). However the caller ends, the servers
    and the hubs stop and the learners' accounts are removed."""
    names = {arm: room.new_learner_names(count) for arm in arms}
    try:
        with contextlib.ExitStack() as running:
            hubs = {}
            for arm, env in arms.items():
                state = Path(tempfile.mkdtemp(prefix=f"room-hub-{arm}-"))
                hubs[arm] = running.enter_context(room.run(env={"WORKSHOP_SHARED": shared, **env}, state=state))
                for name in names[arm]:
                    hubs[arm].add_learner(name)
            requested = time.monotonic()
            for index in range(count):
                for arm in arms:
                    hubs[arm].spawn(names[arm][index])
            ready = {arm: {} for arm in arms}
            waiting = {(arm, name) for arm in arms for name in names[arm]}
            while waiting:  # every hub polled in turn, so no learner's time waits on another's
                for arm, name in sorted(waiting):
                    waited = time.monotonic() - requested
                    if hubs[arm].is_ready(name, waited):
                        ready[arm][name] = waited
                        waiting.discard((arm, name))
                    elif waited > SPAWN_TIMEOUT:
                        raise StackError(f"{name}'s server was not ready within {SPAWN_TIMEOUT} s.", f"read {hubs[arm].log}")  # fmt: skip
                time.sleep(0.5)
            yield {arm: (hubs[arm], names[arm], ready[arm]) for arm in arms}
    finally:
        room.remove_learners([name for group in names.values() for name in group])


@contextlib.contextmanager
def spawned(count: int, shared: str, env: dict[str, str] | None = None):
    """One hub and its `count` learners, as spawned_hubs: yields (hub, names, seconds until each was ready)."""
    with spawned_hubs(count, shared, {"room": env or {}}) as hubs:
        yield hubs["room"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--max-learners", type=int, default=8)
    parser.add_argument("--shared", default=os.environ.get("WORKSHOP_SHARED", "/tmp/superstack-jwt-room"))
    options = parser.parse_args(argv)
    report: dict = {"cores": os.cpu_count(), "memory_bytes": total_memory(), "factor": FACTOR, "rounds": []}
    with spawned(options.max_learners, options.shared) as (hub, names, ready):
        report["spawn_seconds"] = max(ready.values())
        uids = {name: memory.uid_of(name) for name in names}
        kernels = {name: hub.kernel(name) for name in names}
        with memory.Sampler(uids) as idle:
            time.sleep(5)
        report["idle_bytes"] = statistics.median(idle.peak.values())
        print(
            f"==> {len(names)} learners up; idle memory per learner {memory.mib(report['idle_bytes'])} MiB",
            flush=True,
        )

        solos: list[dict[str, float]] = []
        capacity = 1
        for load in (k for k in ROUNDS if k <= len(names)):
            solo, _ = chapters_in(kernels, names[:1])
            solos.append({chapter: seconds for chapter, (_, seconds, _) in solo[names[0]].items()})
            reference = {chapter: statistics.median(s[chapter] for s in solos) for chapter in solos[0]}
            with memory.Sampler({name: uids[name] for name in names[:load]}) as running:
                results, wall = chapters_in(kernels, names[:load])
            worst = max(
                seconds / reference[chapter]
                for result in results.values()
                for chapter, (_, seconds, _) in result.items()
            )
            round_report = {
                "learners": load,
                "wall_seconds": round(wall, 1),
                "solo_seconds": round(sum(reference.values()), 1),
                "worst_chapter_ratio": round(worst, 2),
                "peak_bytes_per_learner": max(running.peak.values()),
            }
            report["rounds"].append(round_report)
            round_report["total_ratio"] = round(wall / sum(reference.values()), 2)
            print(
                f"==> {load} learners at once: chapters 00-08 in {wall:.0f} s (solo {sum(reference.values()):.0f} s), "
                f"slowest chapter {worst:.2f}x its solo time, peak {memory.mib(round_report['peak_bytes_per_learner'])} MiB per learner",
                flush=True,
            )
            if all(r["worst_chapter_ratio"] <= FACTOR for r in report["rounds"]):
                capacity = load  # every round so far kept every chapter within FACTOR
        for kernel in kernels.values():
            kernel.shutdown()

    peak = max(r["peak_bytes_per_learner"] for r in report["rounds"])
    by_memory_here = int(HEADROOM * report["memory_bytes"] / peak)
    per_core = capacity / report["cores"]
    big_cpu, big_memory = int(per_core * 16), int(HEADROOM * 64 * 2**30 / peak)
    report.update(
        capacity=capacity,
        capped=capacity == report["rounds"][-1]["learners"],
        memory_bound_here=by_memory_here,
        projection_16_cores_64_gib=min(big_cpu, big_memory),
        projection_by_cpu=big_cpu,
        projection_by_memory=big_memory,
    )
    print()
    print("learners | wall s | solo s | all chapters vs solo | slowest chapter vs solo | peak MiB per learner")
    for r in report["rounds"]:
        print(
            f"{r['learners']:>8} | {r['wall_seconds']:>6.0f} | {r['solo_seconds']:>6.0f} | {r['total_ratio']:>19.2f}x | "
            f"{r['worst_chapter_ratio']:>22.2f}x | {memory.mib(r['peak_bytes_per_learner']):>6}"
        )
    bound = "at least " if report["capped"] else ""
    print(
        f"\nthis machine ({report['cores']} cores, {memory.mib(report['memory_bytes']) / 1024:.0f} GiB): {bound}{capacity} learners "
        f"running chapters at once within {FACTOR:.0f}x solo time (memory alone would allow {by_memory_here}); "
        f"idle {memory.mib(report['idle_bytes'])} MiB, peak {memory.mib(peak)} MiB per learner"
    )
    print(
        f"projection, 16 cores / 64 GiB: {report['projection_16_cores_64_gib']} learners at once "
        f"(CPU: {big_cpu}, scaling {per_core:.1f} per core; memory: {big_memory}); learners who read more than they run need less"
    )
    target = config.BUILD_DIR / "capacity.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
