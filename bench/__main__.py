"""`python -m bench` (make bench): measure the running stack, print the tables, write build/bench.json."""

from __future__ import annotations

import argparse
import sys

from . import report, suite
from .target import StackNotUp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--small", action="store_true", help="the chapter's few-second version")
    options = parser.parse_args(argv)
    plan = suite.SMALL if options.small else suite.FULL
    print("Benchmark of the running stack on loopback. Numbers are noisy on a shared 2-core machine: compare ratios.")
    try:
        results = suite.run(plan, progress=lambda message: print(f"==> {message}", flush=True))
    except StackNotUp as error:
        print(f"error: the stack is not ready: {error}", file=sys.stderr)
        return 1
    print()
    print(report.text(results))
    print(f"\nwrote {report.write_json(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
