-- Benchmark data generator. Run by bench/run.sh with psql, as the superuser
-- that owns the extension's tables, in a fresh database:
--   psql -v workspaces=2000 -v users=20000 -v conversations=1000000
--        -v messages=5000000 -v q6_queues=6 -v q6_queue_rows=10000
--        -v long_messages=600 -v seed=0.42 -f bench/sql/generate.sql
--
-- Everything is deterministic: setseed() fixes random(), parallel query is off
-- (so random() is called in one order), ids are derived from row numbers.
--
-- Loading fast: `row_security = off` is the extension's restore mode (triggers
-- take rows as given, write no events) and `session_replication_role = replica`
-- skips the foreign-key triggers (the data is consistent by construction; the
-- checks at the end of this file prove it).
\set ON_ERROR_STOP 1
\timing off
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

-- Helpers and the probe list live in schema bench: owner-only, no grants.
CREATE SCHEMA bench;

-- Readable, decodable ids: kind 1 = user n, kind 2 = workspace of rank n.
CREATE FUNCTION bench.uid(kind int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex(kind), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$;

-- Workspace sizes follow Zipf (s = 0.8): rank 1 is the biggest tenant.
-- Inverse of the continuous CDF F(r) = (r^0.2 - 1) / ((w+1)^0.2 - 1).
CREATE FUNCTION bench.zipf_rank(u float8, w int) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT least(w, greatest(1, floor(power(1 + u * (power(w + 1, 0.2) - 1), 5))::int)) $$;

CREATE TABLE bench.params AS
SELECT :workspaces::int AS workspaces, :users::int AS users, :conversations::bigint AS conversations,
       :messages::bigint AS messages, :q6_queues::int AS q6_queues, :q6_queue_rows::int AS q6_queue_rows,
       :long_messages::int AS long_messages, :seed::float8 AS seed,
       timestamptz '2025-01-01 00:00:00+00' AS t0, interval '365 days' AS span;

-- Special users (taken from the top of the user range, explicit memberships):
--   probes  : users U-3 .. U   (4 agents, each a member of 20 workspaces from big to small)
--   q6 agents: users U-11 .. U-4 (8 agents of the Q6 queue workspaces)
-- Q6 queue workspaces: the q6_queues lowest ranks (they get no Zipf traffic).
CREATE TABLE bench.probe (
    n            int PRIMARY KEY,        -- 1..4
    user_n       int NOT NULL,
    user_id      uuid NOT NULL,
    workspaces   uuid[],                 -- all its workspaces (what the baseline passes as $2)
    queue_ws     uuid,                   -- Q1: its biggest workspace
    transcript_c uuid,                   -- Q3: a conversation of long_messages messages
    transcript_ws uuid,
    insert_c     uuid,                   -- Q5: an active conversation it posts into
    insert_ws    uuid
);
INSERT INTO bench.probe (n, user_n, user_id)
SELECT p, :users - 4 + p, bench.uid(1, :users - 4 + p) FROM generate_series(1, 4) p;

-- users ---------------------------------------------------------------------
INSERT INTO support.users (id, kind, display_name, created_at)
SELECT bench.uid(1, n), 'human', 'user ' || n, timestamptz '2024-06-01 00:00:00+00' + n * interval '1 minute'
  FROM generate_series(1, :users) n;

-- workspaces ----------------------------------------------------------------
INSERT INTO support.workspaces (id, name, created_at)
SELECT bench.uid(2, r), 'workspace ' || r, timestamptz '2024-06-01 00:00:00+00' + r * interval '1 hour'
  FROM generate_series(1, :workspaces) r;

-- memberships ---------------------------------------------------------------
-- Each workspace r has an owner: user r (users >= workspaces).
INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
SELECT bench.uid(2, r), bench.uid(1, r), 'owner', timestamptz '2024-06-01 00:00:00+00'
  FROM generate_series(1, :workspaces - :q6_queues) r;
-- Regular users: 1-20 memberships (most have few: k = 1 + floor(19 u^3)),
-- drawn by workspace size; owners draw k - 1 more.
INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
SELECT DISTINCT ON (ws, u) ws, u,
       CASE WHEN roll < 0.75 THEN 'agent' WHEN roll < 0.85 THEN 'admin' ELSE 'viewer' END,
       timestamptz '2024-06-01 00:00:00+00'
  FROM (SELECT bench.uid(2, bench.zipf_rank(random(), :workspaces - :q6_queues)) AS ws,
               bench.uid(1, u.n) AS u, random() AS roll
          FROM (SELECT n, 1 + floor(19 * power(random(), 3))::int - (n <= :workspaces - :q6_queues)::int AS k
                  FROM generate_series(1, :users - 12) n) u,
               generate_series(1, u.k) draw) d
 ORDER BY ws, u
ON CONFLICT DO NOTHING;
-- Probes: 20 workspaces each, ranks spread log-uniformly from big to small
-- (probe p starts at rank p, so each has a different biggest workspace).
INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
SELECT DISTINCT bench.uid(2, r), p.user_id, 'agent', timestamptz '2024-06-01 00:00:00+00'
  FROM bench.probe p,
       LATERAL (SELECT least(:workspaces - :q6_queues,
                             round(p.n * power((:workspaces - :q6_queues)::float8 / p.n, j / 19.0))::int + j) AS r
                  FROM generate_series(0, 19) j) s
ON CONFLICT DO NOTHING;
-- Q6 agents: members (agent) of every queue workspace.
INSERT INTO support.workspace_members (workspace_id, user_id, role, created_at)
SELECT bench.uid(2, r), bench.uid(1, a), 'agent', timestamptz '2024-06-01 00:00:00+00'
  FROM generate_series(:workspaces - :q6_queues + 1, :workspaces) r,
       generate_series(:users - 11, :users - 4) a;

UPDATE bench.probe p
   SET workspaces = (SELECT array_agg(m.workspace_id ORDER BY m.workspace_id)
                       FROM support.workspace_members m WHERE m.user_id = p.user_id),
       -- bench.uid(2, r) sorts like r, so the smallest id is the biggest workspace.
       queue_ws   = (SELECT (array_agg(m.workspace_id ORDER BY m.workspace_id))[1]
                       FROM support.workspace_members m WHERE m.user_id = p.user_id);

-- conversations -------------------------------------------------------------
-- bench.conv is the plan of every conversation (kept for the message step).
-- Regular conversations arrive uniformly over a year; the newest 15% are
-- still open (active 40% / escalated 27% / claimed 33%), older ones are
-- resolved (2% stale active). Messages per conversation: 1 + floor(9 u^2)
-- for most, log-uniform 200..2500 for 0.2% (the heavy tail): ~5 on average.
CREATE TABLE bench.conv AS
SELECT n, ws_rank, md5('c' || n)::uuid AS id, bench.uid(2, ws_rank) AS workspace_id, created_at, status,
       CASE WHEN long_roll < 0.002 THEN floor(exp(ln(200) + msg_roll * (ln(2500) - ln(200))))::int
            ELSE 1 + floor(9 * msg_roll * msg_roll)::int END AS nmsg,
       channel_roll
  FROM (SELECT n,
               bench.zipf_rank(random(), :workspaces - :q6_queues) AS ws_rank,
               t0 + (n::float8 / nreg) * span AS created_at,
               CASE WHEN n::float8 / nreg < 0.85 THEN (CASE WHEN status_roll < 0.98 THEN 'resolved' ELSE 'active' END)
                    WHEN status_roll < 0.40 THEN 'active' WHEN status_roll < 0.67 THEN 'escalated'
                    ELSE 'claimed' END AS status,
               long_roll, msg_roll, channel_roll
          FROM (SELECT n, t0, span, nreg, random() AS status_roll, random() AS long_roll,
                       random() AS msg_roll, random() AS channel_roll
          FROM (SELECT t0, span, conversations - q6_queues * q6_queue_rows AS nreg FROM bench.params) p,
               generate_series(1, (SELECT conversations - q6_queues * q6_queue_rows FROM bench.params)) n) r) g;
-- Q6 queues: q6_queue_rows escalated conversations in each queue workspace.
INSERT INTO bench.conv (n, ws_rank, id, workspace_id, created_at, status, nmsg, channel_roll)
SELECT nreg + (q - 1) * q6_queue_rows + i, :workspaces - :q6_queues + q,
       md5('c' || (nreg + (q - 1) * q6_queue_rows + i))::uuid, bench.uid(2, :workspaces - :q6_queues + q),
       t0 + span - interval '1 day' + i * interval '1 second', 'escalated', 1, 0.5
  FROM (SELECT *, conversations - q6_queues * q6_queue_rows AS nreg FROM bench.params) p,
       generate_series(1, :q6_queues) q, generate_series(1, :q6_queue_rows) i;

-- Probe conversations: Q3 = a conversation of exactly long_messages messages in
-- the probe's biggest workspace; Q5 = an open conversation there.
UPDATE bench.probe p
   SET transcript_c = c.id, transcript_ws = c.workspace_id
  FROM (SELECT DISTINCT ON (pr.n) pr.n, c.id, c.workspace_id
          FROM bench.probe pr JOIN bench.conv c ON c.workspace_id = pr.queue_ws
         WHERE c.status = 'resolved'
         ORDER BY pr.n, c.n DESC) c
 WHERE c.n = p.n;
UPDATE bench.conv c SET nmsg = (SELECT long_messages FROM bench.params)
  FROM bench.probe p WHERE c.id = p.transcript_c;
UPDATE bench.probe p
   SET insert_c = c.id, insert_ws = c.workspace_id
  FROM (SELECT DISTINCT ON (pr.n) pr.n, c.id, c.workspace_id
          FROM bench.probe pr JOIN bench.conv c ON c.workspace_id = pr.queue_ws
         WHERE c.status = 'active'
         ORDER BY pr.n, c.n DESC) c
 WHERE c.n = p.n;

INSERT INTO support.conversations
       (id, workspace_id, bot_user_id, channel, status, subject, claimed_by, claimed_at,
        escalated_at, resolved_at, created_at, updated_at, first_agent_reply_at, reopen_count, number)
SELECT c.id, c.workspace_id, NULL,
       (ARRAY['web', 'web', 'web', 'email', 'email', 'sms', 'whatsapp', 'whatsapp', 'voice', 'api'])[1 + floor(c.channel_roll * 10)::int],
       c.status,
       'Conversation ' || c.n || ': ' || (ARRAY['where is my order', 'refund request', 'cannot log in',
            'invoice copy', 'change of address', 'broken on arrival', 'subscription cancel', 'billing question'])[1 + c.n % 8],
       CASE WHEN c.status = 'claimed' THEN bench.uid(1, c.ws_rank) END,
       CASE WHEN c.status = 'claimed' THEN c.created_at + interval '20 minutes' END,
       CASE WHEN c.status IN ('escalated', 'claimed') OR (c.status = 'resolved' AND c.n % 2 = 0)
            THEN c.created_at + interval '10 minutes' END,
       CASE WHEN c.status = 'resolved' THEN c.created_at + interval '2 hours' END,
       c.created_at,
       c.created_at + CASE WHEN c.status = 'resolved' THEN interval '2 hours' ELSE interval '20 minutes' END,
       CASE WHEN c.status = 'claimed' OR (c.status = 'resolved' AND c.n % 2 = 0)
            THEN c.created_at + interval '25 minutes' END,
       0,
       -- Numbered per workspace in arrival order, as the database numbers
       -- them (restore mode takes the number given); the counters follow.
       row_number() OVER (PARTITION BY c.workspace_id ORDER BY c.created_at, c.n)
  FROM bench.conv c
 ORDER BY c.created_at, c.n;
INSERT INTO support.conversation_counters (workspace_id, last_number)
SELECT workspace_id, max(number) FROM support.conversations GROUP BY workspace_id;

-- messages ------------------------------------------------------------------
-- Message k of a conversation is written 30 s after message k-1; rows are
-- inserted in time order, so a long transcript is spread over the heap as in
-- a real system. Agents (the workspace owner) answer in claimed/resolved
-- conversations, bots in the others.
INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content, created_at)
SELECT md5('m' || c.n || '.' || k)::uuid, c.workspace_id, c.id,
       CASE WHEN k % 2 = 1 THEN 'customer'
            WHEN c.status IN ('claimed', 'resolved') AND k > 2 THEN 'agent' ELSE 'bot' END,
       CASE WHEN k % 2 = 0 AND c.status IN ('claimed', 'resolved') AND k > 2 THEN bench.uid(1, c.ws_rank) END,
       substr('Hello, I ordered a blender last week and it still has not arrived. Could you check the '
              'tracking number for me? Thanks, and sorry for the trouble: it is a gift for my mother.',
              1 + (k * 7) % 40, (60 + (c.n * 13 + k) % 100)::int),
       c.created_at + k * interval '30 seconds'
  FROM bench.conv c, generate_series(1, c.nmsg) k
 ORDER BY c.created_at + k * interval '30 seconds', c.n, k;

-- consistency (the foreign keys were not checked during the load) -----------
DO $$
DECLARE bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM support.conversation_messages m
     WHERE NOT EXISTS (SELECT 1 FROM support.conversations c WHERE c.workspace_id = m.workspace_id AND c.id = m.conversation_id);
    IF bad > 0 THEN RAISE EXCEPTION 'generator: % messages without their conversation', bad; END IF;
    SELECT count(*) INTO bad FROM support.conversations c
     WHERE c.claimed_by IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM support.workspace_members m WHERE m.workspace_id = c.workspace_id AND m.user_id = c.claimed_by);
    IF bad > 0 THEN RAISE EXCEPTION 'generator: % conversations claimed by a non-member', bad; END IF;
    SELECT count(*) INTO bad FROM support.conversation_messages x
     WHERE x.author_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM support.workspace_members m WHERE m.workspace_id = x.workspace_id AND m.user_id = x.author_id);
    IF bad > 0 THEN RAISE EXCEPTION 'generator: % messages by a non-member', bad; END IF;
    SELECT count(*) INTO bad FROM support.workspace_members m
     WHERE NOT EXISTS (SELECT 1 FROM support.users u WHERE u.id = m.user_id)
        OR NOT EXISTS (SELECT 1 FROM support.workspaces w WHERE w.id = m.workspace_id);
    IF bad > 0 THEN RAISE EXCEPTION 'generator: % memberships of unknown users or workspaces', bad; END IF;
END
$$;

-- The plan table is only needed for the load.
ALTER TABLE bench.conv SET (autovacuum_enabled = false);
TRUNCATE bench.conv;
