-- The page reads /rest/task but never creates it: a small table to protect.
create table public.task (
  id int generated always as identity primary key,
  title text not null,
  done boolean not null default false
);

insert into public.task (title, done) values
  ('Generate a JWT secret', true),
  ('Build Caddy with caddy-jwt', true),
  ('Apply the auth migrations', true),
  ('Log in and read this list', false),
  ('Harden the recipe', false);
