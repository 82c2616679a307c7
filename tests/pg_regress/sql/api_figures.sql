-- Queue and SLA figures (docs/api.md, "Queue and SLA figures"). The rules,
-- from which every expected value below follows:
--   one row per workspace the caller reads, zeros where nothing is there;
--   queue_figures: open conversations per status, the oldest escalated_at of
--   the escalated ones;
--   agent_figures: per human owner, admin or agent, the conversations they
--   hold and the oldest claimed_at;
--   sla_figures(since, until): over the conversations created in the window,
--   median and 90th percentile (linear interpolation, percentile_cont) of
--   first_agent_reply_at - created_at and of resolved_at - created_at, and
--   the reopen rate: reopened / resolved at least once.
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL TimeZone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
-- W3: a third workspace, of nobody below. G joins W2 as a viewer.
INSERT INTO support.workspaces (id, name) VALUES ('a3000000-0000-4000-8000-000000000003', 'W3');
INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES
  ('a3000000-0000-4000-8000-000000000003', 'b1000000-0000-4000-8000-000000000008', 'owner'),
  ('a2000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000003', 'viewer');
INSERT INTO support.conversations (workspace_id, status, escalated_at, subject) VALUES
  ('a3000000-0000-4000-8000-000000000003', 'escalated', '2025-06-01 00:00+00', 'W3 waiting');
-- Fixed clocks for the fixture's waiting conversations: C2 (W1) since 05:00, C3 (W2) since 06:00.
UPDATE support.conversations SET escalated_at = '2026-01-01 05:00+00' WHERE id = 'c1000000-0000-4000-8000-000000000002';
UPDATE support.conversations SET escalated_at = '2026-01-01 06:00+00' WHERE id = 'c1000000-0000-4000-8000-000000000003';
-- W1's history, as restored rows (taken as given). In the window [2026-01-01, 2026-01-02):
-- K1 replied after 10 min, resolved after 60; K2 replied after 30, resolved after 120, reopened
-- once before; K3 replied after 60, claimed by G since 03:30; K4 unanswered, active; K7 waiting
-- since 04:00. Outside it: K5 (Jan 5), K6 (Dec 31).
SET LOCAL row_security = off;
INSERT INTO support.conversations (workspace_id, subject, status, created_at, first_agent_reply_at, resolved_at,
                                   reopen_count, claimed_by, claimed_at, escalated_at) VALUES
  ('a1000000-0000-4000-8000-000000000001', 'K1', 'resolved', '2026-01-01 00:00+00', '2026-01-01 00:10+00', '2026-01-01 01:00+00', 0, NULL, NULL, '2026-01-01 00:05+00'),
  ('a1000000-0000-4000-8000-000000000001', 'K2', 'resolved', '2026-01-01 01:00+00', '2026-01-01 01:30+00', '2026-01-01 03:00+00', 1, NULL, NULL, '2026-01-01 01:05+00'),
  ('a1000000-0000-4000-8000-000000000001', 'K3', 'claimed',  '2026-01-01 02:00+00', '2026-01-01 03:00+00', NULL, 0, 'b1000000-0000-4000-8000-000000000003', '2026-01-01 03:30+00', '2026-01-01 02:05+00'),
  ('a1000000-0000-4000-8000-000000000001', 'K4', 'active',   '2026-01-01 03:00+00', NULL, NULL, 0, NULL, NULL, NULL),
  ('a1000000-0000-4000-8000-000000000001', 'K7', 'escalated', '2026-01-01 03:30+00', NULL, NULL, 0, NULL, NULL, '2026-01-01 04:00+00'),
  ('a1000000-0000-4000-8000-000000000001', 'K5', 'resolved', '2026-01-05 00:00+00', '2026-01-05 00:05+00', '2026-01-05 00:10+00', 3, NULL, NULL, '2026-01-05 00:01+00'),
  ('a1000000-0000-4000-8000-000000000001', 'K6', 'resolved', '2025-12-31 23:59+00', '2026-01-01 00:01+00', '2026-01-01 00:02+00', 2, NULL, NULL, '2025-12-31 23:59+00');
SET LOCAL row_security = on;
SET LOCAL ROLE support_app;
-- G: a member of W1 (agent) and W2 (viewer): two rows, never W3.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
-- W1 open: C1, K4 active; C2, K7 escalated (oldest 04:00); K3 claimed. W2: C3 waiting since 06:00.
SELECT w.name, q.active, q.escalated, q.claimed, q.oldest_waiting_since
  FROM support.queue_figures() q JOIN support.workspaces w ON w.id = q.workspace_id ORDER BY w.name;
-- W1: O, A, G2 hold nothing, G holds K3 since 03:30 (viewer V and the bots B, BV are not listed);
-- W2: X holds nothing (G is a viewer there).
SELECT w.name, u.display_name, a.claimed, a.oldest_claim_since
  FROM support.agent_figures() a JOIN support.workspaces w ON w.id = a.workspace_id
  JOIN support.users u ON u.id = a.user_id ORDER BY w.name, u.display_name;
-- W1 in the window: K1, K2, K3, K4, K7 (5). First reply 10, 30, 60 min: p50 30 min, p90 30 + 0.8 * 30 = 54 min.
-- Resolution 60, 120 min: p50 90 min, p90 60 + 0.9 * 60 = 114 min. Reopen rate: K2 of K1, K2 = 0.5.
-- W2: nothing created in the window.
SELECT w.name, s.conversations, s.first_reply_p50, s.first_reply_p90, s.resolution_p50, s.resolution_p90, s.reopen_rate
  FROM support.sla_figures('2026-01-01 00:00+00', '2026-01-02 00:00+00') s
  JOIN support.workspaces w ON w.id = s.workspace_id ORDER BY w.name;
-- The window is half-open: [23:59, 00:00) holds K6 (created at its start), not K1 (at its end).
SELECT w.name, s.conversations FROM support.sla_figures('2025-12-31 23:59+00', '2026-01-01 00:00+00') s
  JOIN support.workspaces w ON w.id = s.workspace_id ORDER BY w.name;
SELECT count(*) FROM support.sla_figures('2026-01-02', '2026-01-01');
-- X: W2 only.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000007';
SELECT w.name, q.escalated FROM support.queue_figures() q JOIN support.workspaces w ON w.id = q.workspace_id;
-- Nobody: no rows.
SET LOCAL support.user_id = '';
SELECT (SELECT count(*) FROM support.queue_figures()) AS queue, (SELECT count(*) FROM support.agent_figures()) AS agents,
       (SELECT count(*) FROM support.sla_figures()) AS sla;
-- A hostile search_path changes nothing.
RESET ROLE;
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.percentile_cont(double precision) RETURNS double precision LANGUAGE sql AS 'SELECT 0::float8';
CREATE FUNCTION hostile.member_workspaces() RETURNS uuid[] LANGUAGE sql
  AS $$SELECT ARRAY['a3000000-0000-4000-8000-000000000003'::uuid]$$;
GRANT USAGE ON SCHEMA hostile TO support_app;
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SET LOCAL search_path = hostile, support, pg_catalog;
SELECT count(*) AS workspaces, sum(escalated) AS escalated FROM support.queue_figures();
ROLLBACK;
