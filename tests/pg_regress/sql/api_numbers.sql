-- Conversation numbers (docs/api.md, "Conversation numbers"): #1, #2, ... per
-- workspace, without gaps, assigned by the database on insert; an application
-- never chooses one. Each expected value below follows from that rule.
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/fixture/world.sql'
\i :fixture
-- The fixture's conversations, numbered per workspace in insert order: W1 #1 and #2, W2 #1.
SELECT w.name, c.subject, c.number
  FROM support.conversations c JOIN support.workspaces w ON w.id = c.workspace_id
 ORDER BY w.name, c.number;
SET LOCAL ROLE support_app;
-- G (agent of W1) opens W1's #3.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'C4') RETURNING subject, number;
-- A rolled-back insert does not use up its number: the next conversation is #4 again.
SAVEPOINT s;
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'rolled back') RETURNING subject, number;
ROLLBACK TO SAVEPOINT s;
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'C5') RETURNING subject, number;
-- An ORM's NULL is taken as "none given" (#5); any other number is refused, naming the column.
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'C6', NULL) RETURNING subject, number;
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'chosen', 99);
-- A viewer creates no conversation, so takes no number.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000005';
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'by a viewer');
-- G is not a member of W2: the policy refuses the row (and W2's counter stays unlocked:
-- tests/isolation/specs/numbers.spec).
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a2000000-0000-4000-8000-000000000002', 'into W2');
-- X (agent of W2) opens W2's #2.
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000007';
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a2000000-0000-4000-8000-000000000002', 'C7') RETURNING subject, number;
-- A number never changes: no UPDATE privilege on it.
UPDATE support.conversations SET number = 1 WHERE subject = 'C7';
-- The counters are the owner's: the application role reads nothing of them.
SELECT count(*) FROM support.conversation_counters;
RESET ROLE;
-- As the owner: W1's counter is at 5, W2's at 2.
SELECT w.name, k.last_number
  FROM support.conversation_counters k JOIN support.workspaces w ON w.id = k.workspace_id
 ORDER BY w.name;
-- A deleted conversation's number is not given again: the next one in W1 is #6.
DELETE FROM support.conversations WHERE subject = 'C6';
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'C8') RETURNING subject, number;
-- Outside restore mode, the owner cannot choose a number either.
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'chosen by the owner', 43);
-- Restore mode (row_security = off, as pg_restore runs): the row's number is
-- kept and the counter left as it is (the dump carries it).
SET LOCAL row_security = off;
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'restored', 42) RETURNING subject, number;
SELECT last_number FROM support.conversation_counters
 WHERE workspace_id = 'a1000000-0000-4000-8000-000000000001';
-- One conversation per number in a workspace (unique key (workspace_id, number)).
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'duplicate', 42);
SET LOCAL row_security = on;
-- An application role cannot reach restore mode: with row_security = off its insert is refused
-- before any number is taken, and a number it gives is refused as ever.
SET LOCAL ROLE support_app;
SET LOCAL support.user_id = 'b1000000-0000-4000-8000-000000000003';
SET LOCAL row_security = off;
INSERT INTO support.conversations (workspace_id, subject, number)
VALUES ('a1000000-0000-4000-8000-000000000001', 'restored by an app', 77);
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'app in restore mode');
SET LOCAL row_security = on;
-- A hostile search_path (a planted "+" that would add 100) changes nothing: the next number is #7.
RESET ROLE;
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.plus100(bigint, integer) RETURNS bigint LANGUAGE sql AS 'SELECT $1 + $2 + 100';
CREATE OPERATOR hostile.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = hostile.plus100);
GRANT USAGE ON SCHEMA hostile TO support_app;
SET LOCAL ROLE support_app;
SET LOCAL search_path = hostile, support, pg_catalog;
INSERT INTO support.conversations (workspace_id, subject)
VALUES ('a1000000-0000-4000-8000-000000000001', 'C9') RETURNING subject, number;
RESET search_path;
RESET ROLE;
-- A workspace that is deleted takes its counter with it.
DELETE FROM support.conversations WHERE workspace_id = 'a2000000-0000-4000-8000-000000000002';
DELETE FROM support.workspace_members WHERE workspace_id = 'a2000000-0000-4000-8000-000000000002';
DELETE FROM support.workspaces WHERE id = 'a2000000-0000-4000-8000-000000000002';
SELECT count(*) AS w2_counters FROM support.conversation_counters
 WHERE workspace_id = 'a2000000-0000-4000-8000-000000000002';
ROLLBACK;
