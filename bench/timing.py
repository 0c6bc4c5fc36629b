"""Latency figures from a list of durations: the percentiles a benchmark reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Summary:
    """Durations in milliseconds; per_second is completed calls over wall-clock time."""

    count: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    per_second: float

    def as_dict(self) -> dict:
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), so p50 of two values is their mean."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(durations_ms: list[float], wall_seconds: float | None = None) -> Summary:
    if not durations_ms:
        raise ValueError("no durations to summarize")
    wall = wall_seconds if wall_seconds is not None else sum(durations_ms) / 1000
    return Summary(
        count=len(durations_ms),
        p50_ms=percentile(durations_ms, 0.50),
        p95_ms=percentile(durations_ms, 0.95),
        mean_ms=statistics.fmean(durations_ms),
        per_second=len(durations_ms) / wall if wall > 0 else float("inf"),
    )


def repeat(call: Callable[[], object], count: int, max_seconds: float) -> Summary:
    """Call ``call`` up to ``count`` times (at least once), stopping early after ``max_seconds``."""
    durations = []
    started = time.perf_counter()
    deadline = started + max_seconds
    while len(durations) < count and (not durations or time.perf_counter() < deadline):
        before = time.perf_counter()
        call()
        durations.append((time.perf_counter() - before) * 1000)
    return summarize(durations, time.perf_counter() - started)


@dataclass
class Samples:
    """Raw durations and the wall time they took: several runs add up before the percentiles are taken."""

    durations_ms: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    def add(self, other: Samples) -> Samples:
        self.durations_ms += other.durations_ms
        self.wall_seconds += other.wall_seconds
        return self

    def summary(self) -> Summary:
        return summarize(self.durations_ms, self.wall_seconds)


def timed_ms(call: Callable[[], object]) -> float:
    before = time.perf_counter()
    call()
    return (time.perf_counter() - before) * 1000
