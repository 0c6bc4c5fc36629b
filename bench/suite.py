"""The whole benchmark in one call: a plan (how much of each), the run, and the goals."""

from __future__ import annotations

import importlib.util
import inspect
import os
import platform
import time
from dataclasses import asdict, dataclass

from . import measure, rls, sessions, target
from .load import Budget
from .target import Stack

PAGE_COST = 6  # gen_salt('bf') without a cost, as the page's trigger calls it


@dataclass(frozen=True)
class Plan:
    costs: list[int]
    login_seconds: float  # time per figure and cost; the sample count follows from it
    min_login_samples: int
    read_levels: list[int]
    read_budget: Budget
    refresh_budget: Budget
    signing_count: int
    time_make_up: bool = True
    include_compat: bool = True
    include_sessions: bool = True  # bench/sessions.py: the pre-request check and sign-up (hardened recipe)
    rls_rows: int = 100_000  # the row-level security table (bench/rls.py)
    rls_rounds: int = 15


FULL = Plan(
    costs=list(range(4, 13)),
    login_seconds=0.5,
    min_login_samples=5,
    read_levels=[1, 4, 16],
    read_budget=Budget(requests=800, max_seconds=2.0),
    refresh_budget=Budget(requests=200, max_seconds=1.5),
    signing_count=2000,
)

# What the chapter runs live: the same measurements, a few seconds in all.
SMALL = Plan(
    costs=[4, 6, 8, 10],
    login_seconds=0.06,
    min_login_samples=3,
    read_levels=[1, 4],
    read_budget=Budget(requests=60, max_seconds=0.3),
    refresh_budget=Budget(requests=20, max_seconds=0.3),
    signing_count=300,
    time_make_up=False,
    include_compat=False,
    include_sessions=False,
    rls_rows=20_000,
    rls_rounds=5,
)

GOALS = {
    "read_gateway_over_direct_p50": 1.5,
    "login_gateway_over_bcrypt_p50": 2.0,
    "make_up_warm_seconds": 5.0,
}


def goals(results: dict) -> dict:
    """Each goal's measured value, its limit, and whether it is met (None when not measured)."""
    reads = results["protected_read"]
    at_page_cost = next((row for row in results["login"] if row["cost"] == PAGE_COST), results["login"][0])
    measured = {
        # The worst concurrency level decides: the goal holds for 1, 4 and 16 clients or it does not.
        "read_gateway_over_direct_p50": max(row["gateway_over_direct_p50"] for row in reads),
        "login_gateway_over_bcrypt_p50": at_page_cost["gateway_over_bcrypt_p50"],
        "make_up_warm_seconds": results.get("make_up_warm_seconds"),
    }
    return {
        name: {"measured": value, "limit": GOALS[name], "met": None if value is None else value <= GOALS[name]}
        for name, value in measured.items()
    }


def compat_figures(stack: Stack) -> dict | None:
    """bench/postgrest_compat.py (the compatible server's own goals, issue 3), when it exists."""
    if importlib.util.find_spec("bench.postgrest_compat") is None:
        return None
    from . import postgrest_compat

    # Its `url` means a PostgREST serving its own conformance fixture; the course's PostgREST is its `app_url`.
    offered = {"app_url": stack.postgrest}
    accepted = inspect.signature(postgrest_compat.run).parameters
    return postgrest_compat.run(**{name: value for name, value in offered.items() if name in accepted})


def run(plan: Plan = FULL, stack: Stack | None = None, progress=lambda message: None) -> dict:
    """Measure everything in ``plan`` against the running stack; bench users are removed afterwards."""
    stack = stack or target.current()
    for done in target.prepare(stack):
        progress(done)
    started = time.perf_counter()
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": _load_average()}
    results: dict = {
        "machine": machine,
        "plan": asdict(plan),
        "client": "http.client, one kept-alive connection per thread",
    }
    try:
        progress(f"login against bcrypt cost {plan.costs[0]}..{plan.costs[-1]}")
        results["login"] = [
            row.as_dict()
            for row in measure.login_against_cost(stack, plan.costs, plan.login_seconds, plan.min_login_samples)
        ]
        tokens = measure.login_cookies(stack, plan.costs[0])
        progress(f"protected read with {', '.join(map(str, plan.read_levels))} clients")
        reads = measure.protected_read(stack, tokens["access_token"], plan.read_levels, plan.read_budget)
        results["protected_read"] = [row.as_dict() for row in reads]
        progress("refresh")
        results["refresh"] = measure.refresh(stack, tokens["refresh_token"], plan.refresh_budget)
        if plan.time_make_up:  # the full plan only: ten 5 s statements per round
            progress("login while ten backreference patterns run (issue 22)")
            results["login_under_backreferences"] = measure.login_under_backreferences(stack, PAGE_COST)
    finally:
        target.drop_users(stack)
    progress(f"row-level security, claim per row vs per query ({plan.rls_rows} rows)")
    results["rls_policy"] = rls.run(stack, plan.rls_rows, plan.rls_rounds)
    progress("token signing")
    results["signing"] = measure.signing(stack, plan.signing_count, max_seconds=2.0)
    if plan.time_make_up:
        progress("make up, warm")
        results["make_up_warm_seconds"] = round(measure.make_up_seconds(), 2)
    if plan.include_compat:
        progress("the compatible server's own figures (bench/postgrest_compat.py)")
        results["postgrest_compat"] = compat_figures(stack)
    if plan.include_sessions:
        progress("the db-pre-request session check and sign-up timing (bench/sessions.py, hardened recipe)")
        results["sessions"] = sessions.run(stack)
    machine["load_after"] = _load_average()
    results["goals"] = goals(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _load_average() -> float:
    """The 1-minute load average: above the number of cores, other work was competing for the CPU."""
    return round(os.getloadavg()[0], 2)
