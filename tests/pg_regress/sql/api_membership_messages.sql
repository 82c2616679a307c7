-- Membership functions (add_member, set_member_role, remove_member) with member_events,
-- and the message rules: authorship, message_edited / message_deleted events,
-- first_agent_reply_at (README "Who may do what", "Errors"; sql/40_membership.sql's
-- COMMENT ON texts).
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
CREATE TEMP VIEW member_trail AS
  SELECT e.kind, u.display_name AS member, e.from_role, e.to_role, a.display_name AS actor
    FROM support.member_events e
    JOIN support.users u ON u.id = e.user_id
    LEFT JOIN support.users a ON a.id = e.actor_id
   WHERE e.workspace_id = 'a1000000-0000-4000-8000-000000000001' AND e.actor_id IS NOT NULL
   ORDER BY e.created_at;
SET LOCAL ROLE support_app;
-- Nobody: 28000.
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
-- A (admin) adds N as agent (the default role).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000002';
SELECT workspace_id, user_id, role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008');
-- Already a member 23505, no such user 23503, unknown role 23514, an owner only by an owner 42501.
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b9999999-0000-4000-8000-000000000009');
\echo :SQLSTATE
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000007', 'superuser');
\echo :SQLSTATE
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000007', 'owner');
\echo :SQLSTATE
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008', 'owner');
\echo :SQLSTATE
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000001', 'agent');
\echo :SQLSTATE
SELECT role FROM support.remove_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
-- Another workspace and a missing one: "not found" (P0002), identical; a non-member target: P0002.
SELECT role FROM support.add_member('a2000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
SELECT role FROM support.add_member('a9999999-0000-4000-8000-000000000009', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000007', 'agent');
\echo :SQLSTATE
SELECT role FROM support.remove_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000007');
\echo :SQLSTATE
-- Agents, viewers and bots manage nobody: 42501.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT role FROM support.remove_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000005';
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008', 'viewer');
\echo :SQLSTATE
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000006';
SELECT role FROM support.add_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000007');
\echo :SQLSTATE
-- N claims C2; A demotes N to viewer: the claim goes back to the queue (an unassigned event).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000008';
SELECT subject, status FROM support.claim_conversation('c1000000-0000-4000-8000-000000000002');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000002';
SELECT user_id, role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000008', 'viewer');
SELECT subject, status, claimed_by IS NULL AS unowned FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000002';
-- G2 claims C2; O removes G2: the claim goes back to the queue too.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000004';
SELECT subject, status FROM support.claim_conversation('c1000000-0000-4000-8000-000000000002');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000001';
SELECT user_id, role FROM support.remove_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000004');
SELECT subject, status, claimed_by IS NULL AS unowned FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000002';
-- The last owner can be neither demoted nor removed (55000); with a second owner, both work.
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000001', 'admin');
\echo :SQLSTATE
SELECT role FROM support.remove_member('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000002', 'owner');
SELECT role FROM support.set_member_role('a1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000001', 'admin');
-- The membership audit trail (actor set: the fixture's own inserts had no end user).
RESET ROLE;
SELECT * FROM pg_temp.member_trail;
SELECT count(*) AS fixture_events_without_actor FROM support.member_events
 WHERE workspace_id = 'a1000000-0000-4000-8000-000000000001' AND actor_id IS NULL AND kind = 'added';
-- Each returned claim is an unassigned event; its actor is who demoted or removed the owner.
SELECT e.kind, e.from_status, e.to_status, fo.display_name AS from_owner, a.display_name AS actor
  FROM support.conversation_events e
  JOIN support.users fo ON fo.id = e.from_owner LEFT JOIN support.users a ON a.id = e.actor_id
 WHERE e.conversation_id = 'c1000000-0000-4000-8000-000000000002' AND e.kind = 'unassigned' ORDER BY e.created_at;

-- Messages. Authorship is the caller: filled in when omitted, any other id 42501.
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
INSERT INTO support.conversation_messages (conversation_id, role, content)
VALUES ('c1000000-0000-4000-8000-000000000001', 'agent', 'hello from G') RETURNING role, author_id, workspace_id;
INSERT INTO support.conversation_messages (conversation_id, role, author_id, content)
VALUES ('c1000000-0000-4000-8000-000000000001', 'agent', 'b1000000-0000-4000-8000-000000000002', 'as A');
\echo :SQLSTATE
-- A conversation of another workspace: "not found" (23503), as for a missing one.
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000003', 'agent', 'x');
\echo :SQLSTATE
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c9999999-0000-4000-8000-000000000009', 'agent', 'x');
\echo :SQLSTATE
-- An unknown message role: 23514. Ids are the database's: 42501.
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000001', 'robot', 'x');
\echo :SQLSTATE
INSERT INTO support.conversation_messages (id, conversation_id, role, content) VALUES ('f1000000-0000-4000-8000-000000000099', 'c1000000-0000-4000-8000-000000000001', 'agent', 'x');
\echo :SQLSTATE
-- G edits its message (message_edited); G2 was removed; O cannot edit G's message (42501).
UPDATE support.conversation_messages SET content = 'hello from G (edited)' WHERE content = 'hello from G' RETURNING content;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000001';
UPDATE support.conversation_messages SET content = 'changed by O' WHERE content = 'hello from G (edited)';
\echo :SQLSTATE
-- An edit that changes nothing writes no event; O deletes G's message (message_deleted).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
UPDATE support.conversation_messages SET content = content WHERE author_id = 'b1000000-0000-4000-8000-000000000003' RETURNING content;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000001';
DELETE FROM support.conversation_messages WHERE author_id = 'b1000000-0000-4000-8000-000000000003' RETURNING content;
RESET ROLE;
SELECT e.kind, a.display_name AS actor, e.message_id IS NOT NULL AS names_the_message, e.from_status IS NULL AND e.to_status IS NULL AS no_state
  FROM support.conversation_events e LEFT JOIN support.users a ON a.id = e.actor_id
 WHERE e.conversation_id = 'c1000000-0000-4000-8000-000000000001' AND e.kind LIKE 'message%' ORDER BY e.created_at;

-- first_agent_reply_at: set by the first real agent message after escalation, and only then.
INSERT INTO support.conversations (id, workspace_id, status, subject) VALUES
  ('c1000000-0000-4000-8000-000000000005', 'a1000000-0000-4000-8000-000000000001', 'active', 'C5');
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
-- Before escalation an agent message does not count.
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000005', 'agent', 'early');
SELECT first_agent_reply_at IS NULL AS not_set FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000005';
SELECT status FROM support.escalate_conversation('c1000000-0000-4000-8000-000000000005');
-- The bot's messages do not count.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000006';
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000005', 'bot', 'a bot reply');
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000005', 'customer', 'the customer again');
SELECT first_agent_reply_at IS NULL AS not_set FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000005';
-- The table owner's agent message with a bot as author does not count either.
RESET ROLE;
INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, author_id, content)
VALUES ('a1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000005', 'agent', 'b1000000-0000-4000-8000-000000000006', 'bot as agent');
SELECT first_agent_reply_at IS NULL AS not_set FROM support.conversations WHERE id = 'c1000000-0000-4000-8000-000000000005';
-- A human agent's reply sets it.
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c1000000-0000-4000-8000-000000000005', 'agent', 'a human reply');
RESET ROLE;
SELECT c.first_agent_reply_at = m.created_at AS set_to_the_reply
  FROM support.conversations c JOIN support.conversation_messages m ON m.conversation_id = c.id AND m.content = 'a human reply'
 WHERE c.id = 'c1000000-0000-4000-8000-000000000005';
ROLLBACK;
