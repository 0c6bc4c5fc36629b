-- Chapter 16: each user's own rows. Every task has an owner, filled from the token's `sub`
-- claim by a default, and row-level security lets a basic_subscriber see and change only the
-- rows it owns. Rerunnable: one transaction, `if not exists`, policies dropped and remade.
begin;

-- The owner: whoever's token made the request. PostgREST puts the verified claims in
-- request.jwt.claims for the request's transaction; outside a request the setting is empty and
-- the default is null, which `not null` refuses (a superuser inserting must name the owner).
alter table public.task
  add column if not exists owner text
  default (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub');
-- The seeded tasks, and any made before this recipe, belong to the demo user.
update public.task set owner = 'demo' where owner is null;
alter table public.task alter column owner set not null;

-- The page grants select, insert and update (migrations/06-task-grants.sql); deleting one's own
-- rows is part of owning them.
grant delete on public.task to basic_subscriber;

-- With RLS on, a row is visible or changeable only through a policy that allows it; a command
-- without any policy is refused for every row (insert: 42501, "new row violates row-level
-- security policy"). The table's owner (the superuser who ran the migrations) is not subject to
-- it. `(select ...)` makes PostgreSQL read the claim once per query (an InitPlan) instead of once
-- per row (chapter 16 measures both).
alter table public.task enable row level security;

drop policy if exists task_select on public.task;
drop policy if exists task_insert on public.task;
drop policy if exists task_update on public.task;
drop policy if exists task_delete on public.task;

create policy task_select on public.task for select to basic_subscriber
  using (owner = (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'));
create policy task_insert on public.task for insert to basic_subscriber
  with check (owner = (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'));
create policy task_update on public.task for update to basic_subscriber
  using (owner = (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'))
  with check (owner = (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'));
create policy task_delete on public.task for delete to basic_subscriber
  using (owner = (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub'));

commit;

notify pgrst, 'reload schema';
