-- Chapter 18: sign-up and password change, through PostgREST (POST /rpc/signup public, POST
-- /rpc/change_password behind the gateway's jwtauth), throttled by up.sql's login_failure.
begin;

-- The rules, checked before anything is looked up (so their answer says nothing about who
-- exists). A user name: 3 to 32 characters of a-z, 0-9 and _. A password: 10 characters at
-- least, 72 bytes at most (bcrypt reads no further), and not containing the user name.
create or replace function auth.user_name_problem(user_ text) returns text
language sql immutable set search_path = '' as $$
  select case
    when user_ is null or user_ !~ '^[a-z0-9_]{3,32}$'
      then 'A user name is 3 to 32 characters of a-z, 0-9 and _'
  end;
$$;

create or replace function auth.password_problem(user_ text, pass text) returns text
language sql immutable set search_path = '' as $$
  select case
    when pass is null or pg_catalog.char_length(pass) < 10 then 'A password has at least 10 characters'
    when pg_catalog.octet_length(pass) > 72 then 'A password has at most 72 bytes (bcrypt ignores the rest)'
    when pg_catalog.strpos(pg_catalog.lower(pass), pg_catalog.lower(coalesce(user_, ''))) > 0
      then 'A password must not contain the user name'
  end;
$$;

-- A refusal PostgREST sends as its own error body, through response.status (a raised error
-- would roll back the attempt the throttle counts).
create or replace function auth.refusal(status integer, message text, hint text) returns json
language plpgsql set search_path = '' as $$
begin
  perform pg_catalog.set_config('response.status', status::text, true);
  return pg_catalog.json_build_object('code', 'PT' || status, 'message', message, 'details', null, 'hint', hint);
end;
$$;

-- Sign-up. Without e-mail there is nobody else to tell "this name is taken", so the caller is
-- told, generically: the same answer for a taken name and a reserved one, after one bcrypt run
-- either way (the insert's trigger hashes the password before the primary key refuses a taken
-- name), and every attempt counts against the address's limit of 10 a minute, which logins
-- share: names cannot be listed faster than passwords can be guessed.
create or replace function auth.signup(user_ text, pass text) returns json
language plpgsql security definer set search_path = '' as $$
declare
  address text := auth.client_address();
  wait_s integer;
  problem text := coalesce(auth.user_name_problem(user_), auth.password_problem(user_, pass));
begin
  if pg_catalog.current_setting('request.method', true) is distinct from 'POST' then
    return auth.refusal(405, 'Sign up with POST', null);
  end if;
  if problem is not null then
    return auth.refusal(400, problem, null);
  end if;

  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('auth.login address ' || address)) then
    perform pg_catalog.set_config('response.headers', '[{"Retry-After": "1"}]', true);
    return auth.refusal(429, 'Another login or sign-up from this address is in progress', 'Try again in 1 s');
  end if;
  wait_s := auth.retry_after('address:' || address, 10);
  if wait_s is not null then
    perform pg_catalog.set_config('response.headers',
      pg_catalog.json_build_array(pg_catalog.json_build_object('Retry-After', wait_s::text))::text, true);
    return auth.refusal(429, 'Too many attempts from this address',
      'Try again in ' || wait_s || ' s (the Retry-After header)');
  end if;
  delete from auth.login_failure where at < pg_catalog.clock_timestamp() - interval '60 seconds';
  insert into auth.login_failure (key) values ('address:' || address);

  begin
    if user_ in ('admin', 'root', 'anon', 'authenticator', 'postgres', 'basic_subscriber') then
      perform public.crypt(pass, auth.dummy_hash());  -- the cost of the insert below
      raise unique_violation;
    end if;
    insert into auth."user" (username, password, role) values (user_, pass, 'basic_subscriber');
  exception when unique_violation then
    return auth.refusal(409, 'This user name cannot be used', 'Choose another user name');
  end;
  perform pg_catalog.set_config('response.status', '201', true);
  return pg_catalog.json_build_object('username', user_);
end;
$$;

-- A password change, for the user the access token names, with the current password: a stolen
-- access token alone cannot change it. Wrong current passwords count as failed logins, for the
-- user and the address. It ends every other session of the user (the current one, `sid`, stays).
create or replace function auth.change_password(old_pass text, new_pass text) returns json
language plpgsql security definer set search_path = '' as $$
declare
  claims json := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json;
  user_ text := claims ->> 'sub';
  address text := auth.client_address();
  stored text;
  wait_s integer;
  problem text;
begin
  if pg_catalog.current_setting('request.method', true) is distinct from 'POST' then
    return auth.refusal(405, 'Change a password with POST', null);
  end if;
  if user_ is null then
    perform pg_catalog.set_config('response.headers', '[{"WWW-Authenticate": "Bearer"}]', true);
    return auth.refusal(401, 'Log in first', 'This needs an access token');
  end if;
  problem := auth.password_problem(user_, new_pass);
  if problem is not null then
    return auth.refusal(400, problem, null);
  end if;

  if not (pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('auth.login user ' || user_))
          and pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('auth.login address ' || address))) then
    perform pg_catalog.set_config('response.headers', '[{"Retry-After": "1"}]', true);
    return auth.refusal(429, 'Another login for this name or from this address is in progress', 'Try again in 1 s');
  end if;
  wait_s := greatest(auth.retry_after('address:' || address, 10), auth.retry_after('user:' || user_, 20));
  if wait_s is not null then
    perform pg_catalog.set_config('response.headers',
      pg_catalog.json_build_array(pg_catalog.json_build_object('Retry-After', wait_s::text))::text, true);
    return auth.refusal(429, 'Too many failed logins',
      'Try again in ' || wait_s || ' s (the Retry-After header)');
  end if;

  select u.password into stored from auth."user" u where u.username = user_;
  if (public.crypt(old_pass, coalesce(stored, auth.dummy_hash())) = stored) is not true then
    delete from auth.login_failure where at < pg_catalog.clock_timestamp() - interval '60 seconds';
    insert into auth.login_failure (key) values ('address:' || address), ('user:' || user_);
    return auth.refusal(403, 'Wrong current password', null);
  end if;

  update auth."user" set password = new_pass where username = user_;  -- the trigger hashes it
  update auth.refresh_token set revoked = true
  where username = user_ and not revoked and family is distinct from (claims ->> 'sid')::uuid;
  perform pg_catalog.set_config('response.status', '204', true);
  return null;
end;
$$;

revoke execute on function
  auth.user_name_problem(text), auth.password_problem(text, text), auth.refusal(integer, text, text)
from public;
grant execute on function auth.signup(text, text) to anon;
grant usage on schema auth to basic_subscriber;
grant execute on function auth.change_password(text, text) to basic_subscriber;

commit;

notify pgrst, 'reload schema';
