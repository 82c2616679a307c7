-- The lifecycle functions (README "Conversation lifecycle", "SQL API", "Errors"):
-- escalate, claim, claim_next, release, transfer, resolve, reopen: each success with the
-- row it returns and the audit event it writes (kind, actor, from/to status and owner,
-- reason); each refusal with its SQLSTATE; another workspace's id is "not found" exactly
-- like a missing one (P0002, same message).
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
-- The audit trail of W1 since the last look, as the superuser (names, not ids).
CREATE TEMP VIEW trail AS
  SELECT c.subject, e.kind, e.from_status, e.to_status, fo.display_name AS from_owner,
         t.display_name AS to_owner, a.display_name AS actor, e.reason
    FROM support.conversation_events e
    JOIN support.conversations c ON c.id = e.conversation_id
    LEFT JOIN support.users fo ON fo.id = e.from_owner
    LEFT JOIN support.users t ON t.id = e.to_owner
    LEFT JOIN support.users a ON a.id = e.actor_id
   WHERE e.kind <> 'created'
   ORDER BY e.created_at;
GRANT SELECT ON trail TO support_app;
SET LOCAL ROLE support_app;
-- G (agent): claim_next takes C2 (the only one waiting in W1; C3 is W2's).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT subject, status, claimed_by, claimed_at IS NOT NULL AS has_claimed_at FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
-- The queue is empty now: NULL.
SELECT id IS NULL AS empty_queue FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
-- Re-claiming your own returns it unchanged.
SELECT subject, status, claimed_by FROM support.claim_conversation(conversation_id => 'c1000000-0000-4000-8000-000000000002');
-- Another workspace's ids and missing ids: "not found", identical.
SELECT id FROM support.claim_conversation('c1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
SELECT id FROM support.claim_conversation('c9999999-0000-4000-8000-000000000009');
\echo :SQLSTATE
SELECT id FROM support.claim_next_conversation('a2000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.claim_next_conversation('a9999999-0000-4000-8000-000000000009');
\echo :SQLSTATE
SELECT id FROM support.escalate_conversation('c1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
SELECT id FROM support.release_conversation('c1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000003', 'b1000000-0000-4000-8000-000000000004');
\echo :SQLSTATE
SELECT id FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
SELECT id FROM support.reopen_conversation('c1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
-- NULL in, NULL out (escalate is not STRICT).
SELECT support.escalate_conversation(NULL) IS NULL AS null_in_null_out;
-- G2 (agent) cannot claim G's conversation (55006) nor act on it (42501).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000004';
SELECT id FROM support.claim_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.release_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000004');
\echo :SQLSTATE
SELECT id FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
-- Transitions from the wrong state: 55000, naming current and needed state.
SELECT id FROM support.escalate_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.reopen_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.claim_conversation('c1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
SELECT id FROM support.release_conversation('c1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-000000000003');
\echo :SQLSTATE
SELECT id FROM support.reopen_conversation('c1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
-- V (viewer) and B (bot) are refused before any state check (42501).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000005';
SELECT id FROM support.escalate_conversation('c1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
SELECT id FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
SELECT id FROM support.release_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000006';
SELECT id FROM support.claim_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
SELECT id FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
-- B escalates C1 with a reason (the wait clock starts).
SELECT subject, status, escalated_at IS NOT NULL AS waiting FROM support.escalate_conversation('c1000000-0000-4000-8000-000000000001', 'asked for a human');
-- G transfers C2 to G2; targets outside the workspace (22023), a viewer or a bot (42501) refused.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000007');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000008');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000005');
\echo :SQLSTATE
SELECT id FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000006');
\echo :SQLSTATE
SELECT subject, status, claimed_by FROM support.transfer_conversation('c1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000004');
-- G2 releases it (wait time kept), G claims it by id, A (admin) releases G's claim (supervisor).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000004';
SELECT subject, status, claimed_by IS NULL AS unowned, claimed_at IS NULL AS no_claimed_at,
       escalated_at < now() AS original_wait_kept FROM support.release_conversation('c1000000-0000-4000-8000-000000000002');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT subject, status, claimed_by FROM support.claim_conversation('c1000000-0000-4000-8000-000000000002');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000002';
SELECT subject, status, claimed_by IS NULL AS unowned FROM support.release_conversation('c1000000-0000-4000-8000-000000000002');
-- O (owner) claims C1 (the oldest waiting now is C2: claim_next takes C2 first).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000001';
SELECT subject FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
SELECT subject, status FROM support.claim_conversation('c1000000-0000-4000-8000-000000000001');
-- O resolves its own C1; A resolves O's C2 (supervisor); G2 cannot resolve a resolved one.
SELECT subject, status, resolved_at IS NOT NULL AS has_resolved_at, claimed_by IS NULL AS unowned FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000001');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000002';
SELECT subject, status FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000002');
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000004';
SELECT id FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
-- B reopens C1: escalated, resolved_at cleared, reopen_count 1.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000006';
SELECT subject, status, resolved_at IS NULL AS resolved_at_cleared, reopen_count, escalated_at IS NOT NULL AS waiting FROM support.reopen_conversation('c1000000-0000-4000-8000-000000000001');
-- An active conversation is resolved by an agent or a bot (the bot solved it).
RESET ROLE;
INSERT INTO support.conversations (id, workspace_id, status, subject) VALUES
  ('c1000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000001', 'active', 'C4');
SET LOCAL ROLE support_app;
SELECT subject, status FROM support.resolve_conversation('c1000000-0000-4000-8000-000000000004');
-- A plain UPDATE cannot write the lifecycle (42501 naming the column), even as the owner.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000001';
UPDATE support.conversations SET status = 'resolved' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET escalated_at = now() - interval '1 day' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET reopen_count = 0 WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET workspace_id = 'a2000000-0000-4000-8000-000000000002' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET status = 'closed' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
-- Even with the whole table granted (a DBA's GRANT), the trigger refuses each lifecycle
-- column (42501, naming it); a status outside the closed set is the CHECK's 23514.
RESET ROLE;
GRANT UPDATE ON support.conversations TO support_app;
SET LOCAL ROLE support_app;
UPDATE support.conversations SET status = 'resolved' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET claimed_by = 'b1000000-0000-4000-8000-000000000001' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET escalated_at = now() - interval '1 day' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET resolved_at = now() WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET first_agent_reply_at = now() WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET reopen_count = 0 WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET status = 'closed' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
UPDATE support.conversations SET id = 'c1000000-0000-4000-8000-000000000099' WHERE id = 'c1000000-0000-4000-8000-000000000001';
\echo :SQLSTATE
-- Positive control: the subject is still writable.
UPDATE support.conversations SET subject = 'C1 edited' WHERE id = 'c1000000-0000-4000-8000-000000000001' RETURNING subject, status;
-- The audit trail: every change above, in order, with its actor (and nothing for the refusals).
SELECT * FROM pg_temp.trail;
ROLLBACK;
