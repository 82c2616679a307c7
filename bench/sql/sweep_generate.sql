-- Membership-sweep data (bench/sweep.py): many small workspaces and probe
-- users who belong to 1 ... 10,000 of them. Run by bench/run.sh (BENCH_SWEEP=1)
-- with psql as the superuser in a fresh database:
--   psql -v workspaces=10000 -v conversations=300000 -v seed=0.42 -f bench/sql/sweep_generate.sql
-- Deterministic (setseed, no parallel query, ids from row numbers). Loaded in
-- the extension's restore mode (row_security = off: triggers take rows as
-- given, no events) with foreign-key triggers off (consistent by construction).
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
SET row_security = off;
SET session_replication_role = replica;
SET max_parallel_workers_per_gather = 0;
SET work_mem = '512MB';
SET maintenance_work_mem = '1GB';
SET synchronous_commit = off;
SELECT setseed(:seed) \gset

CREATE EXTENSION IF NOT EXISTS conversations_ext;
CREATE SCHEMA bench;
CREATE FUNCTION bench.uid(kind int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex(kind), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$;

-- Probes: user 1,000,000 + k is an agent of workspaces 1 .. memberships.
-- Every probe's single-workspace queries target workspace 1, so rows differ
-- only in how many workspaces the caller belongs to.
CREATE TABLE bench.sweep_probe AS
SELECT k, m AS memberships, bench.uid(1, 1000000 + k) AS user_id
  FROM unnest(ARRAY[1, 10, 100, 1000, 5000, 10000]) WITH ORDINALITY AS t(m, k)
 WHERE m <= :workspaces;

-- Each workspace r has its owner, user r.
INSERT INTO support.users (id, kind, display_name)
SELECT bench.uid(1, r), 'human', 'owner ' || r FROM generate_series(1, :workspaces) r
UNION ALL
SELECT user_id, 'human', 'probe of ' || memberships FROM bench.sweep_probe;
INSERT INTO support.workspaces (id, name)
SELECT bench.uid(2, r), 'workspace ' || r FROM generate_series(1, :workspaces) r;
INSERT INTO support.workspace_members (workspace_id, user_id, role)
SELECT bench.uid(2, r), bench.uid(1, r), 'owner' FROM generate_series(1, :workspaces) r
UNION ALL
SELECT bench.uid(2, r), p.user_id, 'agent'
  FROM bench.sweep_probe p, generate_series(1, p.memberships) r;

-- Conversations: spread evenly over the workspaces, arriving over a year;
-- 10% escalated, 10% active, 10% claimed by the workspace's owner, the rest resolved.
INSERT INTO support.conversations (id, workspace_id, channel, status, subject, claimed_by, claimed_at,
                                   escalated_at, resolved_at, created_at, updated_at, number)
SELECT bench.uid(3, i), bench.uid(2, w), 'web', s,
       'conversation ' || i,
       CASE WHEN s = 'claimed' THEN bench.uid(1, w) END,
       CASE WHEN s = 'claimed' THEN t END,
       CASE WHEN s IN ('escalated', 'claimed') THEN t END,
       CASE WHEN s = 'resolved' THEN t END,
       t, t,
       -- Numbered per workspace in arrival order (restore mode takes the
       -- number given); workspace 1's #1 is the long transcript, below.
       row_number() OVER (PARTITION BY w ORDER BY t, i) + CASE WHEN w = 1 THEN 1 ELSE 0 END
  FROM (SELECT i, 1 + (i % :workspaces) AS w,
               timestamptz '2025-01-01 00:00:00+00' + (i * interval '365 days') / :conversations AS t,
               CASE (i % 10) WHEN 0 THEN 'escalated' WHEN 1 THEN 'active' WHEN 2 THEN 'claimed' ELSE 'resolved' END AS s
          FROM generate_series(1, :conversations) i) g;

-- Messages: five per conversation (customer, agent, ...), and a 600-message
-- transcript in workspace 1 (conversation 0, Q3).
INSERT INTO support.conversations (id, workspace_id, status, subject, created_at, updated_at, number)
VALUES (bench.uid(3, 0), bench.uid(2, 1), 'active', 'the long transcript',
        timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00', 1);
INSERT INTO support.conversation_counters (workspace_id, last_number)
SELECT workspace_id, max(number) FROM support.conversations GROUP BY workspace_id;
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at)
SELECT gen_random_uuid(), bench.uid(2, w), bench.uid(3, i),
       CASE WHEN j % 2 = 0 THEN 'agent' ELSE 'customer' END,
       CASE WHEN j % 2 = 0 THEN bench.uid(1, w) END,
       'message ' || j, t + j * interval '1 minute'
  FROM (SELECT i, 1 + (i % :workspaces) AS w,
               timestamptz '2025-01-01 00:00:00+00' + (i * interval '365 days') / :conversations AS t
          FROM generate_series(1, :conversations) i) g,
       generate_series(1, 5) j;
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at)
SELECT gen_random_uuid(), bench.uid(2, 1), bench.uid(3, 0),
       CASE WHEN j % 2 = 0 THEN 'customer' ELSE 'agent' END,
       CASE WHEN j % 2 = 0 THEN NULL ELSE bench.uid(1, 1) END,
       'long ' || j, timestamptz '2025-01-01 00:00:00+00' + j * interval '1 minute'
  FROM generate_series(1, 600) j;

-- The plain index-friendly statistics the measurements rely on.
ANALYZE;
