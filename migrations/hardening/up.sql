-- The hardened recipe: every fix chapter 10 makes to the page's auth schema.
-- Not a migration (`make migrate` reads migrations/*.sql only): stack.recipes.use("hardened")
-- runs it, and down.sql puts the page's definitions back. Rerunnable: one transaction,
-- `create or replace`, `if not exists`.
begin;

-- Refresh tokens: stored as a SHA-256 digest, rotated on every use, grouped in families
-- (one per login, as Supabase Auth's sessions). A rotated token is kept, revoked, so that
-- presenting it again is recognised as reuse.
alter table auth.refresh_token
  add column if not exists token_hash text unique,
  add column if not exists family uuid,
  add column if not exists parent bigint references auth.refresh_token (id) on delete cascade,
  add column if not exists revoked boolean not null default false;
create index if not exists refresh_token_family on auth.refresh_token (family);

create or replace function auth.token_hash(token text) returns text
language sql immutable set search_path = '' as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(token, 'utf8')), 'hex');
$$;

-- Tokens the page stored in plain text keep working, but only their digest stays readable.
update auth.refresh_token
set token_hash = auth.token_hash(token), family = pg_catalog.gen_random_uuid(), token = null
where token is not null;

-- The signing secret, where only the auth functions' owner can read it: the page's
-- `alter system set pgrst.jwt_secret` lets every role read it with current_setting() (and
-- copies it into PostgreSQL's log); it is removed from there at the end of this file. The
-- dummy hash gives an unknown user's login a bcrypt run of the same cost as a real one.
create table if not exists auth.private_settings (
  only_row boolean primary key default true check (only_row),
  jwt_secret text not null,
  dummy_hash text not null
);
revoke all on auth.private_settings from public;
insert into auth.private_settings (jwt_secret, dummy_hash)
values ('$JWT_SECRET', public.crypt(pg_catalog.gen_random_uuid()::text, public.gen_salt('bf', 10)))
on conflict (only_row) do update set jwt_secret = excluded.jwt_secret, dummy_hash = excluded.dummy_hash;

create or replace function auth.jwt_secret() returns text
language sql stable set search_path = '' as $$
  select s.jwt_secret from auth.private_settings s;
$$;

create or replace function auth.dummy_hash() returns text
language sql stable set search_path = '' as $$
  select s.dummy_hash from auth.private_settings s;
$$;

-- bcrypt's cost, from the hash's "$2a$NN$" prefix (0 for anything else).
create or replace function auth.bcrypt_cost(hash text) returns integer
language sql immutable set search_path = '' as $$
  select case when hash ~ '^[$]2[abxy][$][0-9]{2}[$]' then pg_catalog.substr(hash, 5, 2)::integer else 0 end;
$$;

-- Failed logins of the last minute, per user name and per client address: the throttle.
create table if not exists auth.login_failure (
  key text not null,  -- 'user:<name>' or 'address:<ip>'
  at timestamptz not null default pg_catalog.clock_timestamp()
);
create index if not exists login_failure_key on auth.login_failure (key, at);
create index if not exists login_failure_at on auth.login_failure (at);
revoke all on auth.login_failure from public;

-- The address Caddy saw. Caddy sets X-Forwarded-For itself (it trusts no proxy, so it replaces
-- what a client sent); the last entry is the one it wrote. Straight to PostgREST, anyone can
-- write it: the hardened recipe assumes PostgREST is reached through the gateway only.
create or replace function auth.client_address() returns text
language sql stable set search_path = '' as $$
  select coalesce(pg_catalog.btrim((pg_catalog.regexp_split_to_array(
    nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-forwarded-for', ','))[
    pg_catalog.cardinality(pg_catalog.regexp_split_to_array(
    nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-forwarded-for', ','))]), 'unknown');
$$;

-- Seconds until fewer than `allowed` failures of this key are left in the last 60 s, or null
-- when there already are.
create or replace function auth.retry_after(key_ text, allowed integer) returns integer
language sql stable set search_path = '' as $$
  select greatest(1, pg_catalog.ceil(extract(epoch from
    f.at + interval '60 seconds' - pg_catalog.clock_timestamp()))::integer)
  from auth.login_failure f
  where f.key = key_ and f.at > pg_catalog.clock_timestamp() - interval '60 seconds'
  order by f.at desc offset allowed - 1 limit 1;
$$;

-- The access token lives as long as PostgREST says (PGRST_APP_SETTINGS_JWT_EXP becomes the
-- per-request setting app.settings.jwt_exp); outside a request, the page's stated one hour.
create or replace function auth.access_token_lifetime() returns integer
language sql stable set search_path = '' as $$
  select coalesce(nullif(pg_catalog.current_setting('app.settings.jwt_exp', true), '')::integer, 3600);
$$;

-- Every function below pins search_path: a security definer function runs with its owner's
-- rights, so it must not resolve names through a schema the caller can write to.
create or replace function auth.check_role_exists() returns trigger
language plpgsql set search_path = '' as $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = new.role) then
    raise foreign_key_violation using message = 'unknown database role: ' || new.role;
    return null;
  end if;
  return new;
end
$$;

-- bcrypt reads at most 72 bytes, so a longer password is refused before hashing instead of
-- silently truncated; cost 10 instead of gen_salt's default 6 (chapter 10 measures both).
create or replace function auth.encrypt_pass() returns trigger
language plpgsql set search_path = '' as $$
begin
  if tg_op = 'INSERT' or new.password <> old.password then
    if pg_catalog.octet_length(new.password) > 72 then
      raise sqlstate '22023' using
        message = 'Password too long: at most 72 bytes',
        hint = 'bcrypt ignores every byte past the 72nd';
    end if;
    new.password := public.crypt(new.password, public.gen_salt('bf', 10));
  end if;
  return new;
end
$$;

create or replace function auth.url_encode(data bytea) returns text
language sql immutable set search_path = '' as $$
  select pg_catalog.translate(pg_catalog.encode(data, 'base64'), E'+/=\n', '-_');
$$;

-- The page signs an unknown algorithm name with SHA-256 and writes that name in the header.
create or replace function auth.sign_raw(
  payload json,
  secret_base64 text,
  algorithm text default 'HS256'
) returns text
language plpgsql immutable set search_path = '' as $$
declare
  alg text;
  clean_secret bytea;
  signable text;
begin
  alg := case algorithm when 'HS256' then 'sha256' when 'HS384' then 'sha384' when 'HS512' then 'sha512' end;
  if alg is null then
    raise sqlstate '22023' using message = 'unsupported JWT algorithm: ' || coalesce(algorithm, 'null');
  end if;
  begin
    clean_secret := pg_catalog.decode(secret_base64, 'base64');
  exception when others then
    raise exception 'Invalid base64-encoded secret';
  end;
  signable := auth.url_encode(pg_catalog.convert_to('{"alg":"' || algorithm || '","typ":"JWT"}', 'utf8'))
    || '.' || auth.url_encode(pg_catalog.convert_to(payload::text, 'utf8'));
  return signable || '.' || auth.url_encode(public.hmac(pg_catalog.convert_to(signable, 'utf8'), clean_secret, alg));
end;
$$;

-- The claims now carry iat and sid (the refresh-token family), so that logout can find the
-- session from the access cookie, which a browser sends to /rpc/logout (the refresh cookie's
-- Path keeps it away from there).
create or replace function auth.generate_access_token(
  role_ text, user_ text, secret text, session uuid
) returns text
language plpgsql set search_path = '' as $$
declare
  now_ integer := extract(epoch from pg_catalog.now())::integer;
begin
  return auth.sign_raw(
    pg_catalog.json_strip_nulls(pg_catalog.json_build_object(
      'role', role_, 'username', user_, 'sub', user_, 'sid', session,
      'iat', now_, 'exp', now_ + auth.access_token_lifetime()
    )),
    secret
  );
end;
$$;

create or replace function auth.generate_access_token(
  role_ text, user_ text, secret text
) returns text
language sql set search_path = '' as $$
  select auth.generate_access_token(role_, user_, secret, null);
$$;

-- The payload of a token this database signed (HS256, its exact header), or null.
-- Expiry is not checked: logging out with an expired access token must still work.
create or replace function auth.verified_claims(token text) returns json
language plpgsql stable set search_path = '' as $$
declare
  parts text[] := pg_catalog.string_to_array(token, '.');
  payload text;
begin
  if token is null or pg_catalog.cardinality(parts) <> 3
     or parts[1] <> 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'
     or parts[3] <> auth.url_encode(public.hmac(
          pg_catalog.convert_to(parts[1] || '.' || parts[2], 'utf8'),
          pg_catalog.decode(auth.jwt_secret(), 'base64'),
          'sha256')) then
    return null;
  end if;
  payload := pg_catalog.translate(parts[2], '-_', '+/');
  payload := payload || pg_catalog.repeat('=', (4 - pg_catalog.length(payload) % 4) % 4);
  return pg_catalog.convert_from(pg_catalog.decode(payload, 'base64'), 'utf8')::json;
exception when others then
  return null;
end;
$$;

create or replace function auth.request_cookie(name text) returns text
language sql stable set search_path = '' as $$
  select nullif(pg_catalog.current_setting('request.cookies', true), '')::json ->> name;
$$;

-- Cookies: Secure (sent over HTTPS only; browsers count http://localhost as secure) and SameSite.
-- The refresh cookie is Strict and lives as long as the server accepts it (30 days).
create or replace function auth.session_cookies(access_token text, refresh_token text) returns text
language sql immutable set search_path = '' as $$
  select pg_catalog.json_build_array(
    pg_catalog.json_build_object('Set-Cookie',
      'access_token=' || access_token || '; Path=/; HttpOnly; Secure; SameSite=Lax'),
    pg_catalog.json_build_object('Set-Cookie',
      'refresh_token=' || refresh_token || '; Path=/rpc/refresh_token; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict')
  )::text;
$$;

-- Both cookies expired at the Path they were set with.
create or replace function auth.expired_cookies() returns text
language sql immutable set search_path = '' as $$
  select pg_catalog.json_build_array(
    pg_catalog.json_build_object('Set-Cookie', 'access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax'),
    pg_catalog.json_build_object('Set-Cookie',
      'refresh_token=; Path=/rpc/refresh_token; Max-Age=0; HttpOnly; Secure; SameSite=Strict')
  )::text;
$$;

-- A refused login is answered through response.status, not by raising an error: an error
-- would roll back the failure the throttle must remember. So the function returns json (the
-- error body, as PostgREST writes it), and a successful login sets status 204 and returns
-- nothing, as the page's void function answers.
drop function if exists auth.login(text, text);
create function auth.login(user_ text, pass text) returns json
language plpgsql security definer set search_path = '' as $$
declare
  stored text;
  matches boolean;
  role_ name;
  address text := auth.client_address();
  wait_s integer;
  refusal text;
  family_ uuid := pg_catalog.gen_random_uuid();
  refresh_token_ text := pg_catalog.gen_random_uuid()::text;
begin
  -- POST only (issue 22). PostgREST runs a GET or HEAD call in a read-only transaction, where the
  -- failure below could not be recorded: such a call was never throttled, and the statement that
  -- failed first told a right password (UPDATE of an old hash) from a wrong one (DELETE). So it is
  -- refused before anything else, the password unread. Called from SQL, request.method is unset.
  if coalesce(pg_catalog.current_setting('request.method', true), '') not in ('', 'POST') then
    perform pg_catalog.set_config('response.status', '405', true);
    perform pg_catalog.set_config('response.headers', '[{"Allow": "POST"}]', true);
    return pg_catalog.json_build_object(
      'code', 'PT405', 'message', 'Log in with POST', 'details', null,
      'hint', 'POST /rpc/login with a JSON body {"user_": ..., "pass": ...}');
  end if;

  if pg_catalog.octet_length(pass) > 72 then
    raise sqlstate '22023' using
      message = 'Password too long: at most 72 bytes',
      hint = 'bcrypt ignores every byte past the 72nd';
  end if;
  -- A name too long for the throttle's index (about 2.7 kB) failed with a 500 that named the index,
  -- and recorded nothing (issue 22): refused first, clearly.
  if pg_catalog.octet_length(user_) > 256 then
    raise sqlstate '22023' using message = 'User name too long: at most 256 bytes';
  end if;

  -- One attempt at a time per user name and per address, so that concurrent guesses are all
  -- counted and one address never runs two bcrypts at once. A second attempt meanwhile does not
  -- wait (waiting would hold one of PostgREST's connections): it is told to retry in 1 s. Then
  -- at most 10 failures a minute from one address and 20 for one user name (from any number of
  -- addresses); past that, 429 with Retry-After and no bcrypt run. A refused attempt is not
  -- counted, so a name is free again at most 60 s after the guessing stops.
  if pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('auth.login user ' || coalesce(user_, '')))
     and pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('auth.login address ' || address)) then
    wait_s := greatest(
      auth.retry_after('address:' || address, 10), auth.retry_after('user:' || coalesce(user_, ''), 20));
    refusal := 'Too many failed logins';
  else
    wait_s := 1;
    refusal := 'Another login for this name or from this address is in progress';
  end if;
  if wait_s is not null then
    perform pg_catalog.set_config('response.status', '429', true);
    perform pg_catalog.set_config('response.headers',
      pg_catalog.json_build_array(pg_catalog.json_build_object('Retry-After', wait_s::text))::text, true);
    return pg_catalog.json_build_object(
      'code', 'PT429', 'message', refusal, 'details', null,
      'hint', 'Try again in ' || wait_s || ' s (the Retry-After header)');
  end if;

  select u.password, u.role into stored, role_ from auth."user" u where u.username = user_;
  -- Every login costs one bcrypt run at cost 10: an unknown user's against the dummy hash, and
  -- a hash made at a lower cost (before hardening) is topped up with the dummy's, so the time
  -- of the answer tells neither who exists nor whose hash is old. `is not true` refuses the
  -- nulls a null name or password produce.
  matches := public.crypt(pass, coalesce(stored, auth.dummy_hash())) = stored;
  if stored is not null and auth.bcrypt_cost(stored) < 10 then
    perform public.crypt(pass, auth.dummy_hash());
  end if;
  if matches is not true then
    delete from auth.login_failure where at < pg_catalog.clock_timestamp() - interval '60 seconds';
    insert into auth.login_failure (key) values ('address:' || address), ('user:' || coalesce(user_, ''));
    perform pg_catalog.set_config('response.status', '401', true);
    perform pg_catalog.set_config('response.headers', '[{"WWW-Authenticate": "Bearer"}]', true);
    return pg_catalog.json_build_object(
      'code', 'PT401', 'message', 'Invalid user or password', 'details', null, 'hint', null);
  end if;

  -- The password is known right now: the only moment an old hash can be remade at cost 10
  -- (the trigger hashes it).
  if auth.bcrypt_cost(stored) < 10 then
    update auth."user" set password = pass where username = user_;
  end if;
  delete from auth.login_failure where key = 'user:' || user_;

  insert into auth.refresh_token (token_hash, username, family)
  values (auth.token_hash(refresh_token_), user_, family_);

  perform pg_catalog.set_config('response.headers', auth.session_cookies(
    auth.generate_access_token(role_, user_, auth.jwt_secret(), family_),
    refresh_token_), true);
  perform pg_catalog.set_config('response.status', '204', true);
  return null;
end;
$$;
grant execute on function auth.login(text, text) to anon;

-- Logout revokes the session server-side: the family of the refresh cookie if one is sent,
-- and the family named by a valid access cookie (what a browser sends here).
create or replace function auth.logout() returns void
language plpgsql security definer set search_path = '' as $$
declare
  families uuid[];
begin
  families := array(
    select t.family from auth.refresh_token t where t.token_hash = auth.token_hash(auth.request_cookie('refresh_token'))
    union
    select s.sid::uuid from (select auth.verified_claims(auth.request_cookie('access_token')) ->> 'sid' as sid) s
    where s.sid ~ '^[0-9a-f-]{36}$'
  );
  update auth.refresh_token set revoked = true where family = any (families) and not revoked;
  perform pg_catalog.set_config('response.headers', auth.expired_cookies(), true);
end;
$$;

-- Rotation: each refresh revokes the presented token and issues its child. Presenting a
-- revoked token again means two parties hold it, so the whole family is revoked. That
-- must survive the response, and a raised error would roll it back: the function answers
-- 401 through response.status instead, with PostgREST's error body, and so returns json.
drop function if exists auth.refresh_token();
create function auth.refresh_token() returns json
language plpgsql security definer set search_path = '' as $$
declare
  presented auth.refresh_token;
  waited boolean := false;
  role_ name;
  refresh_token_ text := pg_catalog.gen_random_uuid()::text;
begin
  begin
    select * into presented from auth.refresh_token
    where token_hash = auth.token_hash(auth.request_cookie('refresh_token'))
      and created_at > pg_catalog.now() - interval '30 days'
    for update nowait;
  exception when lock_not_available then
    waited := true;  -- another request is refreshing with this token right now
    select * into presented from auth.refresh_token
    where token_hash = auth.token_hash(auth.request_cookie('refresh_token'))
      and created_at > pg_catalog.now() - interval '30 days'
    for update;
  end;
  if not found then
    raise sqlstate 'PT401' using message = 'Invalid or expired refresh token';
  end if;

  -- Two refreshes with one token at once (two tabs, a retry): the first rotation wins, and the
  -- one that had to wait for it is refused without revoking anything. Presented again later,
  -- the token means two parties hold it.
  if presented.revoked and waited then
    perform pg_catalog.set_config('response.status', '409', true);
    return pg_catalog.json_build_object(
      'code', 'PT409',
      'message', 'Refresh token already rotated by a concurrent request',
      'details', null,
      'hint', 'Use the cookies the first refresh set');
  end if;

  if presented.revoked then
    update auth.refresh_token set revoked = true where family = presented.family and not revoked;
    perform pg_catalog.set_config('response.status', '401', true);
    perform pg_catalog.set_config('response.headers', auth.expired_cookies(), true);
    return pg_catalog.json_build_object(
      'code', 'PT401',
      'message', 'Refresh token already used or revoked: the whole session is revoked',
      'details', null,
      'hint', 'Log in again');
  end if;

  select u.role into role_ from auth."user" u where u.username = presented.username;
  if role_ is null then
    raise sqlstate 'PT401' using message = 'Unknown user';
  end if;

  update auth.refresh_token set revoked = true where id = presented.id;
  insert into auth.refresh_token (token_hash, username, family, parent)
  values (auth.token_hash(refresh_token_), presented.username, presented.family, presented.id);

  perform pg_catalog.set_config('response.headers', auth.session_cookies(
    auth.generate_access_token(role_, presented.username, auth.jwt_secret(), presented.family),
    refresh_token_), true);
  return pg_catalog.json_build_object('expires_in', auth.access_token_lifetime());
end;
$$;

-- Helpers are for the auth functions only; the three endpoints stay open to anon.
revoke execute on function
  auth.token_hash(text), auth.access_token_lifetime(), auth.verified_claims(text), auth.request_cookie(text),
  auth.session_cookies(text, text), auth.expired_cookies(), auth.generate_access_token(text, text, text, uuid),
  auth.jwt_secret(), auth.dummy_hash(), auth.bcrypt_cost(text), auth.client_address(), auth.retry_after(text, integer)
from public;
grant execute on function auth.refresh_token() to anon;

-- What stack.recipes.current() reads is set last, by up.d/99-recipe-marker.sql.

commit;

-- Out of every role's reach (current_setting) and out of the configuration file; the reload
-- logs only that it was removed.
alter system reset pgrst.jwt_secret;
select pg_catalog.pg_reload_conf();

notify pgrst, 'reload schema';
