-- What the SuperStack template's first migration does and the page assumes:
-- the roles PostgREST logs in as and falls back to.
\set pgrst_authenticator_pass '$PGRST_AUTHENTICATOR_PASS'

create role authenticator login noinherit password :'pgrst_authenticator_pass';
create role anon nologin;
grant anon to authenticator;

-- Functions are executable by nobody until granted.
alter default privileges revoke execute on functions from public;
