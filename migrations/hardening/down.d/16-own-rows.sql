-- Undoes up.d/16-own-rows.sql: the page's task table (id, title, done), open to every
-- basic_subscriber, with the page's grants. Rows made while it ran stay, without an owner.
begin;

drop policy if exists task_select on public.task;
drop policy if exists task_insert on public.task;
drop policy if exists task_update on public.task;
drop policy if exists task_delete on public.task;
alter table public.task disable row level security;
revoke delete on public.task from basic_subscriber;
alter table public.task drop column if exists owner;

commit;

notify pgrst, 'reload schema';
