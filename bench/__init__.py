"""What auth costs: a bounded benchmark of the running stack on loopback (`make bench`).

The chapter notebooks/15-what-auth-costs.ipynb imports the same pieces and runs a small plan.
"""

from .load import Budget, Request, load, load_samples
from .suite import FULL, GOALS, PAGE_COST, SMALL, Plan, goals, run
from .target import Stack, StackNotUp, current, require_up
from .timing import Summary, percentile, summarize

__all__ = [
    "FULL",
    "GOALS",
    "PAGE_COST",
    "SMALL",
    "Budget",
    "Plan",
    "Request",
    "Stack",
    "StackNotUp",
    "Summary",
    "current",
    "goals",
    "load",
    "load_samples",
    "percentile",
    "require_up",
    "run",
    "summarize",
]
