"""The benchmark's results as text tables and as JSON in the build folder."""

from __future__ import annotations

import json
from pathlib import Path

from stack import config

JSON_PATH = config.BUILD_DIR / "bench.json"


def _table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def text(results: dict) -> str:
    parts = [
        _table(
            "Login against bcrypt cost (1 client; ms)",
            [
                "cost",
                "bcrypt p50",
                "bcrypt p95",
                "SQL login p50",
                "direct p50",
                "gateway p50",
                "gateway p95",
                "gw/bcrypt",
            ],
            [
                [
                    row["cost"],
                    row["bcrypt"]["p50_ms"],
                    row["bcrypt"]["p95_ms"],
                    row["sql"]["p50_ms"],
                    row["direct"]["p50_ms"],
                    row["gateway"]["p50_ms"],
                    row["gateway"]["p95_ms"],
                    row["gateway_over_bcrypt_p50"],
                ]
                for row in results["login"]
            ],
        ),
        _table(
            "Protected read GET /rest/task (gateway, cookie) vs GET /task (PostgREST, Bearer)",
            ["clients", "gw p50 ms", "gw p95 ms", "gw req/s", "direct p50", "direct p95", "direct req/s", "p50 ratio"],
            [
                [
                    row["clients"],
                    row["gateway"]["p50_ms"],
                    row["gateway"]["p95_ms"],
                    row["gateway"]["per_second"],
                    row["direct"]["p50_ms"],
                    row["direct"]["p95_ms"],
                    row["direct"]["per_second"],
                    row["gateway_over_direct_p50"],
                ]
                for row in results["protected_read"]
            ],
        ),
    ]
    refresh, signing = results["refresh"], results["signing"]
    parts.append(
        _table(
            "Refresh and signing (ms)",
            ["what", "p50", "p95", "per second"],
            [
                ["refresh via gateway", *_figures(refresh["gateway"])],
                ["refresh direct", *_figures(refresh["direct"])],
                ["auth.sign_raw in SQL", *_figures(signing["sign_raw_sql"])],
                ["PyJWT jwt.encode", *_figures(signing["pyjwt"])],
            ],
        )
        + f"\n(auth.refresh_token holds {refresh['refresh_token_rows']} rows; sign_raw/PyJWT p50 = "
        f"{signing['sql_over_pyjwt_p50']}x)"
    )
    if results.get("rls_policy"):
        rls = results["rls_policy"]
        parts.append(
            _table(
                f"Row-level security: count(*) over {rls['rows']} rows as basic_subscriber "
                f"(medians of {rls['rounds']} interleaved rounds; ms)",
                ["policy reads the claim", "median ms", "rows seen"],
                [[name.replace("_", " "), ms, rls["rows_seen"][name]] for name, ms in rls["median_ms"].items()],
            )
            + f"\n(per row / per query = {rls['per_row_over_per_query']}x)"
        )
    if results.get("postgrest_compat"):
        from .postgrest_compat import text as compat_text

        parts.append(
            "PostgREST-compatible server (bench/postgrest_compat.py)\n" + compat_text(results["postgrest_compat"])
        )
    if results.get("sessions"):
        check, signup = results["sessions"]["pre_request"], results["sessions"]["signup"]
        parts.append(
            _table(
                "Hardened recipe (bench/sessions.py; interleaved blocks, medians, ms)",
                ["what", "p50 A", "p50 B", "A - B or A / B"],
                [
                    [
                        "GET /rest/task: A with db-pre-request, B without",
                        check["with_check_p50_ms"],
                        check["without_check_p50_ms"],
                        check["check_p50_ms"],
                    ],
                    [
                        "POST /rpc/signup: A taken name, B free",
                        signup["taken_p50_ms"],
                        signup["free_p50_ms"],
                        signup["taken_over_free_p50"],
                    ],
                ],
            )
        )
    goal_rows = [
        [
            name,
            "-" if g["measured"] is None else g["measured"],
            g["limit"],
            {True: "met", False: "MISSED", None: "-"}[g["met"]],
        ]
        for name, g in results["goals"].items()
    ]
    parts.append(_table("Goals", ["goal", "measured", "limit", ""], goal_rows))
    machine = results["machine"]
    busiest = max(machine["load_before"], machine["load_after"])
    parts.append(
        f"load average {machine['load_before']} before, {machine['load_after']} after, on {machine['cpus']} cores"
        + (
            ": other work competed for the CPU, so rerun before trusting a ratio near its limit"
            if busiest > machine["cpus"]
            else ""
        )
    )
    return "\n\n".join(parts)


def _figures(summary: dict) -> list:
    return [summary["p50_ms"], summary["p95_ms"], summary["per_second"]]


def write_json(results: dict, path: Path = JSON_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
