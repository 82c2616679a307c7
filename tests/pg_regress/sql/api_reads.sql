-- Read state (docs/api.md, "Read state and unread counts"). The rules, from
-- which every expected value below follows:
--   a position is the last message read, in transcript order (created_at, id);
--   support.mark_read moves the caller's own position forward, never back;
--   support.unread_counts() has one row per open conversation the caller reads
--   with at least one message after their position that they did not write;
--   each user reads only their own positions.
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
-- Messages, as the owner, at fixed times. C1 (W1): M1 customer 10:00, M2 by
-- agent G 10:01, M3 and M4 customer, both 10:02 (M3 < M4 by id: transcript
-- order ties on id). C2 (W1): M5 customer 10:00. C3 (W2): M6 customer.
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at) VALUES
  ('d1000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'M1', '2026-01-01 10:00+00'),
  ('d1000000-0000-4000-8000-000000000002', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'agent',    'b1000000-0000-4000-8000-000000000003', 'M2', '2026-01-01 10:01+00'),
  ('d1000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'M3', '2026-01-01 10:02+00'),
  ('d1000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'M4', '2026-01-01 10:02+00'),
  ('d1000000-0000-4000-8000-000000000005', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000002', 'customer', 'b1000000-0000-4000-8000-000000000006', 'M5', '2026-01-01 10:00+00'),
  ('d1000000-0000-4000-8000-000000000006', 'a2000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000003', 'customer', 'b1000000-0000-4000-8000-000000000007', 'M6', '2026-01-01 10:00+00');
-- A fourth conversation in W1 without any message.
INSERT INTO support.conversations (id, workspace_id, subject)
VALUES ('c1000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000001', 'C4 empty');
CREATE TEMP VIEW counts AS
  SELECT c.subject, u.unread
    FROM support.unread_counts() u JOIN support.conversations c ON c.id = u.conversation_id
   ORDER BY c.subject;
GRANT SELECT ON counts TO support_app;
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';   -- G, agent of W1
-- Nothing read yet: C1 has M1, M3, M4 (M2 is G's own); C2 has M5; C3 is W2's;
-- C4 has no message.
SELECT * FROM counts;
-- Up to M1: M3 and M4 remain (M2 is G's own).
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001');
SELECT * FROM counts;
-- Up to M3: M4 (same created_at, greater id) remains.
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000003');
SELECT * FROM counts;
-- Everything: C1 is fully read and leaves the list.
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001');
SELECT * FROM counts;
-- Never backwards: marking M1 again leaves the position at M4.
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001');
SELECT conversation_id, read_message_id FROM support.conversation_reads;
-- A conversation without messages: nothing to read, no position.
SELECT support.mark_read('c1000000-0000-4000-8000-000000000004');
SELECT count(*) AS positions FROM support.conversation_reads;
-- Another workspace's conversation, a conversation that does not exist, a
-- message of another conversation: the same "not found".
SELECT support.mark_read('c1000000-0000-4000-8000-000000000003');
SELECT support.mark_read('c1000000-0000-4000-8000-0000000000ff');
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000005');
SELECT support.mark_read('c1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000006');
-- Positions are written by support.mark_read only.
INSERT INTO support.conversation_reads (workspace_id, conversation_id, user_id, read_created_at, read_message_id)
VALUES ('a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000003', 'infinity', 'd1000000-0000-4000-8000-000000000005');
UPDATE support.conversation_reads SET read_created_at = '-infinity';
DELETE FROM support.conversation_reads;
-- A viewer reads, so marks: V reads C2.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000005';
SELECT * FROM counts;
SELECT support.mark_read('c1000000-0000-4000-8000-000000000002');
SELECT * FROM counts;
-- Each user sees only their own positions: V sees C2's, not G's of C1.
SELECT c.subject FROM support.conversation_reads r JOIN support.conversations c ON c.id = r.conversation_id;
-- X (W2) sees C3 only; G's and V's positions are not X's.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000007';
SELECT * FROM counts;
SELECT count(*) AS positions FROM support.conversation_reads;
-- A new message makes C1 unread again for G; G's own reply does not.
RESET ROLE;
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at) VALUES
  ('d1000000-0000-4000-8000-000000000007', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'agent', 'b1000000-0000-4000-8000-000000000003', 'M7 by G', '2026-01-01 10:03+00'),
  ('d1000000-0000-4000-8000-000000000008', 'a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'customer', 'b1000000-0000-4000-8000-000000000006', 'M8', '2026-01-01 10:04+00');
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT * FROM counts;
-- Resolved conversations are not counted; reopened, they are again.
RESET ROLE;
UPDATE support.conversations SET status = 'resolved', resolved_at = now()
 WHERE id = 'c1000000-0000-4000-8000-000000000001';
SET LOCAL ROLE support_app;
SELECT * FROM counts;
-- Without an end user there is nobody to count for.
SET LOCAL support.user_id = '';
SELECT * FROM support.unread_counts();
SELECT support.mark_read('c1000000-0000-4000-8000-000000000002');
-- row_security = off does not turn the policy off for an application role: the query is refused.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SET LOCAL row_security = off;
SELECT count(*) FROM support.conversation_reads;
SELECT * FROM support.unread_counts();
SET LOCAL row_security = on;
-- A hostile search_path changes nothing: the functions pin theirs.
RESET ROLE;
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 1000::bigint';
CREATE FUNCTION hostile.member_workspaces() RETURNS uuid[] LANGUAGE sql
  AS $$SELECT ARRAY['a2000000-0000-4000-8000-000000000002'::uuid]$$;
GRANT USAGE ON SCHEMA hostile TO support_app;
SET LOCAL ROLE support_app;
SET LOCAL search_path = hostile, support, pg_catalog;
SELECT * FROM support.unread_counts() ORDER BY unread;
RESET search_path;
-- Deleted with the conversation: V's position of C2 goes with C2.
RESET ROLE;
SELECT count(*) AS positions_of_c2 FROM support.conversation_reads
 WHERE conversation_id = 'c1000000-0000-4000-8000-000000000002';
DELETE FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000002';
SELECT count(*) AS positions_of_c2 FROM support.conversation_reads
 WHERE conversation_id = 'c1000000-0000-4000-8000-000000000002';
ROLLBACK;
