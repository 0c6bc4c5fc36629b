-- Undoes up.d/18-sign-up.sql. Users who signed up stay: they are rows of auth.user as the
-- page's own users are, and log in with the page's recipe too.
begin;

drop function if exists auth.signup(text, text);
drop function if exists auth.change_password(text, text);
drop function if exists auth.refusal(integer, text, text);
drop function if exists auth.password_problem(text, text);
drop function if exists auth.user_name_problem(text);
-- basic_subscriber's usage on auth stays until down.d/17-sessions.sql has stopped the pre-request
-- (auth.check_session), which every request of that role calls; that file revokes it.

commit;
