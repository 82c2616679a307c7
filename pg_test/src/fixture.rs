//! Shared helpers: connect to the cluster started by pg_test/run.sh, make a
//! fresh database with the extension and a small two-workspace fixture.
#![allow(dead_code)]

use tokio_postgres::{Client, NoTls, Row};

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

/// A new connection to `db` as the superuser, with `extra` appended to the
/// connection string (e.g. `options='-c name=value'`).
pub async fn connect_with(db: &str, extra: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(&format!("{} {extra}", conninfo(db)), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {db} ({extra}): {e}"));
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

/// The version `CREATE EXTENSION conversations_ext` installs (the control
/// file's default_version): the version under test.
pub async fn default_version(c: &Client) -> String {
    c.query_one(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'conversations_ext'",
        &[],
    )
    .await
    .expect("conversations_ext is not installed (make install)")
    .get(0)
}

/// `SET LOCAL support.user_id = '<user>'`: the end user for the current
/// transaction only. Since 0.3.0 an identity setting counts only when it was
/// made inside the current transaction; a session-level `SET` left from an
/// earlier one identifies nobody.
pub fn set_local_user(user: &str) -> String {
    format!("SET LOCAL support.user_id = '{user}'")
}

/// Runs `sql` (one statement, extended protocol) in a transaction of its own
/// acting as `user`: `BEGIN; SET LOCAL support.user_id; sql; COMMIT`, or
/// ROLLBACK when the statement fails (the error is returned).
pub async fn as_user(c: &Client, user: &str, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
    c.batch_execute(&format!("BEGIN; {}", set_local_user(user)))
        .await?;
    match c.query(sql, &[]).await {
        Ok(rows) => {
            c.batch_execute("COMMIT").await?;
            Ok(rows)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Runs `sql` (one statement, extended protocol) in a transaction of its own
/// as application role `role` (`SET LOCAL ROLE`) and end user `user` (None:
/// nobody): COMMIT on success, ROLLBACK when the statement fails.
pub async fn as_role_user(
    c: &Client,
    role: &str,
    user: Option<&str>,
    sql: &str,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let identity = user.map(set_local_user).unwrap_or_default();
    c.batch_execute(&format!("BEGIN; SET LOCAL ROLE {role}; {identity}"))
        .await?;
    match c.query(sql, &[]).await {
        Ok(rows) => {
            c.batch_execute("COMMIT").await?;
            Ok(rows)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// True for PostgreSQL's own privilege errors ("permission denied for
/// function/table/schema/column/sequence ..."), as opposed to the
/// extension's 42501 refusals (row-level security, workspace roles).
pub fn is_missing_privilege(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| {
        d.code().code() == "42501" && d.message().starts_with("permission denied for")
    })
}

/// The message of a server error ("" for success or a connection error).
pub fn error_message<T>(r: &Result<T, tokio_postgres::Error>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

/// [`as_user`] for a statement that returns exactly one row.
pub async fn as_user_one(c: &Client, user: &str, sql: &str) -> Result<Row, tokio_postgres::Error> {
    c.batch_execute(&format!("BEGIN; {}", set_local_user(user)))
        .await?;
    match c.query_one(sql, &[]).await {
        Ok(row) => {
            c.batch_execute("COMMIT").await?;
            Ok(row)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Runs `sql` (any number of statements, simple protocol) in one transaction
/// acting as `user`; ROLLBACK when a statement fails (the error is returned).
pub async fn as_user_batch(c: &Client, user: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    match c
        .batch_execute(&format!("BEGIN; {}; {sql}; COMMIT", set_local_user(user)))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The count `sql` returns (one row, one bigint) in a transaction acting as `user`.
pub async fn count_as(c: &Client, user: &str, sql: &str) -> i64 {
    as_user_one(c, user, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql} as {user}: {e}"))
        .get(0)
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
