-- Not in the seed page (issue 22): no statement an API role runs may last longer than 5 seconds.
-- `match`/`imatch` filters hand the pattern to PostgreSQL's regular expressions, where
-- backreferences take exponential time: one request of 199 bytes kept a connection busy for 12-62 s,
-- and ten held every connection of PostgREST's pool, so `POST /rpc/login` answered 504.
-- A role's settings reach its own logins (authenticator: PostgREST's schema cache queries);
-- PostgREST applies the settings of the role it switches to (anon, basic_subscriber) in each
-- request's transaction (v16.2, Query/PreQuery.hs), read at start-up and on `reload config`.
-- A cancelled statement answers PostgREST's error 57014, HTTP 500. Both recipes have it: the
-- hardened recipe builds on these migrations. Migrations and `make psql` run as the superuser,
-- which has no limit.
alter role authenticator set statement_timeout = '5s';
alter role anon set statement_timeout = '5s';
alter role basic_subscriber set statement_timeout = '5s';
