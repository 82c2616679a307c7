-- The catalog contract (README "Row-level security", "SQL API", "Threat model"):
-- RLS on every support table; the policies; every function pins search_path and none is
-- executable by PUBLIC; exactly the grants grant_usage gives (on a fresh role); the
-- triggers; a COMMENT ON every table and function.
BEGIN;
-- RLS enabled on every table of schema support.
SELECT c.relname, c.relrowsecurity AS rls FROM pg_class c
 WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r' ORDER BY 1;
-- The policies: one per table and command, named <table>_<command>_member.
SELECT tablename, policyname, cmd, permissive, roles FROM pg_policies WHERE schemaname = 'support' ORDER BY 1, 2;
-- Every policy is support.workspace_member(workspace_id) (workspaces: of id; users:
-- support.shares_workspace(id)); none has a sub-select, none reads role.
SELECT policyname, qual, with_check FROM pg_policies WHERE schemaname = 'support' ORDER BY 1;
SELECT count(*) AS policies_reading_role FROM pg_policies
 WHERE schemaname = 'support' AND (coalesce(qual, '') ~ '\mrole\M' OR coalesce(with_check, '') ~ '\mrole\M');
-- Every function pins search_path = pg_catalog, pg_temp; none is executable by PUBLIC.
SELECT p.oid::regprocedure AS function, p.proconfig, p.prosecdef AS security_definer,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.pronamespace = 'support'::regnamespace ORDER BY p.oid::regprocedure::text;
-- What grant_usage gives a fresh role: tables, columns, functions, schema.
CREATE ROLE cx_regress_catalog_probe NOLOGIN;
SELECT support.grant_usage('cx_regress_catalog_probe');
SELECT has_schema_privilege('cx_regress_catalog_probe', 'support', 'USAGE') AS schema_usage,
       has_schema_privilege('cx_regress_catalog_probe', 'support', 'CREATE') AS schema_create;
SELECT c.relname,
       array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
                              WHERE has_table_privilege('cx_regress_catalog_probe', c.oid, p)), ',') AS table_privileges,
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND has_column_privilege('cx_regress_catalog_probe', c.oid, a.attnum, 'INSERT')) AS insert_columns,
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND has_column_privilege('cx_regress_catalog_probe', c.oid, a.attnum, 'UPDATE')) AS update_columns
  FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r' ORDER BY 1;
SELECT p.oid::regprocedure AS executable_function FROM pg_proc p
 WHERE p.pronamespace = 'support'::regnamespace
   AND has_function_privilege('cx_regress_catalog_probe', p.oid, 'EXECUTE') ORDER BY p.oid::regprocedure::text;
-- The triggers.
SELECT t.tgrelid::regclass AS "table", t.tgname, t.tgfoid::regproc AS function,
       regexp_replace(pg_get_triggerdef(t.oid), '^CREATE TRIGGER \S+ (.*) ON .*$', '\1') AS fires
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'support'::regnamespace AND NOT t.tgisinternal ORDER BY t.tgrelid::regclass::text, t.tgname;
SELECT evtname, evtevent, evtfoid::regproc, evttags, evtenabled FROM pg_event_trigger
 WHERE evtfoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'support'::regnamespace);
-- A COMMENT ON every table and every function (each listed if missing; then the counts).
SELECT c.relname AS table_without_comment FROM pg_class c
 WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure AS function_without_comment FROM pg_proc p
 WHERE p.pronamespace = 'support'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY p.oid::regprocedure::text;
SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r'
           AND obj_description(c.oid, 'pg_class') IS NOT NULL) AS tables_with_comment,
       (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'support'::regnamespace
           AND obj_description(p.oid, 'pg_proc') IS NOT NULL) AS functions_with_comment;
ROLLBACK;
