"""What a row-level security policy costs: the claim read once per row against once per query.

Two copies of one table in a schema of their own (dropped afterwards), each with one select policy
for basic_subscriber that compares `owner` with the token's `sub`:
- per row: `owner = current_setting('request.jwt.claims', true)::json ->> 'sub'`. current_setting()
  is STABLE, not IMMUTABLE, so PostgreSQL calls it, and parses the JSON, for every row it filters;
- per query: the same expression wrapped in `(select ...)`, which PostgreSQL runs once per query as
  an InitPlan and then compares each row with its result.
Each round runs `select count(*)` as basic_subscriber with a request's claims set, once on each
table, in alternating order (A, B, B, A, ...), so both see the same machine load; the figures are
the medians of the rounds, timed inside PostgreSQL (clock_timestamp()), without network or driver.
"""

from __future__ import annotations

import statistics

import psycopg

from .target import Stack

SCHEMA = "bench_rls"
CLAIM = "nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'"
POLICIES = {"per_row": CLAIM, "per_query": f"(select {CLAIM})"}
OWNERS = 100  # rows are spread over this many owners; the reader owns one share

SETUP = """
drop schema if exists {schema} cascade;
create schema {schema};
grant usage on schema {schema} to basic_subscriber;
"""

TABLE = """
create table {schema}.{name} (id int primary key, owner text not null, title text not null);
insert into {schema}.{name}
  select n, 'owner-' || (n % {owners}), 'task ' || n from pg_catalog.generate_series(1, {rows}) n;
alter table {schema}.{name} enable row level security;
create policy own_rows on {schema}.{name} for select to basic_subscriber using (owner = {expression});
grant select on {schema}.{name} to basic_subscriber;
analyze {schema}.{name};
"""

# One request's worth of work as PostgREST does it: claims and role set for the transaction.
TIMED = """
create function pg_temp.time_count(relation text) returns table (ms double precision, seen bigint)
language plpgsql as $$
declare started timestamptz;
begin
  perform pg_catalog.set_config('request.jwt.claims', '{"role":"basic_subscriber","sub":"owner-7"}', true);
  perform pg_catalog.set_config('role', 'basic_subscriber', true);
  started := pg_catalog.clock_timestamp();
  execute 'select count(*) from ' || relation into seen;
  ms := extract(epoch from pg_catalog.clock_timestamp() - started) * 1000;
  perform pg_catalog.set_config('role', 'none', true);
  return next;
end $$;
"""


def setup(conn: psycopg.Connection, rows: int) -> None:
    conn.execute(SETUP.format(schema=SCHEMA))
    for name, expression in POLICIES.items():
        conn.execute(TABLE.format(schema=SCHEMA, name=name, rows=rows, owners=OWNERS, expression=expression))


def teardown(conn: psycopg.Connection) -> None:
    conn.execute(f"drop schema if exists {SCHEMA} cascade")


def plans(conn: psycopg.Connection) -> dict[str, str]:
    """EXPLAIN's plan of the same query on each table, as basic_subscriber: the InitPlan shows."""
    found = {}
    for name in POLICIES:
        with conn.transaction():
            conn.execute("select set_config('request.jwt.claims', '{\"sub\":\"owner-7\"}', true)")
            conn.execute("set local role basic_subscriber")
            rows = conn.execute(f"explain (costs off) select count(*) from {SCHEMA}.{name}").fetchall()
        found[name] = "\n".join(row[0] for row in rows)
    return found


def measure(conn: psycopg.Connection, rounds: int) -> dict:
    """Interleaved rounds on both tables; medians and the ratio, and the rows each query saw."""
    conn.execute(TIMED)
    times: dict[str, list[float]] = {name: [] for name in POLICIES}
    seen: dict[str, int] = {}
    order = list(POLICIES)
    for _ in range(2):  # warm-up: both tables in the buffer cache
        for name in order:
            conn.execute("select * from pg_temp.time_count(%s)", (f"{SCHEMA}.{name}",))
    for round_ in range(rounds):
        for name in order if round_ % 2 == 0 else reversed(order):
            with conn.transaction():
                ms, count = conn.execute("select * from pg_temp.time_count(%s)", (f"{SCHEMA}.{name}",)).fetchone()
            times[name].append(ms)
            seen[name] = count
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rounds": rounds,
        "median_ms": {name: round(value, 3) for name, value in medians.items()},
        "per_row_over_per_query": round(medians["per_row"] / medians["per_query"], 2),
        "rows_seen": seen,
    }


def run(stack: Stack, rows: int = 100_000, rounds: int = 15) -> dict:
    """Build both tables with ``rows`` rows, measure, drop them; the figures as a dict."""
    with psycopg.connect(stack.conninfo, autocommit=True) as conn:
        try:
            setup(conn, rows)
            result = {"rows": rows, "owners": OWNERS, **measure(conn, rounds), "plans": plans(conn)}
        finally:
            teardown(conn)
    return result
