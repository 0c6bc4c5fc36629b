-- Back to the page's recipe: the exact definitions of migrations/02-create_auth_schema.sql,
-- so that chapters 01-09 show the page's behaviour whatever ran before them.
-- Run by stack.recipes.use("page"); rerunnable. (`create or replace` without a SET clause
-- also removes the search_path the hardened recipe pinned.)
begin;

-- The hardened refresh_token returns json (its 401 must commit); the page's returns void.
drop function if exists auth.refresh_token();
-- The same for the hardened login, which answers its refusals through response.status.
drop function if exists auth.login(text, text);

-- Only the hardened functions use these.
drop function if exists auth.generate_access_token(text, text, text, uuid);
drop function if exists auth.verified_claims(text);
drop function if exists auth.request_cookie(text);
drop function if exists auth.session_cookies(text, text);
drop function if exists auth.expired_cookies();
drop function if exists auth.access_token_lifetime();
drop function if exists auth.jwt_secret();
drop function if exists auth.dummy_hash();
drop function if exists auth.bcrypt_cost(text);
drop function if exists auth.client_address();
drop function if exists auth.retry_after(text, integer);
drop table if exists auth.private_settings;
drop table if exists auth.login_failure;

-- Refresh tokens issued by the hardened recipe are stored only as digests, which the page
-- cannot look up: those sessions end here. Then the table is the page's again.
delete from auth.refresh_token where token is null;
alter table auth.refresh_token
  drop column if exists parent,
  drop column if exists revoked,
  drop column if exists family,
  drop column if exists token_hash;
drop function if exists auth.token_hash(text);

-- The page's function definitions, taken from migrations/02-create_auth_schema.sql by
-- stack.recipes when it runs this file, so that there is one copy of them:
-- <page functions>

-- As migrations/05-grants.sql grants it.
grant execute on function auth.login(text, text) to anon;
grant execute on function auth.refresh_token() to anon;

-- The hardened login remakes an old hash at cost 10 when the user logs in; the seed's demo
-- user gets the page's cost-6 hash back (the page's trigger, restored above, makes it), so
-- that chapters 04-10 read the same on every run. Only while its password is still the seed's.
update auth."user" set password = 'demo'
where username = 'demo' and password not like '$2a$06$%' and password = public.crypt('demo', password);

comment on schema auth is null;

commit;

-- The page keeps the secret where its functions read it (migrations/02-create_auth_schema.sql).
alter system set pgrst.jwt_secret = '$JWT_SECRET';
select pg_catalog.pg_reload_conf();

notify pgrst, 'reload schema';
