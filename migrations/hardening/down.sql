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

-- The page's function definitions, taken from migrations/02-create_auth_schema.sql by
-- stack.recipes when it runs this file, so that there is one copy of them:
-- <page functions>

-- As migrations/05-grants.sql grants it.
grant execute on function auth.refresh_token() to anon;

comment on schema auth is null;

commit;

notify pgrst, 'reload schema';
