//! The privileges snapshot: a role's privileges on everything in schema support, one line per privilege, by object name.
//!
//! To compare what a role holds in two databases (an upgraded install and a
//! fresh one) privilege by privilege.
use tokio_postgres::Client;

/// Every ACL in the support schema: the schema, each relation, each column,
/// each function and each type, named (never by OID).
const ACLS: &str = "\
    SELECT 'schema support' AS object, n.nspacl AS acl FROM pg_namespace n WHERE n.nspname = 'support' \
    UNION ALL \
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                          WHEN 'S' THEN 'sequence' WHEN 'p' THEN 'table' ELSE 'relation' END \
           || ' ' || c.oid::regclass::text, c.relacl \
      FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace \
    UNION ALL \
    SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname), a.attacl \
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
     WHERE c.relnamespace = 'support'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped \
    UNION ALL \
    SELECT 'function ' || p.oid::regprocedure::text, p.proacl \
      FROM pg_proc p WHERE p.pronamespace = 'support'::regnamespace \
    UNION ALL \
    SELECT 'type ' || t.oid::regtype::text, t.typacl \
      FROM pg_type t WHERE t.typnamespace = 'support'::regnamespace";

/// Sorted lines "object privilege [WITH GRANT OPTION] (grantor g)" of the
/// privileges granted to `role` (explicitly: PUBLIC's are not included).
pub async fn of_role(c: &Client, role: &str) -> Vec<String> {
    let sql = format!(
        "SELECT o.object || ' ' || x.privilege_type \
                || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END \
                || ' (grantor ' || x.grantor::regrole::text || ')' \
           FROM ({ACLS}) AS o, LATERAL aclexplode(o.acl) AS x \
          WHERE x.grantee = $1::text::regrole"
    );
    let mut lines: Vec<String> = c
        .query(&sql, &[&role])
        .await
        .unwrap_or_else(|e| panic!("privileges of {role}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    lines.sort();
    lines
}

/// Functions of the support schema `role` may EXECUTE (explicit grant), as
/// (signature, a call with NULL for every argument). Each NULL is a
/// sub-select: a constant NULL would let the planner fold a STRICT call to
/// NULL before the executor checks the EXECUTE privilege.
pub async fn executable_functions(c: &Client, role: &str) -> Vec<(String, String)> {
    c.query(
        "SELECT p.oid::regprocedure::text, \
                'SELECT support.' || quote_ident(p.proname) || '(' || coalesce(( \
                    SELECT string_agg('(SELECT NULL::' || format_type(t, NULL) || ')', ', ' ORDER BY i) \
                      FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '') || ')' \
           FROM pg_proc p, LATERAL aclexplode(p.proacl) AS x \
          WHERE p.pronamespace = 'support'::regnamespace AND x.grantee = $1::text::regrole \
            AND x.privilege_type = 'EXECUTE' \
          ORDER BY 1",
        &[&role],
    )
    .await
    .unwrap_or_else(|e| panic!("functions of {role}: {e}"))
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Relations of the support schema `role` may read (SELECT on the relation
/// or on at least one column), with the columns it may read.
pub async fn readable_relations(c: &Client, role: &str) -> Vec<(String, Vec<String>)> {
    c.query(
        "SELECT c.oid::regclass::text, array_agg(quote_ident(a.attname) ORDER BY a.attnum) \
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
          WHERE c.relnamespace = 'support'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p') \
            AND has_column_privilege($1::text::regrole, c.oid, a.attnum, 'SELECT') \
          GROUP BY c.oid ORDER BY 1",
        &[&role],
    )
    .await
    .unwrap_or_else(|e| panic!("relations of {role}: {e}"))
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}
