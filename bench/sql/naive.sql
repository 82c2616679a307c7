-- The naive policy shape, for reference: a copy of the tenant tables in schema
-- bench_naive with the same rows, indexes, foreign keys and triggers, and the
-- per-row correlated policy many projects start from:
--
--   EXISTS (SELECT 1 FROM workspace_members m
--            WHERE m.workspace_id = <row>.workspace_id AND m.user_id = support.current_user_id())
--
-- (workspace_members is copied too, without RLS, so that the policy's sub-query
-- is not itself filtered by the extension's policy.) Run after generate.sql.
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
SET row_security = off;
SET max_parallel_workers_per_gather = 0;
SET maintenance_work_mem = '1GB';
SET synchronous_commit = off;

CREATE SCHEMA bench_naive;

CREATE TABLE bench_naive.workspace_members AS SELECT * FROM support.workspace_members;
CREATE TABLE bench_naive.conversations AS SELECT * FROM support.conversations;
CREATE TABLE bench_naive.conversation_messages AS SELECT * FROM support.conversation_messages;

-- Same column defaults, and every index of the originals (same definitions).
ALTER TABLE bench_naive.conversations ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE bench_naive.conversation_messages ALTER COLUMN id SET DEFAULT gen_random_uuid(),
                                              ALTER COLUMN created_at SET DEFAULT now();
SELECT replace(pg_get_indexdef(i.indexrelid), ' ON support.', ' ON bench_naive.')
  FROM pg_index i
 WHERE i.indrelid IN ('support.workspace_members'::regclass, 'support.conversations'::regclass,
                      'support.conversation_messages'::regclass)
   AND NOT i.indisprimary
\gexec
ALTER TABLE bench_naive.workspace_members ADD PRIMARY KEY (workspace_id, user_id);
ALTER TABLE bench_naive.conversations ADD PRIMARY KEY (workspace_id, id);
ALTER TABLE bench_naive.conversation_messages ADD PRIMARY KEY (workspace_id, id);
-- The message foreign keys (checked for new rows, as in the original).
ALTER TABLE bench_naive.conversation_messages
    ADD FOREIGN KEY (workspace_id, conversation_id) REFERENCES bench_naive.conversations (workspace_id, id) NOT VALID,
    ADD FOREIGN KEY (workspace_id, author_id) REFERENCES bench_naive.workspace_members (workspace_id, user_id) NOT VALID;
-- The message triggers of the original (fill workspace_id, first agent reply).
CREATE TRIGGER conversation_messages_before_insert BEFORE INSERT ON bench_naive.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_before_insert();
CREATE TRIGGER conversation_messages_first_reply AFTER INSERT ON bench_naive.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_first_reply();

ALTER TABLE bench_naive.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench_naive.conversation_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversations_naive ON bench_naive.conversations
    USING (EXISTS (SELECT 1 FROM bench_naive.workspace_members m
                    WHERE m.workspace_id = conversations.workspace_id
                      AND m.user_id = support.current_user_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM bench_naive.workspace_members m
                         WHERE m.workspace_id = conversations.workspace_id
                           AND m.user_id = support.current_user_id()));
CREATE POLICY conversation_messages_naive ON bench_naive.conversation_messages
    USING (EXISTS (SELECT 1 FROM bench_naive.workspace_members m
                    WHERE m.workspace_id = conversation_messages.workspace_id
                      AND m.user_id = support.current_user_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM bench_naive.workspace_members m
                         WHERE m.workspace_id = conversation_messages.workspace_id
                           AND m.user_id = support.current_user_id()));
