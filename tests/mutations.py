"""Remove each fix of the hardened recipe alone and see which test catches it (issue 17, item 4).

    .venv/bin/python -m tests.mutations            # every mutation (a few minutes)
    .venv/bin/python -m tests.mutations 'HS512'    # those whose name contains this
    .venv/bin/python -m tests.mutations from:reuse # this one and every one after it

By hand, not in `make test`: it edits migrations/hardening/up.sql, stack/caddy/Caddyfile.hardened
or migrations/02-create_auth_schema.sql in place (always restored, even on Ctrl-C), switches the
running stack to the edited recipe, runs the tests that should catch the removal, and prints a
table: fix -> the tests that failed. A fix no test catches is printed as CAUGHT BY NOTHING and the
script exits 1 (unless the mutation says why the fix is redundant). The stack is left on the page's recipe, as written.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from stack import config, db, recipes
from stack.errors import StackError

UP = recipes.SQL["hardened"]
CADDYFILE = recipes.CADDYFILES["hardened"]
PAGE = config.MIGRATIONS_DIR / "02-create_auth_schema.sql"
FIXES = "tests/test_hardened_fixes.py"


@dataclass(frozen=True)
class Mutation:
    fix: str  # the fix, as the chapters name it
    file: Path
    old: str  # a regular expression (re.S | re.M) that must match exactly once
    new: str
    tests: tuple[str, ...]  # test names in tests/test_hardened_fixes.py, or path::name
    cleanup: str = ""  # SQL run afterwards, for a mutation that leaves something down.sql does not undo
    recipe: str = "hardened"  # which recipe runs the edited file
    times: int = 1  # how many times `old` must match (each is replaced)
    redundant: str = ""  # why removing it alone changes nothing (then no test can fail, and none must)

    def edit(self, text: str) -> str:
        edited, count = re.subn(self.old, self.new, text, flags=re.S | re.M)
        if count != self.times:
            raise SystemExit(f"{self.fix}: {self.old!r} matches {count} times in {self.file.name}, not {self.times}")
        return edited


def caddy(fix: str, old: str, new: str, *tests: str) -> Mutation:
    return Mutation(fix, CADDYFILE, old, new, tests)


def sql(fix: str, old: str, new: str, *tests: str, cleanup: str = "", times: int = 1, redundant: str = "") -> Mutation:
    return Mutation(fix, UP, old, new, tests, cleanup, times=times, redundant=redundant)


GRANT = r"^-- What stack\.recipes\.current\(\) reads\."
MUTATIONS = [
    # --- Caddyfile.hardened ---
    caddy(
        "handle_errors: JSON errors (GW401...)",
        r"^handle_errors \{.*?^\}\n",
        "",
        "test_gateway_errors_are_json_in_postgrests_shape",
    ),
    caddy(
        "request_body max_size 1MB",
        r"^request_body \{\n\tmax_size 1MB\n\}\n",
        "",
        "test_gateway_refuses_a_body_over_1_mb",
    ),
    caddy(
        "@cross_origin_write -> 403",
        r"^handle @cross_origin_write \{.*?^\}\n",
        "",
        "test_gateway_refuses_a_cross_origin_write",
    ),
    caddy("@form_write -> 403", r"^handle @form_write \{.*?^\}\n", "", "test_gateway_refuses_a_write_a_form_can_send"),
    caddy(
        "@ambiguous_access_cookie",
        r"^\terror @ambiguous_access_cookie .*?\n",
        "",
        "test_gateway_refuses_a_second_access_token_cookie",
    ),
    caddy("@cookie_alg_not_hs256", r"^\terror @cookie_alg_not_hs256 .*?\n", "", "test_gateway_refuses_an_hs512_cookie"),
    caddy(
        "@header_alg_not_hs256",
        r"^\terror @header_alg_not_hs256 .*?\n",
        "",
        "test_gateway_refuses_an_hs512_bearer_header",
    ),
    caddy("clock_skew 30", r"^\t\tclock_skew 30\n", "", "test_gateway_allows_postgrests_30_s_of_clock_skew"),
    caddy("@no_exp: exp required", r"^\terror @no_exp .*?\n", "", "test_gateway_refuses_a_token_without_exp"),
    caddy(
        "Authorization from the cookie only when there is one",
        r"request_header @has_access_cookie Authorization",
        "request_header Authorization",
        "test_gateway_keeps_a_clients_own_authorization_header",
    ),
    # --- up.sql: sessions ---
    sql(
        "refresh tokens stored as SHA-256 digests",
        r"insert into auth\.refresh_token \(token_hash, username, family\)\n  values \(auth\.token_hash\(refresh_token_\), user_, family_\);",
        "insert into auth.refresh_token (token, token_hash, username, family)\n  values (refresh_token_, auth.token_hash(refresh_token_), user_, family_);",
        "test_refresh_tokens_are_stored_only_as_digests",
    ),
    sql(
        "the page's plain-text tokens turned into digests",
        r"^update auth\.refresh_token\nset token_hash = .*?where token is not null;\n",
        "",
        "test_page_sessions_survive_hardening_as_digests",
    ),
    sql(
        "rotation: a refresh revokes the token it was given",
        r"^  update auth\.refresh_token set revoked = true where id = presented\.id;\n",
        "",
        "test_a_refresh_rotates_the_token",
    ),
    sql(
        "reuse revokes the whole family",
        r"^  if presented\.revoked then\n    update auth\.refresh_token set revoked = true where family = presented\.family and not revoked;\n",
        "  if presented.revoked then\n",
        "test_reusing_a_rotated_token_revokes_the_whole_family",
    ),
    sql(
        "two refreshes at once: the one that waited gets 409",
        r"^  if presented\.revoked and waited then.*?^  end if;\n",
        "",
        "tests/test_recipes.py::test_the_first_of_two_concurrent_refreshes_wins",
    ),
    sql(
        "the hardened refresh's 30-day limit",
        r"\n      and created_at > pg_catalog\.now\(\) - interval '30 days'",
        "",
        "test_the_hardened_refresh_ends_after_30_days",
        times=2,  # the lookup, and the same lookup after waiting for a concurrent refresh
    ),
    sql(
        "logout revokes the session's family",
        r"^  update auth\.refresh_token set revoked = true where family = any \(families\) and not revoked;\n",
        "",
        "test_logout_with_the_refresh_cookie_revokes_the_session",
        "test_logout_with_the_access_cookie_revokes_the_session",
    ),
    sql(
        "logout finds the session from the access cookie's sid",
        r"^    union\n    select s\.sid::uuid.*?'\^\[0-9a-f-\]\{36\}\$'\n",
        "",
        "test_logout_with_the_access_cookie_revokes_the_session",
    ),
    sql(
        "logout's sid must be signed by this database",
        r"\n     or parts\[3\] <> auth\.url_encode\(.*?'sha256'\)\)",
        "",
        "test_logout_trusts_only_a_sid_this_database_signed",
    ),
    sql(
        "logout expires the refresh cookie at its own Path",
        r"'refresh_token=; Path=/rpc/refresh_token; Max-Age=0;",
        "'refresh_token=; Path=/; Max-Age=0;",
        "test_logout_expires_both_cookies_where_they_live",
    ),
    sql(
        "cookies Secure and SameSite",
        r"'; Path=/; HttpOnly; Secure; SameSite=Lax'\),",
        "'; Path=/; HttpOnly;'),",
        "test_session_cookies_are_secure_and_same_site",
    ),
    sql(
        "refresh cookie Max-Age = 30 days, SameSite=Strict",
        r"'; Path=/rpc/refresh_token; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict'",
        "'; Path=/rpc/refresh_token; HttpOnly; Secure; SameSite=Lax'",
        "test_session_cookies_are_secure_and_same_site",
    ),
    sql(
        "lifetime from app.settings.jwt_exp",
        r"'app\.settings\.jwt_exp', true\), ''\)::integer, 3600\)",
        "'no.such_setting', true), '')::integer, 600)",
        "test_the_access_token_lives_as_long_as_postgrest_says",
    ),
    # --- up.sql: passwords and login ---
    sql(
        "search_path pinned (auth.login)",
        r"(create function auth\.login\(user_ text, pass text\) returns json\nlanguage plpgsql security definer) set search_path = ''",
        r"\1",
        "test_every_auth_function_pins_its_search_path",
    ),
    sql(
        "72-byte limit when a password is stored",
        r"^    if pg_catalog\.octet_length\(new\.password\) > 72 then.*?^    end if;\n",
        "",
        "test_a_password_over_72_bytes_is_not_stored",
    ),
    sql(
        "72-byte limit at login",
        r"^  if pg_catalog\.octet_length\(pass\) > 72 then.*?^  end if;\n",
        "",
        "test_a_password_over_72_bytes_is_refused_at_login",
    ),
    sql(
        "bcrypt cost 10 for new hashes",
        r"new\.password := public\.crypt\(new\.password, public\.gen_salt\('bf', 10\)\);",
        "new.password := public.crypt(new.password, public.gen_salt('bf'));",
        "test_new_hashes_use_bcrypt_cost_10",
    ),
    sql(
        "an old hash remade at cost 10 at login",
        r"^  if auth\.bcrypt_cost\(stored\) < 10 then\n    update auth\.\"user\".*?^  end if;\n",
        "",
        "test_an_old_hash_is_remade_at_cost_10_when_its_user_logs_in",
    ),
    sql(
        "an unknown user's login runs bcrypt against the dummy hash",
        r"coalesce\(stored, auth\.dummy_hash\(\)\)",
        "stored",
        "test_an_unknown_user_costs_one_bcrypt_run",
    ),
    sql(
        "an old hash's login topped up with a cost-10 run",
        r"^  if stored is not null and auth\.bcrypt_cost\(stored\) < 10 then\n    perform .*?^  end if;\n",
        "",
        "test_a_wrong_password_for_an_old_hash_costs_a_cost_10_run_too",
    ),
    sql(
        "a null match refused (`is not true`)",
        r"if matches is not true then",
        "if not matches then",
        "test_a_null_password_or_unknown_user_is_refused",
    ),
    sql(
        "one login at a time per name and address (429, Retry-After: 1)",
        r"if pg_catalog\.pg_try_advisory_xact_lock\(.*?\n     and pg_catalog\.pg_try_advisory_xact_lock\(.*?\) then",
        "if true then",
        "test_a_login_meanwhile_is_told_to_retry",
    ),
    sql(
        "the client address is the last X-Forwarded-For entry (Caddy's)",
        r"pg_catalog\.cardinality\(pg_catalog\.regexp_split_to_array\(\n    .*?\)\)\]\), 'unknown'\)",
        "1]), 'unknown')",
        "test_the_throttle_counts_the_address_caddy_wrote",
    ),
    sql(
        "10 failures a minute per address",
        r"auth\.retry_after\('address:' \|\| address, 10\), ",
        "null, ",
        "test_guesses_from_one_address_are_throttled",
        "tests/test_recipes.py::test_the_hardened_login_throttles_per_address_and_per_name",
    ),
    sql(
        "20 failures a minute per user name",
        r", auth\.retry_after\('user:' \|\| coalesce\(user_, ''\), 20\)\);",
        ", null);",
        "test_guesses_at_one_name_from_many_addresses_are_throttled",
        "tests/test_recipes.py::test_the_hardened_login_throttles_per_address_and_per_name",
    ),
    # --- up.sql: the signing secret and grants ---
    sql(
        "auth.private_settings: no select for anon",
        GRANT,
        "grant select on auth.private_settings to anon;\n\\g<0>",
        "test_no_role_a_client_can_become_reads_the_signing_secret",
    ),
    sql(
        "auth.private_settings: no select for basic_subscriber (nor usage on auth)",
        GRANT,
        "grant usage on schema auth to basic_subscriber;\ngrant select on auth.private_settings to basic_subscriber;\n\\g<0>",
        "test_no_role_a_client_can_become_reads_the_signing_secret",
        cleanup="revoke usage on schema auth from basic_subscriber",
    ),
    sql(
        "auth.login_failure: no select for anon",
        GRANT,
        "grant select on auth.login_failure to anon;\n\\g<0>",
        "test_no_role_a_client_can_become_reads_an_auth_table",
    ),
    sql(
        "auth.refresh_token: no select for anon",
        GRANT,
        "grant select on auth.refresh_token to anon;\n\\g<0>",
        "test_no_role_a_client_can_become_reads_an_auth_table",
        cleanup="revoke select on auth.refresh_token from anon",
    ),
    sql(
        "the secret out of the settings (alter system reset)",
        r"^alter system reset pgrst\.jwt_secret;\n",
        "",
        "test_no_role_a_client_can_become_reads_the_signing_secret",
        "tests/test_recipes.py::test_ordinary_roles_cannot_read_the_signing_secret",
    ),
    sql(
        "helpers not executable by clients (revoke execute ... from public)",
        r"^revoke execute on function\n.*?^from public;\n",
        "",
        "test_no_role_a_client_can_become_runs_the_auth_helpers",
        redundant="migrations/00-postgrest-roles.sql already revokes execute on new functions from public "
        "(alter default privileges), so the helpers stay closed without it",
    ),
    sql(
        "sign_raw refuses an algorithm it does not implement",
        r"^  if alg is null then\n.*?^  end if;\n",
        "",
        "test_sign_raw_refuses_an_algorithm_it_does_not_implement",
    ),
    sql(
        "anon without select on auth.user (hardened)",
        GRANT,
        'grant select on auth."user" to anon;\n\\g<0>',
        "test_anon_cannot_read_auth_user[hardened]",
        cleanup='revoke select on auth."user" from anon',
    ),
    # --- the page's own guards, which chapters relied on ---
    Mutation(
        "the page's refresh: 30-day limit",
        PAGE,
        r"\n    and created_at > now\(\) - interval '30 days'",
        "",
        ("test_the_page_refresh_ends_after_30_days",),
        recipe="page",
    ),
]


def node(test: str) -> str:
    return test if "::" in test else f"{FIXES}::{test}"


def run_tests(tests: tuple[str, ...]) -> list[str]:
    """The tests among `tests` that failed."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rfE", "--tb=no"]
        + [node(test) for test in tests],
        capture_output=True,
        text=True,
        cwd=config.ROOT,
    )
    failed = re.findall(r"^(FAILED|ERROR) (\S+)", result.stdout, re.M)
    # An ERROR is a test whose set-up failed: e.g. recipes.use("hardened") finding the secret still set.
    return [
        (name.split("::", 1)[1] if name.startswith(FIXES) else name) + (" (error at set-up)" if kind == "ERROR" else "")
        for kind, name in failed
    ]


def switch_to(mutation: Mutation) -> None:
    """The running stack on the edited recipe: from the other recipe, so that every file is read again."""
    other = "page" if mutation.recipe == "hardened" else "hardened"
    recipes.use(other)
    recipes.apply_sql(mutation.recipe)
    recipes.load_caddyfile(mutation.recipe)
    for _ in range(5):  # a connection open while Caddy reloads can be closed under it
        try:
            recipes.wait_for_schema_cache(mutation.recipe)
            break
        except requests.ConnectionError:
            time.sleep(0.5)
    with contextlib.suppress(StackError):  # one mutation keeps the secret where the page keeps it
        recipes.wait_for_signing_secret(mutation.recipe)


def main(selector: str = "") -> int:
    if selector.startswith("from:"):  # resume: this mutation and every one after it
        start = next(n for n, mutation in enumerate(MUTATIONS) if selector[5:].lower() in mutation.fix.lower())
        chosen = MUTATIONS[start:]
    else:
        chosen = [mutation for mutation in MUTATIONS if selector.lower() in mutation.fix.lower()]
    rows = []
    for mutation in chosen:
        original = mutation.file.read_text()
        edited = mutation.edit(original)
        try:
            mutation.file.write_text(edited)
            switch_to(mutation)
            failed = run_tests(mutation.tests)
        finally:
            mutation.file.write_text(original)
            if mutation.cleanup:
                db.query(mutation.cleanup)
        recipes.use("page")
        rows.append((mutation, failed))
        print(f"{mutation.fix}: {outcome(mutation, failed)}", flush=True)
    width = max(len(mutation.fix) for mutation, _ in rows)
    print(f"\n| {'Fix removed'.ljust(width)} | File | Failing tests |\n|{'-' * (width + 2)}|---|---|")
    for mutation, failed in rows:
        where = mutation.file.relative_to(config.ROOT)
        print(f"| {mutation.fix.ljust(width)} | {where} | {outcome(mutation, failed)} |")
    return 0 if all(failed or mutation.redundant for mutation, failed in rows) else 1


def outcome(mutation: Mutation, failed: list[str]) -> str:
    if failed:
        return ", ".join(failed)
    return f"none: redundant, {mutation.redundant}" if mutation.redundant else "**CAUGHT BY NOTHING**"


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
