-- The undo of up.d/99-recipe-marker.sql, run first on the way back to the page's recipe: the stack stops
-- saying it is hardened before anything of the hardened recipe is removed.
comment on schema auth is null;
