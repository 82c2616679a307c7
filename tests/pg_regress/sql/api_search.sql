-- Message search (docs/api.md, "Message search"). The rules, from which every
-- expected value below follows:
--   support.search_messages(query) returns the messages of the workspaces the
--   caller reads that match the websearch query under their workspace's text
--   search configuration (default simple), best rank first, then newest; never
--   a message of another workspace, whatever the query;
--   support.set_search_config: owner or admin; re-indexes the workspace's messages.
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
-- W1 (C1): M1 "refund for order 42" (10:00), M2 "the refund is on its way" (10:01), M3 "days
-- of waiting" (10:02), M4 naming W2's lexeme in its text (10:03). W2 (C3): M5 "refund please".
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at) VALUES
  ('d1000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'refund for order 42', '2026-01-01 10:00+00'),
  ('d1000000-0000-4000-8000-000000000002', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'agent', 'b1000000-0000-4000-8000-000000000003', 'the refund is on its way', '2026-01-01 10:01+00'),
  ('d1000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'days of waiting', '2026-01-01 10:02+00'),
  ('d1000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'workspace:a2000000-0000-4000-8000-000000000002 refund', '2026-01-01 10:03+00'),
  ('d1000000-0000-4000-8000-000000000005', 'a2000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000003', 'customer', 'b1000000-0000-4000-8000-000000000007', 'refund please', '2026-01-01 10:00+00');
SET LOCAL ROLE support_app;
-- G (W1): "refund" is in M1, M2 and M4, all of one rank: newest first. W2's M5 never.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT m.content, s.snippet
  FROM support.search_messages('refund') s JOIN support.conversation_messages m ON m.id = s.message_id
 ORDER BY s.rank DESC, s.created_at DESC;
-- Websearch syntax: both words, a phrase, a word without another.
SELECT count(*) AS refund_and_order FROM support.search_messages('refund order');
SELECT count(*) AS phrase FROM support.search_messages('"on its way"');
SELECT count(*) AS refund_not_order FROM support.search_messages('refund -order');
-- W2's id typed into a W1 message is words of W1's message: a search for it finds M4 only.
SELECT m.content FROM support.search_messages('a2000000') s JOIN support.conversation_messages m ON m.id = s.message_id;
-- max_rows.
SELECT count(*) AS at_most_two FROM support.search_messages('refund', 2);
SELECT count(*) FROM support.search_messages('refund', 0);
SELECT count(*) FROM support.search_messages(NULL);
-- X (W2): "refund" is M5 only.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000007';
SELECT m.content FROM support.search_messages('refund') s JOIN support.conversation_messages m ON m.id = s.message_id;
-- N, in no workspace, and nobody: nothing.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000008';
SELECT count(*) AS n_finds FROM support.search_messages('refund');
SET LOCAL support.user_id = '';
SELECT count(*) AS nobody_finds FROM support.search_messages('refund');
-- The configuration: simple does not stem ("days" is not "day"); english does. An agent, a
-- viewer and a member of another workspace may not change it; an admin may.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT count(*) AS day_simple FROM support.search_messages('day');
SELECT support.set_search_config('a1000000-0000-4000-8000-000000000001', 'english');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000005';
SELECT support.set_search_config('a1000000-0000-4000-8000-000000000001', 'english');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000007';
SELECT support.set_search_config('a1000000-0000-4000-8000-000000000001', 'english');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000002';
SELECT support.set_search_config('a1000000-0000-4000-8000-000000000001', 'english');
SELECT support.set_search_config('a1000000-0000-4000-8000-000000000001', NULL);
SELECT count(*) AS day_english FROM support.search_messages('day');
-- Under english, "the" is a stop word: a query of stop words only finds nothing (not everything).
SELECT count(*) AS stop_words_only FROM support.search_messages('the of');
-- A message posted now is indexed under english too; W2 keeps simple.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
INSERT INTO support.conversation_messages (conversation_id, role, content)
VALUES ('c1000000-0000-4000-8000-000000000001', 'agent', 'waited two days') RETURNING search_config;
SELECT count(*) AS day_english_now FROM support.search_messages('day');
RESET ROLE;
SELECT w.name, w.search_config, count(m.*) FILTER (WHERE m.search_config = w.search_config) AS messages_under_it,
       count(m.*) AS messages
  FROM support.workspaces w LEFT JOIN support.conversation_messages m ON m.workspace_id = w.id
 GROUP BY w.name, w.search_config ORDER BY w.name;
-- An application role cannot set a message's configuration or vector itself.
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
UPDATE support.conversation_messages SET search_config = 'simple' WHERE id = 'd1000000-0000-4000-8000-000000000002';
INSERT INTO support.conversation_messages (conversation_id, role, content, search_config)
VALUES ('c1000000-0000-4000-8000-000000000001', 'agent', 'x', 'simple');
-- row_security = off widens nothing: the search applies the policies' rule itself (3 again).
SET LOCAL row_security = off;
SELECT count(*) AS still_three FROM support.search_messages('refund');
SET LOCAL row_security = on;
-- A hostile search_path changes nothing.
RESET ROLE;
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.member_workspaces() RETURNS uuid[] LANGUAGE sql
  AS $$SELECT ARRAY['a2000000-0000-4000-8000-000000000002'::uuid]$$;
CREATE FUNCTION hostile.websearch_to_tsquery(regconfig, text) RETURNS tsquery LANGUAGE sql AS $$SELECT 'please'::tsquery$$;
GRANT USAGE ON SCHEMA hostile TO support_app;
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SET LOCAL search_path = hostile, support, pg_catalog;
SELECT count(*) AS still_w1_refunds FROM support.search_messages('refund');
RESET search_path;
-- Restore mode keeps the configuration a message was dumped with.
RESET ROLE;
SET LOCAL row_security = off;
INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content, search_config)
VALUES ('a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'agent', 'restored', 'simple')
RETURNING search_config;
ROLLBACK;
