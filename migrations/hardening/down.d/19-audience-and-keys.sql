-- Undoes up.d/19-audience-and-keys.sql. down.sql, which runs after this file, drops up.sql's
-- four-argument auth.generate_access_token (the one 19 replaced) and puts back the page's
-- three-argument one, whose tokens carry neither `iss` nor `aud`. The revoked privileges were
-- never the page's to grant: nothing to give back.
drop function if exists auth.require_audience();
