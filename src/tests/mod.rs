//! In-process tests (`cargo pgrx test`). Each `#[pg_test]` runs in one
//! transaction that is rolled back; errors are caught in a subtransaction by
//! `tests.sqlstate_of(sql)` so one test can assert several SQLSTATEs and then
//! check that nothing changed.
//!
//! Tests create a role and grant on shared catalog rows, so they must run one
//! at a time: the Makefile sets RUST_TEST_THREADS=1.

use pgrx::prelude::*;

mod claim;
mod foreign_keys;
mod identity;
mod isolation;
mod lifecycle;
pub mod random;
mod schema;
mod verified;

#[pg_schema]
mod tests {

    pgrx::extension_sql!(
        r#"
    -- Runs `q` in a subtransaction (as the current role, so RLS applies) and
    -- returns its SQLSTATE, '00000' when it succeeded.
    CREATE FUNCTION tests.sqlstate_of(q text) RETURNS text
    LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE q;
        RETURN '00000';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END
    $$;
    -- Same, returning the error message (to compare two errors word for word).
    CREATE FUNCTION tests.error_of(q text) RETURNS text
    LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE q;
        RETURN NULL;
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE || ': ' || SQLERRM;
    END
    $$;
    -- EXPLAIN output of a query, one line per row.
    CREATE FUNCTION tests.explain_of(q text) RETURNS TABLE ("QUERY PLAN" text)
    LANGUAGE plpgsql AS $$
    BEGIN
        RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q;
    END
    $$;
    GRANT USAGE ON SCHEMA tests TO PUBLIC;
    GRANT EXECUTE ON FUNCTION tests.sqlstate_of(text), tests.error_of(text) TO PUBLIC;
    "#,
        name = "test_helpers",
        requires = ["schema"]
    );
}

// Workspaces, users and conversations every test starts from.
pub const W1: &str = "a1000000-0000-4000-8000-000000000001";
pub const W2: &str = "a2000000-0000-4000-8000-000000000002";
/// Agent in W1.
pub const U1: &str = "b1000000-0000-4000-8000-000000000001";
/// Agent in W2.
pub const U2: &str = "b2000000-0000-4000-8000-000000000002";
/// Second agent in W1.
pub const A1: &str = "b3000000-0000-4000-8000-000000000003";
/// Viewer in W1.
pub const V1: &str = "b4000000-0000-4000-8000-000000000004";
/// A user who belongs to no workspace.
pub const X: &str = "b5000000-0000-4000-8000-000000000005";
/// Bots of W1 and W2.
pub const B1: &str = "c1000000-0000-4000-8000-000000000001";
pub const B2: &str = "c2000000-0000-4000-8000-000000000002";
/// C1, C3: W1 (active, escalated); C2, C4: W2 (active, escalated).
pub const C1: &str = "d1000000-0000-4000-8000-000000000001";
pub const C2: &str = "d2000000-0000-4000-8000-000000000002";
pub const C3: &str = "d3000000-0000-4000-8000-000000000003";
pub const C4: &str = "d4000000-0000-4000-8000-000000000004";
/// An id that names no row at all.
pub const NOWHERE: &str = "eeeeeeee-0000-4000-8000-00000000ffff";

/// The application role every test switches to.
pub const APP_ROLE: &str = "cx_test_app";

/// Creates the two-workspace world (as the superuser, so explicit ids are fine).
pub fn fixture() {
    run(&format!(
        "INSERT INTO support.users (id, kind, display_name) VALUES
            ('{U1}', 'human', 'u1'), ('{U2}', 'human', 'u2'), ('{A1}', 'human', 'a1'),
            ('{V1}', 'human', 'v1'), ('{X}', 'human', 'x'),
            ('{B1}', 'bot', 'bot1'), ('{B2}', 'bot', 'bot2');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1'), ('{W2}', 'w2');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES
            ('{W1}', '{U1}', 'agent'), ('{W1}', '{A1}', 'agent'), ('{W1}', '{V1}', 'viewer'),
            ('{W1}', '{B1}', 'agent'), ('{W2}', '{U2}', 'agent'), ('{W2}', '{B2}', 'agent');
         INSERT INTO support.conversations (id, workspace_id, bot_user_id, status, escalated_at, subject) VALUES
            ('{C1}', '{W1}', '{B1}', 'active', NULL, 'c1'),
            ('{C2}', '{W2}', '{B2}', 'active', NULL, 'c2'),
            ('{C3}', '{W1}', '{B1}', 'escalated', now(), 'c3'),
            ('{C4}', '{W2}', '{B2}', 'escalated', now(), 'c4');
         INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, author_id, content) VALUES
            ('{W1}', '{C1}', 'customer', NULL, 'hello from c1'),
            ('{W1}', '{C1}', 'bot', '{B1}', 'bot reply in c1'),
            ('{W2}', '{C2}', 'customer', NULL, 'hello from c2'),
            ('{W1}', '{C3}', 'customer', NULL, 'need a human in c3'),
            ('{W2}', '{C4}', 'customer', NULL, 'need a human in c4');
         CREATE ROLE {APP_ROLE} NOLOGIN;
         SELECT support.grant_usage('{APP_ROLE}');"
    ));
}

/// Runs SQL as the current role, failing the test with the statement on error.
pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"));
}

/// The SQLSTATE `sql` ends with ('00000' on success), run in a subtransaction.
pub fn sqlstate(sql: &str) -> String {
    Spi::get_one_with_args::<String>("SELECT tests.sqlstate_of($1)", &[sql.into()])
        .unwrap_or_else(|e| panic!("sqlstate_of({sql}): {e}"))
        .unwrap_or_default()
}

/// "SQLSTATE: message" of the error `sql` raises (None on success).
pub fn error_of(sql: &str) -> Option<String> {
    Spi::get_one_with_args::<String>("SELECT tests.error_of($1)", &[sql.into()])
        .unwrap_or_else(|e| panic!("error_of({sql}): {e}"))
}

/// A single value.
pub fn value<T: IntoDatum + FromDatum>(sql: &str) -> Option<T> {
    Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
}

/// The first column of every row, as sorted text (NULL as "NULL").
pub fn texts(sql: &str) -> Vec<String> {
    let wrapped = format!(
        "SELECT coalesce(array_agg(coalesce(x::text, 'NULL') ORDER BY x::text), '{{}}') \
           FROM ({sql}) AS q(x)"
    );
    value::<Vec<String>>(&wrapped).unwrap_or_default()
}

/// Row count of a query.
pub fn count(sql: &str) -> i64 {
    value::<i64>(&format!("SELECT count(*) FROM ({sql}) AS q")).unwrap_or(0)
}

/// Becomes the application role acting for end user `user` (via support.user_id).
pub fn as_user(user: &str) {
    reset_identity();
    run(&format!("SET LOCAL ROLE {APP_ROLE}"));
    run(&format!("SET LOCAL support.user_id = '{user}'"));
}

/// Back to the superuser running the test, with no end-user identity.
pub fn as_owner() {
    run("RESET ROLE");
    reset_identity();
}

/// Clears the three identity settings for the rest of the transaction.
pub fn reset_identity() {
    run("SELECT set_config('request.jwt.claims', '', true), \
                set_config('request.jwt.claim.sub', '', true), \
                set_config('support.user_id', '', true)");
}

/// Sorted ids, as text.
pub fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
