-- Back to the page's recipe: the exact definitions of migrations/02-create_auth_schema.sql,
-- so that chapters 01-09 show the page's behaviour whatever ran before them.
-- Run by stack.recipes.use("page"); rerunnable. (`create or replace` without a SET clause
-- also removes the search_path the hardened recipe pinned.)
begin;

-- The hardened refresh_token returns json (its 401 must commit); the page's returns void.
drop function if exists auth.refresh_token();

-- Only the hardened functions use these.
drop function if exists auth.generate_access_token(text, text, text, uuid);
drop function if exists auth.verified_claims(text);
drop function if exists auth.request_cookie(text);
drop function if exists auth.session_cookies(text, text);
drop function if exists auth.expired_cookies();
drop function if exists auth.access_token_lifetime();

-- Refresh tokens issued by the hardened recipe are stored only as digests, which the page
-- cannot look up: those sessions end here. Then the table is the page's again.
delete from auth.refresh_token where token is null;
alter table auth.refresh_token
  drop column if exists parent,
  drop column if exists revoked,
  drop column if exists family,
  drop column if exists token_hash;
drop function if exists auth.token_hash(text);

-- The page's definitions, verbatim from migrations/02-create_auth_schema.sql.
create or replace function auth.check_role_exists() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from pg_roles where rolname = new.role) then
    raise foreign_key_violation using message = 'unknown database role: ' || new.role;
    return null;
  end if;
  return new;
end
$$;

create or replace function auth.encrypt_pass() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.password <> old.password then
    new.password := crypt(new.password, gen_salt('bf'));
  end if;
  return new;
end
$$;

create or replace function auth.url_encode(data bytea) returns text language sql AS $$
  select translate(encode(data, 'base64'), E'+/=\n', '-_');
$$ immutable;

create or replace function auth.sign_raw(
  payload json,
  secret_base64 text, -- can be base64 or raw
  algorithm text default 'HS256'
) returns text
language plpgsql immutable as $$
declare
  alg text;
  clean_secret bytea;
begin
  -- Determine algorithm
  alg := case algorithm
    when 'HS256' then 'sha256'
    when 'HS384' then 'sha384'
    when 'HS512' then 'sha512'
    else 'sha256'
  end;

  begin
    clean_secret := decode(secret_base64, 'base64');
  exception when others then
    raise exception 'Invalid base64-encoded secret';
  end;

  return (
    with
      header as (
        select auth.url_encode(convert_to('{"alg":"' || algorithm || '","typ":"JWT"}','utf8')) as data
      ),
      payload_enc as (
        select auth.url_encode(convert_to(payload::text,'utf8')) as data
      ),
      signables as (
        select header.data || '.' || payload_enc.data as data from header, payload_enc
      )
    select
      signables.data || '.' ||
      auth.url_encode(public.hmac(convert_to(signables.data,'utf8'), clean_secret, alg))
    from signables
  );
end;
$$;

create or replace function auth.generate_access_token(
  role_ text, user_ text, secret text
) returns text
language plpgsql as $$
declare
  access_token text;
begin
  select auth.sign_raw(row_to_json(r), secret)
  into access_token
  from (
    select
      role_ as role,
      user_ as username,
      user_ as sub,
      extract(epoch from now())::integer + 600 as exp
  ) r;
  return access_token;
end;
$$;

create or replace function auth.login(user_ text, pass text) returns void
language plpgsql security definer as $$
declare
  access_token text;
  headers text;
  refresh_token text;
  role_ name;
begin
  select role into role_
  from auth.user
  where username = user_
    and password = public.crypt(pass, password);

  if role_ is null then
    raise sqlstate 'PT401' using message = 'Invalid user or password';
  end if;

  select auth.generate_access_token(role_, user_, current_setting('pgrst.jwt_secret')) into access_token;

  refresh_token := public.gen_random_uuid();
  insert into auth.refresh_token (token, username) values (refresh_token, user_);

  headers := json_build_array(
    json_build_object('Set-Cookie', 'access_token=' || access_token || '; Path=/; HttpOnly;'),
    json_build_object('Set-Cookie', 'refresh_token=' || refresh_token || '; Path=/rpc/refresh_token; HttpOnly;')
  )::text;

  perform set_config('response.headers', headers, true);
end;
$$;

create or replace function auth.logout() returns void
language plpgsql security definer as $$
declare headers text;
begin
  headers := '[' ||
    '{"Set-Cookie": "access_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;"},' ||
    '{"Set-Cookie": "refresh_token=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT;"}' ||
  ']';
  perform set_config('response.headers', headers, true);
end;
$$;

create or replace function auth.refresh_token() returns void
language plpgsql security definer as $$
declare
  user_ text;
  access_token text;
  headers text;
  refresh_token_ text;
  role_ text;
begin
  refresh_token_ := current_setting('request.cookies', true)::json->>'refresh_token';

  select username into user_
  from auth.refresh_token
  where token = refresh_token_
    and created_at > now() - interval '30 days';

  if user_ is null then
    raise sqlstate 'PT401' using message = 'Invalid or expired refresh token';
  end if;

  select role into role_ from auth.user where username = user_;
  if role_ is null then
    raise sqlstate 'PT401' using message = 'Unknown user';
  end if;

  select auth.generate_access_token(role_, user_, current_setting('pgrst.jwt_secret')) into access_token;

  headers := '[{"Set-Cookie": "access_token=' || access_token || '; Path=/; HttpOnly;"}]';
  perform set_config('response.headers', headers, true);
end;
$$;

-- As migrations/05-grants.sql grants it.
grant execute on function auth.refresh_token() to anon;

comment on schema auth is null;

commit;

notify pgrst, 'reload schema';
