-- The application role of the benchmark (what PostgREST's `authenticated` is)
-- and what it needs on the naive copy. Run in each benchmark database.
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app') AS create_role \gset
\if :create_role
CREATE ROLE bench_app LOGIN;
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app_naive') AS create_naive \gset
\if :create_naive
-- The naive side's role: bench_app's privileges, its own pg_stat_statements
-- entries (PostgreSQL 18 identifies a statement's tables by name, so the RLS
-- and naive statements of one role, on support.t and bench_naive.t, would
-- share one).
CREATE ROLE bench_app_naive LOGIN IN ROLE bench_app;
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app_replan') AS create_replan \gset
\if :create_replan
-- The same two identities with every execution re-planned (the second plan
-- cache mode measured); separate roles keep their pg_stat_statements apart.
CREATE ROLE bench_app_replan LOGIN;
CREATE ROLE bench_owner_replan LOGIN SUPERUSER;
ALTER ROLE bench_app_replan SET plan_cache_mode = force_custom_plan;
ALTER ROLE bench_owner_replan SET plan_cache_mode = force_custom_plan;
\endif
SELECT support.grant_usage('bench_app') \gset
SELECT support.grant_usage('bench_app_replan') \gset
GRANT USAGE ON SCHEMA bench_naive TO bench_app;
GRANT SELECT ON bench_naive.workspace_members TO bench_app;
GRANT SELECT, DELETE ON bench_naive.conversations, bench_naive.conversation_messages TO bench_app;
GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON bench_naive.conversation_messages TO bench_app;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
