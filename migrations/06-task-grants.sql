-- The page's "Grant more privileges here", filled in for the task table it reads.
grant select, insert, update on public.task to basic_subscriber;
