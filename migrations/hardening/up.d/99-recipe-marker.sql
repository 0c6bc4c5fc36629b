-- Last of the hardened recipe: what stack.recipes.current() reads (PostgREST's OpenAPI title for the
-- auth schema), set only once every file before it has run. Its schema reload is the last
-- notification of the switch, so when PostgREST shows the title it has also read every earlier
-- `reload config` (chapter 17's db-pre-request): stack.recipes.use() waits for that title.
-- down.sql removes the comment.
comment on schema auth is 'recipe: hardened';
notify pgrst, 'reload schema';
