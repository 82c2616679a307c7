//! The small two-workspace fixture most tests start from: a fresh database with the extension, the application role, W1 (U1) and W2 (U2).

use tokio_postgres::Client;

use crate::cluster::{connect, recreate_database, recreate_database_on, Target};
use crate::roles::{ensure_role, grant_usage};

pub const W1: &str = "a1000000-0000-4000-8000-000000000001";
pub const W2: &str = "a2000000-0000-4000-8000-000000000002";
pub const U1: &str = "b1000000-0000-4000-8000-000000000001";
pub const U2: &str = "b2000000-0000-4000-8000-000000000002";
/// The application role (NOLOGIN), as docs and regression tests name it.
pub const APP_ROLE: &str = "support_app";

/// A new connection acting as the application role (RLS applies).
pub async fn connect_app(db: &str) -> Client {
    let c = connect(db).await;
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .expect("set role");
    c
}

/// Drops and recreates database `db` with the extension and the application
/// role, and no rows; returns a superuser connection to it.
pub async fn empty_database(db: &str) -> Client {
    empty_database_on(&Target::from_env(), db).await
}

/// [`empty_database`] on the cluster `target`.
pub async fn empty_database_on(target: &Target, db: &str) -> Client {
    let admin = if crate::citus::enabled() {
        recreate_database(db, "").await
    } else {
        recreate_database_on(target, db, "").await
    };
    ensure_role(&admin, APP_ROLE, "NOLOGIN").await;
    // On Citus the coordinator connects to the workers as the current role.
    if crate::citus::enabled() {
        crate::roles::retrying(&admin, &format!("ALTER ROLE {APP_ROLE} LOGIN")).await;
    }
    let c = target.connect_with(db, "").await;
    c.batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap_or_else(|e| panic!("{db}: install the extension: {e}"));
    grant_usage(&c, APP_ROLE).await;
    crate::citus::distribute(&c).await;
    c
}

/// Drops and recreates database `db` with the extension, the application role
/// and workspaces W1 (member U1 + `extra_w1_agents`) and W2 (member U2).
pub async fn fresh_database(db: &str, extra_w1_agents: &[String]) -> Client {
    let c = empty_database(db).await;
    c.batch_execute(&format!(
        "INSERT INTO support.users (id) VALUES ('{U1}'), ('{U2}');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1'), ('{W2}', 'w2');
         INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{W1}', '{U1}'), ('{W2}', '{U2}');"
    ))
    .await
    .unwrap();
    for agent in extra_w1_agents {
        c.batch_execute(&format!(
            "INSERT INTO support.users (id) VALUES ('{agent}');
             INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{W1}', '{agent}');"
        ))
        .await
        .unwrap();
    }
    c
}

/// Deterministic user ids for generated agents.
pub fn agent_id(n: usize) -> String {
    format!("f0000000-0000-4000-8000-{n:012}")
}

/// Inserts `n` escalated conversations in W1 (as the owner) and returns their ids.
pub async fn escalated_conversations(c: &Client, n: usize) -> Vec<String> {
    let rows = c
        .query(
            &format!(
                "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
                 SELECT '{W1}', 'escalated', now() - make_interval(secs => {n} - g), 'conv ' || g
                   FROM generate_series(1, {n}) AS g
                 RETURNING id::text"
            ),
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}
