-- support.authenticate() refusals (28000, always the message 'invalid token'; valid
-- signed tokens are tested in Rust), support.jwt_keys key checks (22023 when stored),
-- and support.grant_usage() exactness (README "SQL API", "Errors").
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
BEGIN;
-- Keys: HS256 needs 32 bytes, HS384 48, HS512 64; public keys must parse; alg is a closed set.
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-short', 'HS256', repeat('k', 31));
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-384', 'HS384', repeat('k', 47));
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-512', 'HS512', repeat('k', 63));
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-ed', 'EdDSA', 'not a pem');
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-es', 'ES256', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----');
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-rs', 'RS256', repeat('k', 40));
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-ok', 'HS256', repeat('k', 32)) RETURNING kid, alg, active;
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-ok-512', 'HS512', repeat('k', 64)) RETURNING kid, alg;
-- An UPDATE is checked too.
UPDATE support.jwt_keys SET key = 'short' WHERE kid = 'k-ok';
\echo :SQLSTATE
-- Tokens: every refusal is 28000 'invalid token', and leaves no identity.
CREATE ROLE cx_regress_keys_probe NOLOGIN;
SELECT support.grant_usage('cx_regress_keys_probe');
SET LOCAL ROLE cx_regress_keys_probe;
SELECT support.authenticate('');
\echo :SQLSTATE
SELECT support.authenticate('not a token');
\echo :SQLSTATE
SELECT support.authenticate('eyJhbGciOiJub25lIn0.eyJzdWIiOiJiMTAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEifQ.');
\echo :SQLSTATE
-- HS256 header, kid k-ok, sub and a far exp, signature of another key.
SELECT support.authenticate('eyJhbGciOiJIUzI1NiIsImtpZCI6Imstb2sifQ.eyJzdWIiOiJiMTAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJlLW9mLWFub3RoZXIta2V5LXh4eHh4eHh4eHg');
\echo :SQLSTATE
-- An unknown kid.
SELECT support.authenticate('eyJhbGciOiJIUzI1NiIsImtpZCI6Im5vLXN1Y2gta2lkIn0.eyJzdWIiOiJiMTAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl');
\echo :SQLSTATE
SELECT support.current_user_id() IS NULL AS nobody;
RESET ROLE;
-- The keys table is the owner's only: an application role can neither read nor write it.
SET LOCAL ROLE support_app;
SELECT count(*) FROM support.jwt_keys;
\echo :SQLSTATE
INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k-app', 'HS256', repeat('k', 40));
\echo :SQLSTATE
RESET ROLE;
-- grant_usage is exact: a hand-made extra GRANT is revoked by the next call.
GRANT INSERT, UPDATE, TRUNCATE ON support.conversation_events TO cx_regress_keys_probe;
GRANT UPDATE (status) ON support.conversations TO cx_regress_keys_probe;
GRANT EXECUTE ON FUNCTION support.lifecycle_pending(uuid) TO cx_regress_keys_probe;
SELECT has_table_privilege('cx_regress_keys_probe', 'support.conversation_events', 'INSERT') AS events_insert,
       has_column_privilege('cx_regress_keys_probe', 'support.conversations', 'status', 'UPDATE') AS status_update,
       has_function_privilege('cx_regress_keys_probe', 'support.lifecycle_pending(uuid)', 'EXECUTE') AS pending_execute;
SELECT support.grant_usage('cx_regress_keys_probe');
SELECT has_table_privilege('cx_regress_keys_probe', 'support.conversation_events', 'INSERT') AS events_insert,
       has_table_privilege('cx_regress_keys_probe', 'support.conversation_events', 'TRUNCATE') AS events_truncate,
       has_column_privilege('cx_regress_keys_probe', 'support.conversations', 'status', 'UPDATE') AS status_update,
       has_function_privilege('cx_regress_keys_probe', 'support.lifecycle_pending(uuid)', 'EXECUTE') AS pending_execute,
       has_table_privilege('cx_regress_keys_probe', 'support.conversation_events', 'SELECT') AS events_select;
-- Calling it twice is harmless; NULL is refused (22004).
SELECT support.grant_usage('cx_regress_keys_probe');
SELECT support.grant_usage(NULL);
\echo :SQLSTATE
ROLLBACK;
