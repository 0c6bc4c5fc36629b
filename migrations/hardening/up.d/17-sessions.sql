-- Chapter 17: a logout that logs out, and sessions that end.
-- A session is one refresh-token family (one login; the access token names it in `sid`). It is
-- live while one of its tokens is unrevoked, was issued within the idle timeout, and the family
-- started within the absolute lifetime. PostgREST calls auth.check_session() before every
-- request (db-pre-request, set on the authenticator role below), so an access token of a session
-- that ended is refused at once, not when its exp passes.
begin;

-- Each rotated token keeps its family's start, so rotation cannot extend a session.
alter table auth.refresh_token add column if not exists family_started_at timestamp not null default now();
update auth.refresh_token r set family_started_at = f.started
from (select family, min(created_at) as started from auth.refresh_token group by family) f
where r.family = f.family and r.family_started_at > f.started;
create index if not exists refresh_token_live_family on auth.refresh_token (family) where not revoked;
create index if not exists refresh_token_username on auth.refresh_token (username);

-- The two limits: no session lasts longer than 30 days (the refresh cookie's Max-Age), and one
-- not refreshed for 7 days ends.
create or replace function auth.session_lifetime() returns interval
language sql immutable set search_path = '' as $$ select interval '30 days' $$;

create or replace function auth.session_idle_timeout() returns interval
language sql immutable set search_path = '' as $$ select interval '7 days' $$;

create or replace function auth.session_is_live(session uuid) returns boolean
language sql stable set search_path = '' as $$
  select exists (
    select from auth.refresh_token t
    where t.family = session and not t.revoked
      and t.created_at > pg_catalog.now() - auth.session_idle_timeout()
      and t.family_started_at > pg_catalog.now() - auth.session_lifetime()
  );
$$;

-- The pre-request function. A token without `sid` was not issued by login (one made with the
-- secret by hand, say) and names no session to check.
create or replace function auth.check_session() returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  sid text := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sid';
begin
  if sid is not null
     and (sid !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          or not auth.session_is_live(sid::uuid)) then
    raise sqlstate 'PT401' using
      message = 'Session ended (logged out, expired or revoked)',
      hint = 'Log in again at /rpc/login';
  end if;
end;
$$;

-- The sessions of each user, for reading (no role but the owner may).
create or replace view auth.session as
select family as id, username, min(family_started_at) as started_at, max(created_at) as last_refreshed_at,
       bool_or(not revoked
               and created_at > pg_catalog.now() - auth.session_idle_timeout()
               and family_started_at > pg_catalog.now() - auth.session_lifetime()) as live
from auth.refresh_token
where family is not null
group by family, username;
revoke all on auth.session from public;

-- Ended sessions' tokens (revoked, idle or past the lifetime): deleted by this function, which
-- the course calls and a deployment schedules (cron or pg_cron). Not at every login or refresh:
-- that would put a delete in every login's path, and the revoked rows of a session that is
-- still live are what recognises a stolen refresh token presented again, so only whole ended
-- families go.
create or replace function auth.delete_ended_sessions() returns integer
language sql set search_path = '' as $$
  with ended as (
    select s.id from auth.session s where not s.live
  ), deleted as (
    delete from auth.refresh_token t using ended where t.family = ended.id returning 1
  )
  select pg_catalog.count(*)::integer from deleted;
$$;

-- Rotation as in up.sql, with the session's two limits: the child keeps the family's start.
create or replace function auth.refresh_token() returns json
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
    for update nowait;
  exception when lock_not_available then
    waited := true;  -- another request is refreshing with this token right now
    select * into presented from auth.refresh_token
    where token_hash = auth.token_hash(auth.request_cookie('refresh_token'))
    for update;
  end;
  if not found then
    raise sqlstate 'PT401' using message = 'Invalid or expired refresh token';
  end if;

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

  if presented.family_started_at <= pg_catalog.now() - auth.session_lifetime() then
    raise sqlstate 'PT401' using
      message = 'Session ended: it started more than ' || auth.session_lifetime() || ' ago',
      hint = 'Log in again';
  end if;
  if presented.created_at <= pg_catalog.now() - auth.session_idle_timeout() then
    raise sqlstate 'PT401' using
      message = 'Invalid or expired refresh token',
      hint = 'Not used for ' || auth.session_idle_timeout() || ': log in again';
  end if;

  select u.role into role_ from auth."user" u where u.username = presented.username;
  if role_ is null then
    raise sqlstate 'PT401' using message = 'Unknown user';
  end if;

  update auth.refresh_token set revoked = true where id = presented.id;
  insert into auth.refresh_token (token_hash, username, family, parent, family_started_at)
  values (auth.token_hash(refresh_token_), presented.username, presented.family, presented.id,
          presented.family_started_at);

  perform pg_catalog.set_config('response.headers', auth.session_cookies(
    auth.generate_access_token(role_, presented.username, auth.jwt_secret(), presented.family),
    refresh_token_), true);
  return pg_catalog.json_build_object('expires_in', auth.access_token_lifetime());
end;
$$;

-- "Log out everywhere": every session of the logged-in user (the token's sub) ends.
create or replace function auth.logout_everywhere() returns void
language plpgsql security definer set search_path = '' as $$
declare
  user_ text := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub';
begin
  if user_ is null then
    raise sqlstate 'PT401' using message = 'Log in first', hint = 'This needs an access token';
  end if;
  update auth.refresh_token set revoked = true where username = user_ and not revoked;
  perform pg_catalog.set_config('response.headers', auth.expired_cookies(), true);
end;
$$;

revoke execute on function
  auth.session_lifetime(), auth.session_idle_timeout(), auth.session_is_live(uuid), auth.delete_ended_sessions()
from public;
grant usage on schema auth to basic_subscriber;
grant execute on function auth.check_session() to anon, basic_subscriber;
grant execute on function auth.logout_everywhere() to basic_subscriber;

-- db-pre-request in PostgREST's in-database configuration: a `pgrst.*` setting of its login role,
-- read at start-up and on NOTIFY pgrst, 'reload config' (sent when this transaction commits).
alter role authenticator set pgrst.db_pre_request = 'auth.check_session';
notify pgrst, 'reload config';

commit;

notify pgrst, 'reload schema';
