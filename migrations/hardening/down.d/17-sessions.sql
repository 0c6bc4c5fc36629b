-- Undoes up.d/17-sessions.sql: PostgREST stops calling the pre-request (the config reload is
-- sent on commit, before down.sql's schema reload, which stack.recipes waits for), then the
-- session functions and the family's start go. down.sql then puts the page's refresh_token back.
begin;

alter role authenticator reset pgrst.db_pre_request;
notify pgrst, 'reload config';

drop function if exists auth.logout_everywhere();
drop function if exists auth.check_session();
drop function if exists auth.delete_ended_sessions();
drop view if exists auth.session;
drop function if exists auth.session_is_live(uuid);
drop function if exists auth.session_lifetime();
drop function if exists auth.session_idle_timeout();
drop index if exists auth.refresh_token_live_family;
drop index if exists auth.refresh_token_username;
alter table auth.refresh_token drop column if exists family_started_at;
revoke usage on schema auth from basic_subscriber;

commit;
