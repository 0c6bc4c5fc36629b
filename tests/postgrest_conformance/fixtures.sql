-- Conformance fixture schema (database pgrst_conformance only; roles are conformance-only).
do $$ begin
  if not exists (select from pg_roles where rolname = 'pgrst_conf_authenticator') then
    create role pgrst_conf_authenticator login noinherit password 'conformance'; end if;
  if not exists (select from pg_roles where rolname = 'pgrst_conf_anon') then create role pgrst_conf_anon nologin; end if;
  if not exists (select from pg_roles where rolname = 'pgrst_conf_user') then create role pgrst_conf_user nologin; end if;
  if not exists (select from pg_roles where rolname = 'pgrst_conf_outsider') then create role pgrst_conf_outsider nologin; end if;
end $$;
grant pgrst_conf_anon, pgrst_conf_user to pgrst_conf_authenticator;
-- In-database configuration (test_db_config.py): a second login role whose pgrst.* settings name
-- another pre-request, as v16.2's test/io/fixtures/db_config.sql does for db_config_authenticator.
do $$ begin
  if not exists (select from pg_roles where rolname = 'pgrst_conf_db_config') then
    create role pgrst_conf_db_config login noinherit password 'conformance'; end if;
end $$;
grant pgrst_conf_anon, pgrst_conf_user to pgrst_conf_db_config;
alter role pgrst_conf_db_config set pgrst.db_pre_request = 'api.pre_req_db';

drop schema if exists api cascade;
drop schema if exists other cascade;
create schema api;
create schema other;
grant usage on schema api, other to pgrst_conf_anon, pgrst_conf_user;
alter default privileges revoke execute on functions from public;

create table api.items (id int primary key, name text not null, qty int);
insert into api.items select i, 'item ' || i, i * 10 from generate_series(1, 10) i;
update api.items set qty = null where id = 10;
create view api.items_view as select id, name from api.items;
create table api.tagged (id int primary key, tags int[], span int4range, body text);
insert into api.tagged values
  (1, '{1,2,3}', '[1,3)', 'The quick brown fox'), (2, '{2}', '[5,8)', 'jumps over the lazy dog'),
  (3, null, '[10,12)', 'Foxes and dogs');
grant select on api.tagged to pgrst_conf_anon;
create table api.secrets (id int primary key, secret text);
insert into api.secrets values (1, 'hidden');
create table api.notes (id int generated always as identity primary key, body text unique, owner text);
grant select on api.items, api.items_view to pgrst_conf_anon;
grant select, insert, update, delete on api.items, api.items_view, api.secrets, api.notes to pgrst_conf_user;
grant select, insert, update, delete on api.notes to pgrst_conf_anon;

create function api.void_fn() returns void language sql as $$ select $$;
create function api.add(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function api.greet(name text, greeting text default 'hello') returns text language sql stable
  as $$ select greeting || ', ' || name $$;
create function api.list_items() returns setof api.items language sql stable as $$ select * from api.items order by id $$;
create function api.over(a int) returns int language sql immutable as $$ select a $$;
create function api.over(a int, b int default 0) returns int language sql immutable as $$ select a + b $$;
create function api.nap(seconds float) returns void language sql volatile as $$ select pg_sleep(seconds) $$;
create function api.add_note(body text) returns void language sql volatile
  as $$ insert into api.notes (body) values (body) $$;
create function api.set_cookies() returns void language plpgsql security definer as $$
begin
  perform set_config('response.headers',
    '[{"Set-Cookie": "a=1; Path=/"}, {"Set-Cookie": "b=2; Path=/"}, {"Cache-Control": "no-store"}]', true);
end $$;
create function api.accepted() returns text language plpgsql as $$
begin perform set_config('response.status', '202', true); return 'queued'; end $$;
create function api.bad_headers() returns void language plpgsql as $$
begin perform set_config('response.headers', '{"a": 1}', true); end $$;
create function api.bad_status() returns void language plpgsql as $$
begin perform set_config('response.status', 'abc', true); end $$;
create function api.note_then_bad_headers(body text) returns void language plpgsql as $$
begin
  insert into api.notes (body) values (body);
  perform set_config('response.headers', 'not json', true);
end $$;
create function api.status_with_reason() returns void language plpgsql as $$
begin perform set_config('response.status', '202 Accepted', true); end $$;
create function api.pt402() returns void language plpgsql as $$
begin raise sqlstate 'PT402' using message = 'Payment needed', detail = 'pay first', hint = 'use a card'; end $$;
create function api.pt401() returns void language plpgsql as $$
begin raise sqlstate 'PT401' using message = 'Invalid user or password'; end $$;
create function api.boom() returns void language plpgsql as $$ begin raise exception 'boom'; end $$;
create function api.teapot() returns void language plpgsql as $$
begin raise sqlstate 'PGRST' using
  message = '{"code":"T418","message":"I am a teapot","details":"short and stout","hint":null}',
  detail = '{"status":418,"headers":{"X-Kettle":"on"}}'; end $$;
create function api.bad_raise() returns void language plpgsql as $$
begin raise sqlstate 'PGRST' using message = 'not json'; end $$;
create function api.headers_then_fail() returns void language plpgsql as $$
begin perform set_config('response.headers', '[{"X-Leak": "yes"}]', true); raise exception 'failed'; end $$;
create function api.whoami() returns json language sql stable as $$
  select json_build_object(
    'role', current_user, 'claims', current_setting('request.jwt.claims', true)::json,
    'method', current_setting('request.method', true), 'path', current_setting('request.path', true),
    'headers', current_setting('request.headers', true)::json,
    'cookies', current_setting('request.cookies', true)::json,
    'greeting', current_setting('app.settings.greeting', true), 'search_path', current_setting('search_path'),
    'read_only', current_setting('transaction_read_only'), 'pre', current_setting('conformance.pre', true))
$$;
create function api.pre_req() returns void language plpgsql as $$
begin
  perform set_config('conformance.pre', 'ran', true);
  if current_setting('request.headers', true)::json->>'x-block' = 'yes' then
    raise sqlstate 'PT403' using message = 'Blocked by db-pre-request';
  end if;
end $$;
create function api.pre_req_db() returns void language plpgsql as $$
begin
  perform set_config('conformance.pre', 'from the database', true);
  if current_setting('request.jwt.claims', true)::json ->> 'sid' = 'ended' then
    raise sqlstate 'PT401' using message = 'Session ended';
  end if;
end $$;
create function other.where_am_i() returns text language sql stable as $$ select 'other' $$;
create table other.things (id int primary key);
insert into other.things values (1), (2);
grant select on other.things to pgrst_conf_anon, pgrst_conf_user;

-- Embedding (v14.1 test/spec/Feature/Query/EmbedDisambiguationSpec.hs and friends), JSON paths,
-- upserts: a publisher has authors (one-to-many), a book one author (many-to-one), tags through a
-- junction (many-to-many), a biography per author (one-to-one); duos name two authors (ambiguous).
create table api.authors (id int primary key, name text not null);
create table api.books (id int primary key, title text not null, author_id int references api.authors,
  meta jsonb, year int);
create table api.tags (id int primary key, label text not null);
create table api.book_tags (book_id int references api.books, tag_id int references api.tags,
  primary key (book_id, tag_id));
create table api.biographies (author_id int primary key references api.authors, text text);
create table api.duos (id int primary key, first_id int references api.authors, second_id int references api.authors);
insert into api.authors values (1, 'Ann'), (2, 'Bob'), (3, 'Cid');
insert into api.books values
  (1, 'Alpha', 1, '{"color": "red", "dims": {"w": 3, "h": 4}, "tags": ["x", "y"]}', 2001),
  (2, 'Beta', 1, '{"color": "blue", "dims": {"w": 10, "h": 2}, "tags": []}', 2005),
  (3, 'Gamma', 2, '{"color": "green", "dims": {"w": 5, "h": 5}}', 1999),
  (4, 'Delta', null, null, 2010);
insert into api.tags values (1, 'old'), (2, 'new'), (3, 'unused');
insert into api.book_tags values (1, 1), (2, 2), (3, 1), (3, 2);
insert into api.biographies values (1, 'Ann wrote two books');
insert into api.duos values (1, 1, 2);
create table api.upsertable (id int primary key, name text, note text default 'none');
insert into api.upsertable values (1, 'one', 'first'), (2, 'two', 'second');
create table api.keyless (a int, b text);
grant select on api.authors, api.books, api.tags, api.book_tags, api.biographies, api.duos to pgrst_conf_anon;
grant select, insert, update, delete on api.upsertable, api.keyless, api.books, api.authors to pgrst_conf_anon;
-- Computed fields and relationships (v14.1 ComputedRelsSpec; docs "Computed Fields")
create function api.label(api.authors) returns text language sql stable as $$ select 'Author ' || $1.name $$;
create function api.first_book(api.authors) returns setof api.books rows 1 language sql stable
  as $$ select * from api.books where author_id = $1.id order by id limit 1 $$;
create function api.written(api.authors) returns setof api.books language sql stable
  as $$ select * from api.books where author_id = $1.id $$;
create table api.events (id int primary key, at timestamptz);
insert into api.events values (1, '2020-01-01 12:00:00+00');
grant select on api.events to pgrst_conf_anon;
create view api.books_view as select id, title, author_id from api.books;
grant select on api.books_view to pgrst_conf_anon;
analyze api.items, api.books;
-- RpcSpec "procs with OUT/INOUT params", "VARIADIC params", "single unnamed param"
create function api.plus_one(num int, out num_plus_one int) language sql immutable as $$ select num + 1 $$;
create function api.several_out(out my_json json, out num int, out str text) language sql immutable
  as $$ select '{"a": 1}'::json, 3, 'four' $$;
create function api.variadic_words(variadic v text[] default '{}') returns text[] language sql immutable
  as $$ select v $$;
create function api.echo_json(json) returns json language sql immutable as $$ select $1 $$;
create function api.books_by(author int) returns setof api.books language sql stable
  as $$ select * from api.books where author_id = author order by id $$;

grant execute on all functions in schema api, other to pgrst_conf_anon, pgrst_conf_user;
comment on schema api is 'Conformance API';
notify pgrst, 'reload schema';

-- v16.2 additions (tests/postgrest_conformance/test_v16.py): typed columns for OpenAPI, a custom Vary.
create table api.prices (id bigint primary key, amount numeric(10,2), code varchar(3), small smallint);
grant select on api.prices to pgrst_conf_anon;
create function api.custom_vary() returns text language plpgsql as $$
begin perform set_config('response.headers', '[{"Vary": "X-Test-Accept"}]', true); return 'ok'; end $$;
grant execute on function api.custom_vary() to pgrst_conf_anon;
create function api.items_volatile() returns setof api.items language sql volatile as $$ select * from api.items order by id $$;
grant execute on function api.items_volatile() to pgrst_conf_anon;
