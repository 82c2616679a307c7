//! Shared helpers: connect to the cluster started by pg_test/run.sh, make a
//! fresh database with the extension and a small two-workspace fixture.
#![allow(dead_code)]

use tokio_postgres::{Client, NoTls};

pub const W1: &str = "a1000000-0000-4000-8000-000000000001";
pub const W2: &str = "a2000000-0000-4000-8000-000000000002";
pub const U1: &str = "b1000000-0000-4000-8000-000000000001";
pub const U2: &str = "b2000000-0000-4000-8000-000000000002";
pub const APP_ROLE: &str = "support_app";

fn conninfo(db: &str) -> String {
    let host = std::env::var("CX_PGHOST").expect("CX_PGHOST: run through pg_test/run.sh");
    let port = std::env::var("CX_PGPORT").expect("CX_PGPORT: run through pg_test/run.sh");
    format!("host={host} port={port} user=postgres dbname={db}")
}

/// A new connection to `db` as the superuser.
pub async fn connect(db: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(&conninfo(db), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A new connection acting as the application role (RLS applies).
pub async fn connect_app(db: &str) -> Client {
    let c = connect(db).await;
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .expect("set role");
    c
}

/// Drops and recreates an empty database `db` (`options`: e.g. an ENCODING
/// clause) and returns the admin connection used.
pub async fn recreate_database(db: &str, options: &str) -> Client {
    let admin = connect("postgres").await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db} {options}"))
        .await
        .unwrap();
    admin
}

/// The installed version of conversations_ext in the connected database.
pub async fn extension_version(c: &Client) -> Option<String> {
    c.query_opt(
        "SELECT extversion FROM pg_extension WHERE extname = 'conversations_ext'",
        &[],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

/// Drops and recreates database `db` with the extension, the application role
/// and workspaces W1 (member U1 + `extra_w1_agents`) and W2 (member U2).
pub async fn fresh_database(db: &str, extra_w1_agents: &[String]) -> Client {
    let admin = recreate_database(db, "").await;
    // Roles are cluster-wide: create the app role once (tests run in parallel).
    let _ = admin
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .await;
    let c = connect(db).await;
    c.batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    c.batch_execute(&format!("SELECT support.grant_usage('{APP_ROLE}')"))
        .await
        .unwrap();
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

/// The SQLSTATE of a failed statement ("00000" for success).
pub fn sqlstate<T>(r: &Result<T, tokio_postgres::Error>) -> String {
    match r {
        Ok(_) => "00000".into(),
        Err(e) => e
            .code()
            .map(|c| c.code().to_string())
            .unwrap_or_else(|| format!("?? {e}")),
    }
}
