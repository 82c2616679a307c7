-- Before/after plans of issue 10 (bench/results/experiments.md, "Issue 10"),
-- on the membership sweep's data (bench_sweep of a BENCH_KEEP=1 run):
--   psql -d bench_sweep -v m=10000 -v after=false -v q2l=false -f bench/sql/plans_before_after.sql
-- m: the probe's memberships (1, 10, 100, 1000, 5000, 10000).
-- after=false: the 0.3.0 policy expression written by hand, run by the table
--   owner (no RLS), the identity in request.jwt.claims as PostgREST sets it.
-- after=true: the installed policies, as the application role bench_app.
-- q2l=false skips the warm-up of Q2L (0.3.0 at 10,000 memberships: 8 s a run).
-- Each statement prepared and run 6 times (the plan cache settles, as in
-- bench/sweep.py), then EXPLAIN (ANALYZE, BUFFERS) EXECUTE.
\set ON_ERROR_STOP 1
SET max_parallel_workers_per_gather = 0;
SELECT user_id AS u FROM bench.sweep_probe WHERE memberships = :m \gset
SELECT id AS one FROM support.conversations WHERE workspace_id = '00000002-0000-4000-8000-000000000001' AND status = 'escalated' ORDER BY id LIMIT 1 \gset
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u', 'role', 'authenticated')::text, true) \gset
\if :after
SET LOCAL ROLE bench_app;
PREPARE q7(uuid) AS SELECT id, status, subject FROM support.conversations WHERE id = $1;
PREPARE q1(uuid) AS SELECT id, escalated_at FROM support.conversations WHERE workspace_id = $1 AND status = 'escalated' ORDER BY escalated_at, id LIMIT 50;
PREPARE q3(uuid) AS SELECT id, role, content, created_at FROM support.conversation_messages WHERE conversation_id = $1 ORDER BY created_at DESC LIMIT 100;
PREPARE q4 AS SELECT status, count(*) FROM support.conversations WHERE status IN ('active', 'escalated', 'claimed') GROUP BY status ORDER BY status;
PREPARE q2l AS SELECT c.id, c.created_at FROM unnest((SELECT support.member_workspaces())) AS w(id) CROSS JOIN LATERAL (SELECT x.id, x.created_at FROM support.conversations AS x WHERE x.workspace_id = w.id ORDER BY x.created_at DESC, x.id LIMIT 50) AS c ORDER BY c.created_at DESC, c.id LIMIT 50;
\else
PREPARE q7(uuid) AS SELECT id, status, subject FROM support.conversations WHERE id = $1 AND workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]);
PREPARE q1(uuid) AS SELECT id, escalated_at FROM support.conversations WHERE workspace_id = $1 AND status = 'escalated' AND workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]) ORDER BY escalated_at, id LIMIT 50;
PREPARE q3(uuid) AS SELECT id, role, content, created_at FROM support.conversation_messages WHERE conversation_id = $1 AND workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]) ORDER BY created_at DESC LIMIT 100;
PREPARE q4 AS SELECT status, count(*) FROM support.conversations WHERE status IN ('active', 'escalated', 'claimed') AND workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]) GROUP BY status ORDER BY status;
PREPARE q2l AS SELECT c.id, c.created_at FROM unnest((SELECT support.member_workspaces())) AS w(id) CROSS JOIN LATERAL (SELECT x.id, x.created_at FROM support.conversations AS x WHERE x.workspace_id = w.id AND x.workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]) ORDER BY x.created_at DESC, x.id LIMIT 50) AS c ORDER BY c.created_at DESC, c.id LIMIT 50;
\endif
\o /dev/null
EXECUTE q7(:'one'); EXECUTE q7(:'one'); EXECUTE q7(:'one'); EXECUTE q7(:'one'); EXECUTE q7(:'one'); EXECUTE q7(:'one');
EXECUTE q1('00000002-0000-4000-8000-000000000001'); EXECUTE q1('00000002-0000-4000-8000-000000000001'); EXECUTE q1('00000002-0000-4000-8000-000000000001'); EXECUTE q1('00000002-0000-4000-8000-000000000001'); EXECUTE q1('00000002-0000-4000-8000-000000000001'); EXECUTE q1('00000002-0000-4000-8000-000000000001');
EXECUTE q3('00000003-0000-4000-8000-000000000000'); EXECUTE q3('00000003-0000-4000-8000-000000000000'); EXECUTE q3('00000003-0000-4000-8000-000000000000'); EXECUTE q3('00000003-0000-4000-8000-000000000000'); EXECUTE q3('00000003-0000-4000-8000-000000000000'); EXECUTE q3('00000003-0000-4000-8000-000000000000');
EXECUTE q4; EXECUTE q4; EXECUTE q4; EXECUTE q4; EXECUTE q4; EXECUTE q4;
\if :q2l
EXECUTE q2l; EXECUTE q2l; EXECUTE q2l; EXECUTE q2l; EXECUTE q2l; EXECUTE q2l;
\endif
\o
\echo '### Q7 one conversation by id'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE q7(:'one');
\echo '### Q1 queue of workspace 1, oldest 50'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE q1('00000002-0000-4000-8000-000000000001');
\echo '### Q3 last 100 messages of the 600-message transcript'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE q3('00000003-0000-4000-8000-000000000000');
\echo '### Q4 open conversations per status'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE q4;
\echo '### Q2L per-workspace LATERAL inbox'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE q2l;
SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name;
COMMIT;
