-- conversations_ext demo: two tenants, what each member sees, what is refused,
-- and a claim race. One file, two uses: `make demo` (scripts/demo.sh: a throwaway
-- cluster, CREATE EXTENSION, then this file with psql --echo-queries) and the
-- regression suite (pg_regress installs the extension first, then compares the
-- output with expected/demo.out). It commits its rows (fixed ids) to the
-- database it runs in; the only global object it touches is the role support_app,
-- created when missing and never dropped.
\set ON_ERROR_STOP 0
-- Each actor's statements run in one transaction with its identity set by
-- SET LOCAL (identity set at session level is ignored by design: behind a
-- connection pool it would belong to another client). A refused statement
-- rolls back only itself.
\set ON_ERROR_ROLLBACK on
\pset footer on
\set VERBOSITY default
\set SHOW_CONTEXT never

-- The application role (what PostgREST's `authenticated` would be).
DO $$ BEGIN CREATE ROLE support_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SELECT support.grant_usage('support_app');

-- The DBA / service role sets up tenants: Acme (alice, bob, acme-bot, dana the
-- support lead, erin a read-only viewer) and Globex (carol, globex-bot).
INSERT INTO support.users (id, kind, display_name) VALUES
  ('11111111-1111-4111-8111-111111111111', 'human', 'alice (Acme agent)'),
  ('22222222-2222-4222-8222-222222222222', 'human', 'bob (Acme agent)'),
  ('33333333-3333-4333-8333-333333333333', 'human', 'carol (Globex agent)'),
  ('aaaaaaaa-0000-4000-8000-00000000b0a1', 'bot',   'acme-bot'),
  ('aaaaaaaa-0000-4000-8000-00000000b0a2', 'bot',   'globex-bot'),
  ('44444444-4444-4444-8444-444444444444', 'human', 'dana (Acme lead)'),
  ('55555555-5555-4555-8555-555555555555', 'human', 'erin (Acme viewer)');
INSERT INTO support.workspaces (id, name) VALUES
  ('a0000000-0000-4000-8000-00000000acde', 'Acme'),
  ('b0000000-0000-4000-8000-0000000060be', 'Globex');
INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES
  ('a0000000-0000-4000-8000-00000000acde', '11111111-1111-4111-8111-111111111111', 'agent'),
  ('a0000000-0000-4000-8000-00000000acde', '22222222-2222-4222-8222-222222222222', 'agent'),
  ('a0000000-0000-4000-8000-00000000acde', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'agent'),
  ('a0000000-0000-4000-8000-00000000acde', '44444444-4444-4444-8444-444444444444', 'owner'),
  ('a0000000-0000-4000-8000-00000000acde', '55555555-5555-4555-8555-555555555555', 'viewer'),
  ('b0000000-0000-4000-8000-0000000060be', '33333333-3333-4333-8333-333333333333', 'agent'),
  ('b0000000-0000-4000-8000-0000000060be', 'aaaaaaaa-0000-4000-8000-00000000b0a2', 'agent');
INSERT INTO support.conversations (id, workspace_id, bot_user_id, channel, status, escalated_at, subject) VALUES
  ('c0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-00000000acde', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'web',   'active',    NULL,  'Where is my order?'),
  ('c0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000acde', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'email', 'escalated', now(), 'Refund for a broken blender'),
  ('c0000000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-0000000060be', 'aaaaaaaa-0000-4000-8000-00000000b0a2', 'sms',   'active',    NULL,  'Invoice copy please');
INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES
  ('c0000000-0000-4000-8000-000000000001', 'customer', NULL, 'Order #1234 has not arrived.'),
  ('c0000000-0000-4000-8000-000000000001', 'bot', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'It ships tomorrow.'),
  ('c0000000-0000-4000-8000-000000000002', 'customer', NULL, 'The blender broke on day one, I want a refund.'),
  ('c0000000-0000-4000-8000-000000000003', 'customer', NULL, 'Can I get a copy of invoice 77?');

\echo
\echo '=== alice (member of Acme), identity as PostgREST sets it ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"11111111-1111-4111-8111-111111111111","role":"authenticated"}';
SELECT support.current_user_id();
SELECT w.name AS workspace, c.subject, c.status, c.channel
  FROM support.conversations c JOIN support.workspaces w ON w.id = c.workspace_id ORDER BY c.subject;
SELECT c.subject, m.role, m.content
  FROM support.conversation_messages m JOIN support.conversations c ON c.id = m.conversation_id
 ORDER BY c.subject, m.created_at, m.role;

\echo '--- alice reads Globex''s conversation by id: 0 rows'
SELECT id, subject FROM support.conversations WHERE id = 'c0000000-0000-4000-8000-000000000003';
SELECT count(*) AS globex_messages_seen FROM support.conversation_messages WHERE conversation_id = 'c0000000-0000-4000-8000-000000000003';

\echo '--- alice tries to write into Globex: refused'
INSERT INTO support.conversations (workspace_id, subject) VALUES ('b0000000-0000-4000-8000-0000000060be', 'planted by alice');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c0000000-0000-4000-8000-000000000003', 'agent', 'planted by alice');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
UPDATE support.conversations SET subject = 'hijacked' WHERE id = 'c0000000-0000-4000-8000-000000000003' RETURNING id;
COMMIT;

\echo
\echo '=== carol (member of Globex) ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"33333333-3333-4333-8333-333333333333","role":"authenticated"}';
SELECT w.name AS workspace, c.subject, c.status, c.channel
  FROM support.conversations c JOIN support.workspaces w ON w.id = c.workspace_id ORDER BY c.subject;
SELECT c.subject, m.role, m.content
  FROM support.conversation_messages m JOIN support.conversations c ON c.id = m.conversation_id
 ORDER BY c.subject, m.created_at;
COMMIT;

\echo
\echo '=== the escalated Acme conversation: alice claims it, then bob tries ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"11111111-1111-4111-8111-111111111111"}';
SELECT subject, status, claimed_by, claimed_at IS NOT NULL AS has_claimed_at
  FROM support.claim_conversation('c0000000-0000-4000-8000-000000000002');
COMMIT;
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"22222222-2222-4222-8222-222222222222"}';
SELECT subject, status, claimed_by FROM support.claim_conversation('c0000000-0000-4000-8000-000000000002');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;
\echo '--- carol (Globex) tries the same id: "not found", as for an id that does not exist'
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"33333333-3333-4333-8333-333333333333"}';
SELECT subject FROM support.claim_conversation('c0000000-0000-4000-8000-000000000002');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
SELECT subject FROM support.claim_conversation('c0000000-0000-4000-8000-0000000fffff');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;

\echo '--- an identity set at session level (SET without LOCAL) in an earlier transaction identifies nobody'
SET request.jwt.claims = '{"sub":"11111111-1111-4111-8111-111111111111"}';
BEGIN;
SET LOCAL ROLE support_app;
SELECT support.current_user_id() AS current_user_id, (SELECT count(*) FROM support.conversations) AS conversations_seen;
SELECT subject FROM support.claim_next_conversation('a0000000-0000-4000-8000-00000000acde');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;
RESET request.jwt.claims;

\echo '--- erin (Acme viewer) reads, and nothing else'
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"55555555-5555-4555-8555-555555555555"}';
SELECT count(*) AS conversations_erin_reads FROM support.conversations;
UPDATE support.conversations SET subject = 'edited by erin' WHERE id = 'c0000000-0000-4000-8000-000000000001';
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('c0000000-0000-4000-8000-000000000001', 'agent', 'hi from erin');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;
\echo
\echo '=== as the DBA: the final state ==='
SELECT w.name AS workspace, c.subject, c.status, u.display_name AS claimed_by
  FROM support.conversations c
  JOIN support.workspaces w ON w.id = c.workspace_id
  LEFT JOIN support.users u ON u.id = c.claimed_by
 ORDER BY w.name, c.subject;

\echo
\echo '=== the lifecycle: the Acme bot escalates, bob takes the next waiting one, resolves it ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"aaaaaaaa-0000-4000-8000-00000000b0a1"}';
SELECT subject, status FROM support.escalate_conversation('c0000000-0000-4000-8000-000000000001', 'customer asked for a human');
COMMIT;
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"22222222-2222-4222-8222-222222222222"}';
SELECT subject, status FROM support.claim_next_conversation('a0000000-0000-4000-8000-00000000acde');
SELECT subject, status FROM support.claim_next_conversation('a0000000-0000-4000-8000-00000000acde');
INSERT INTO support.conversation_messages (conversation_id, role, content)
VALUES ('c0000000-0000-4000-8000-000000000001', 'agent', 'Your order ships tomorrow, here is the tracking link.')
RETURNING role, (SELECT display_name FROM support.users WHERE id = author_id) AS author;
SELECT subject, status FROM support.resolve_conversation('c0000000-0000-4000-8000-000000000001');
\echo '--- bob tries to resolve alice''s conversation: only its owner or a supervisor can'
SELECT subject FROM support.resolve_conversation('c0000000-0000-4000-8000-000000000002');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;

\echo
\echo '=== dana (Acme owner) supervises: alice went home sick ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"44444444-4444-4444-8444-444444444444"}';
SELECT subject, status, (SELECT display_name FROM support.users WHERE id = claimed_by) AS claimed_by
  FROM support.transfer_conversation('c0000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222');
SELECT role FROM support.set_member_role('a0000000-0000-4000-8000-00000000acde', '11111111-1111-4111-8111-111111111111', 'viewer');
SELECT role FROM support.remove_member('a0000000-0000-4000-8000-00000000acde', '44444444-4444-4444-8444-444444444444');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
\echo '--- the audit trails dana can read (Acme only)'
SELECT e.kind, e.from_status, e.to_status, a.display_name AS actor, o.display_name AS to_owner, e.reason
  FROM support.conversation_events e
  LEFT JOIN support.users a ON a.id = e.actor_id
  LEFT JOIN support.users o ON o.id = e.to_owner
 ORDER BY e.created_at;
SELECT e.kind, u.display_name AS member, e.from_role, e.to_role, a.display_name AS actor
  FROM support.member_events e
  JOIN support.users u ON u.id = e.user_id
  LEFT JOIN support.users a ON a.id = e.actor_id
 WHERE e.kind <> 'added'
 ORDER BY e.created_at;
COMMIT;

\echo
\echo '=== bob''s inbox: conversation numbers, unread messages (his own replies are not unread) ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"22222222-2222-4222-8222-222222222222"}';
SELECT c.number, c.subject, c.status, u.unread
  FROM support.unread_counts() u JOIN support.conversations c ON c.id = u.conversation_id ORDER BY c.number;
\echo '--- bob reads the blender conversation'
SELECT support.mark_read('c0000000-0000-4000-8000-000000000002');
SELECT count(*) AS conversations_with_unread FROM support.unread_counts();
COMMIT;

\echo
\echo '=== dana''s dashboard: the queue now, who holds what, and Acme''s notification channel ==='
BEGIN;
SET LOCAL ROLE support_app;
SET LOCAL request.jwt.claims = '{"sub":"44444444-4444-4444-8444-444444444444"}';
SELECT w.name AS workspace, q.active, q.escalated, q.claimed
  FROM support.queue_figures() q JOIN support.workspaces w ON w.id = q.workspace_id;
SELECT u.display_name, a.claimed
  FROM support.agent_figures() a JOIN support.users u ON u.id = a.user_id ORDER BY u.display_name;
\echo '--- she searches Acme''s messages (Globex''s invoice is not among them)'
SELECT c.subject, s.snippet
  FROM support.search_messages('refund OR invoice') s JOIN support.conversations c ON c.id = s.conversation_id;
\echo '--- Acme''s channel is a name derived from a server secret: Globex''s is not hers to have'
SELECT support.notification_channel('a0000000-0000-4000-8000-00000000acde') ~ '^cx_[0-9a-f]{32}$' AS acme_channel;
SELECT support.notification_channel('b0000000-0000-4000-8000-0000000060be');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
COMMIT;
