-- Chapter 19: tokens name who issued them and for whom, and the auth tables stay private.
-- Rerunnable: one transaction, `create or replace`.
begin;

-- Every access token now carries `iss` (who signed it: this database's login) and `aud` (whom it
-- is for: this stack's API). The gateway (two `vars` matchers on caddy-jwt's meta_claims in
-- stack/caddy/Caddyfile.hardened) requires both; PostgREST (PGRST_JWT_AUD in stack/compose.yaml)
-- refuses another audience. The other claims are up.sql's.
create or replace function auth.generate_access_token(
  role_ text, user_ text, secret text, session uuid
) returns text
language plpgsql set search_path = '' as $$
declare
  -- Rounded down: `::integer` rounds to the nearest second, so iat could be up to 0.5 s in the
  -- future; a check without clock skew (caddy-jwt's issuer_whitelist, which the gateway no longer
  -- uses) refused such a token ("invalid issuer") when it was used within that half second.
  now_ integer := pg_catalog.floor(extract(epoch from pg_catalog.now()))::integer;
begin
  return auth.sign_raw(
    pg_catalog.json_strip_nulls(pg_catalog.json_build_object(
      'role', role_, 'username', user_, 'sub', user_, 'sid', session,
      'iat', now_, 'exp', now_ + auth.access_token_lifetime(),
      'iss', 'superstack-auth', 'aud', 'superstack'
    )),
    secret
  );
end;
$$;
revoke execute on function auth.generate_access_token(text, text, text, uuid) from public;

-- PostgREST's jwt-aud lets a token without `aud` (or with null or []) through: its docs say so
-- (docs/references/auth.rst, "aud validation", v16.2) and src/library/PostgREST/Auth/Jwt.hs checks
-- `aud` only when the claim is there. The gateway closes that (it requires the claim);
-- for a request that reaches PostgREST some other way, this check refuses a logged-in request
-- whose token has no `aud` of this stack. It is meant to be called by the db-pre-request
-- function (`perform auth.require_audience();`), which must be `security definer` anyway to read
-- the auth tables; no API role may call it itself. Anonymous requests (no token) pass.
create or replace function auth.require_audience() returns void
language plpgsql stable set search_path = '' as $$
declare
  claims json := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json;
  aud json := claims -> 'aud';
begin
  if claims is null or claims ->> 'role' = 'anon' then
    return;
  end if;
  if aud is null or not (
       (pg_catalog.json_typeof(aud) = 'string' and aud #>> '{}' = 'superstack')
       or (pg_catalog.json_typeof(aud) = 'array' and aud::jsonb ? 'superstack')) then
    raise sqlstate 'PT401' using
      message = 'JWT not in audience',
      detail = 'The token has no aud claim naming this stack',
      hint = 'Log in at /rpc/login for a token of this stack';
  end if;
end;
$$;
revoke execute on function auth.require_audience() from public;

-- `auth` is in db-schemas so that POST /rpc/login with Content-Profile: auth finds the login
-- functions. Everything in it is reachable through PostgREST for any role with a privilege on it,
-- so no API role has one on its tables: a table stays out of the API, and out of the OpenAPI
-- document, whatever a later grant in the migrations did by mistake.
revoke all on all tables in schema auth from public, anon, basic_subscriber, authenticator;
revoke all on all sequences in schema auth from public, anon, basic_subscriber, authenticator;

commit;

notify pgrst, 'reload schema';
