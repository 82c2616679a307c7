-- support.current_user_id(), member_workspaces(), workspace_member(), workspace_role():
-- identity rules within a transaction (README "Identity contract"): the first source
-- set in the current transaction decides (request.jwt.claims, request.jwt.claim.sub,
-- support.user_id); empty is not set; claims without sub is nobody; a non-UUID subject
-- or claims that are not a JSON object is 22P02; a session-level value is ignored (28000
-- from functions that need a user, naming the setting).
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
SET LOCAL ROLE support_app;
-- Nobody: NULL, no workspaces, no rows; functions that need a user: 28000.
SELECT support.current_user_id() IS NULL AS nobody, support.member_workspaces() AS workspaces,
       support.workspace_member('a1000000-0000-4000-8000-000000000001') AS member,
       support.workspace_role('a1000000-0000-4000-8000-000000000001') AS role,
       (SELECT count(*) FROM support.conversations) AS conversations_seen;
SELECT id FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
-- support.user_id (SET LOCAL).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT support.current_user_id(), support.member_workspaces(),
       support.workspace_member('a1000000-0000-4000-8000-000000000001') AS member_w1,
       support.workspace_member('a2000000-0000-4000-8000-000000000002') AS member_w2,
       support.workspace_role('a1000000-0000-4000-8000-000000000001') AS role_w1,
       support.workspace_role('a2000000-0000-4000-8000-000000000002') AS role_w2,
       support.workspace_role('a9999999-0000-4000-8000-000000000009') AS role_missing;
SELECT subject FROM support.conversations ORDER BY subject;
-- workspace_role(): the effective subject of each member (a bot with role viewer is a viewer).
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000001', true) IS NOT NULL AS set, support.workspace_role('a1000000-0000-4000-8000-000000000001');
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000002', true) IS NOT NULL AS set, support.workspace_role('a1000000-0000-4000-8000-000000000001');
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000005', true) IS NOT NULL AS set, support.workspace_role('a1000000-0000-4000-8000-000000000001');
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000006', true) IS NOT NULL AS set, support.workspace_role('a1000000-0000-4000-8000-000000000001');
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000009', true) IS NOT NULL AS set, support.workspace_role('a1000000-0000-4000-8000-000000000001');
-- N belongs to no workspace: exists, but sees nothing.
SELECT set_config('support.user_id', 'b1000000-0000-4000-8000-000000000008', true) IS NOT NULL AS set,
       support.member_workspaces(), support.workspace_role('a1000000-0000-4000-8000-000000000001'),
       (SELECT count(*) FROM support.conversations) AS conversations_seen;
-- Empty (or blank) is not set.
SET LOCAL support.user_id = '';
SELECT support.current_user_id() IS NULL AS nobody;
SET LOCAL support.user_id = '   ';
SELECT support.current_user_id() IS NULL AS nobody;
-- Precedence: request.jwt.claims, then request.jwt.claim.sub, then support.user_id.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SET LOCAL request.jwt.claim.sub = 'b1000000-0000-4000-8000-000000000002';
SELECT support.current_user_id() AS claim_sub_wins;
SET LOCAL request.jwt.claims = '{"sub":"b1000000-0000-4000-8000-000000000001","role":"authenticated"}';
SELECT support.current_user_id() AS claims_win;
-- Claims without sub: an anonymous request is nobody, never a fall-through.
SET LOCAL request.jwt.claims = '{"role":"anon"}';
SELECT support.current_user_id() IS NULL AS nobody, support.member_workspaces() AS workspaces;
-- Empty claims are not set: the next source decides.
SET LOCAL request.jwt.claims = '';
SELECT support.current_user_id() AS claim_sub_decides;
SET LOCAL request.jwt.claim.sub = '';
SELECT support.current_user_id() AS user_id_decides;
-- Not an identity: 22P02.
SET LOCAL support.user_id = 'not-a-uuid';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL support.user_id = '';
SET LOCAL request.jwt.claim.sub = '42';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL request.jwt.claim.sub = '';
SET LOCAL request.jwt.claims = 'not json';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL request.jwt.claims = '["b1000000-0000-4000-8000-000000000001"]';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL request.jwt.claims = '{"sub":7}';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL request.jwt.claims = '{"sub":"b1000000"}';
SELECT support.current_user_id();
\echo :SQLSTATE
SET LOCAL request.jwt.claims = '';
-- A setting rolled back with its savepoint is gone.
SAVEPOINT s;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT support.current_user_id() AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT support.current_user_id() IS NULL AS nobody_after_rollback_to;
ROLLBACK;
-- A session-level value (SET without LOCAL, from an earlier transaction) identifies nobody.
SET support.user_id = 'b1000000-0000-4000-8000-000000000003';
BEGIN;
SET LOCAL ROLE support_app;
SELECT support.current_user_id() IS NULL AS nobody, support.member_workspaces() AS workspaces;
SELECT id FROM support.claim_next_conversation('a1000000-0000-4000-8000-000000000001');
\echo :SQLSTATE
-- Positive control: the same value set in this transaction counts.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SELECT support.current_user_id();
ROLLBACK;
RESET support.user_id;
SET request.jwt.claims = '{"sub":"b1000000-0000-4000-8000-000000000003"}';
BEGIN;
SET LOCAL ROLE support_app;
SELECT support.release_conversation('c1000000-0000-4000-8000-000000000002');
\echo :SQLSTATE
ROLLBACK;
RESET request.jwt.claims;
