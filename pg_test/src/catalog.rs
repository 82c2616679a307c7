//! The catalog snapshot: everything conversations_ext owns in a database, described by name (sorted lines, no OIDs), to compare two databases.
//!
//! An upgraded install is compared with a fresh one, a restored database
//! with its source. ACLs are compared by what they grant: a NULL ACL is the
//! owner's default one (`acldefault`), which `pg_dump` and `pg_upgrade` leave
//! NULL where the source had it written out.
use tokio_postgres::Client;

/// One query per kind of object; each returns one text column.
const PARTS: &[(&str, &str)] = &[
    (
        "member",
        "SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d \
           JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass \
          WHERE e.extname = 'conversations_ext' AND d.deptype = 'e'",
    ),
    (
        "column",
        "SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
                || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
                || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '') \
                || coalesce(' comment ' || col_description(c.oid, a.attnum), '') \
                || coalesce(' acl ' || a.attacl::text, '') \
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
           LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
          WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
    ),
    (
        "table",
        "SELECT c.relname || ' rls=' || c.relrowsecurity || ' force=' || c.relforcerowsecurity \
                || ' acl=' || coalesce(c.relacl, acldefault('r', c.relowner))::text \
                || coalesce(' comment ' || obj_description(c.oid, 'pg_class'), '') \
           FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r'",
    ),
    (
        "constraint",
        "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
           FROM pg_constraint WHERE connamespace = 'support'::regnamespace",
    ),
    (
        "index",
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
          WHERE c.relnamespace = 'support'::regnamespace",
    ),
    (
        "policy",
        "SELECT tablename || ' ' || policyname || ' ' || permissive || ' ' || roles::text || ' ' || cmd \
                || ' using ' || coalesce(qual, '-') || ' check ' || coalesce(with_check, '-') \
           FROM pg_policies WHERE schemaname = 'support'",
    ),
    (
        "trigger",
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
          WHERE c.relnamespace = 'support'::regnamespace AND NOT t.tgisinternal",
    ),
    (
        "function",
        "SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl, acldefault('f', p.proowner))::text \
                || coalesce(' comment ' || obj_description(p.oid, 'pg_proc'), '') \
           FROM pg_proc p WHERE p.pronamespace = 'support'::regnamespace",
    ),
    (
        "event trigger",
        "SELECT evtname || ' ' || evtevent || ' ' || evtfoid::regproc::text || ' ' || coalesce(evttags::text, '-') \
           FROM pg_event_trigger",
    ),
    (
        "config dump",
        "SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'conversations_ext'",
    ),
];

/// Sorted "kind: description" lines.
pub async fn describe(c: &Client) -> Vec<String> {
    let mut lines = Vec::new();
    for (kind, sql) in PARTS {
        for row in c
            .query(*sql, &[])
            .await
            .unwrap_or_else(|e| panic!("catalog {kind}: {e}"))
        {
            let line: Option<String> = row.get(0);
            lines.push(format!("{kind}: {}", line.unwrap_or_default()));
        }
    }
    lines.sort();
    lines
}

/// Lines in `a` and not in `b`, and in `b` and not in `a`.
pub fn diff(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let only_a = a.iter().filter(|l| !b.contains(l)).cloned().collect();
    let only_b = b.iter().filter(|l| !a.contains(l)).cloned().collect();
    (only_a, only_b)
}
