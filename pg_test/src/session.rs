//! Acting as an end user for one transaction (identity set with SET LOCAL), and reading what a statement's result says.

use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

/// `SET LOCAL support.user_id = '<user>'`: the end user for the current
/// transaction only. Since 0.3.0 an identity setting counts only when it was
/// made inside the current transaction; a session-level `SET` left from an
/// earlier one identifies nobody.
/// On a Citus cluster it is then made known to the workers
/// (`support.propagate_identity()`, see [`crate::citus`]).
pub fn set_local_user(user: &str) -> String {
    format!(
        "SET LOCAL support.user_id = '{user}'{}",
        crate::citus::identity_suffix()
    )
}

/// Runs `sql` (one statement, extended protocol) in a transaction of its own
/// acting as `user`: `BEGIN; SET LOCAL support.user_id; sql; COMMIT`, or
/// ROLLBACK when the statement fails (the error is returned).
pub async fn as_user(c: &Client, user: &str, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
    in_transaction(c, &set_local_user(user), c.query(sql, &[])).await
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
    let setup = format!("SET LOCAL ROLE {role}; {identity}");
    in_transaction(c, &setup, c.query(sql, &[])).await
}

/// `BEGIN; setup; statement; COMMIT` (ROLLBACK when `statement` fails). The
/// statement is a future not yet polled: it runs after BEGIN.
async fn in_transaction<T>(
    c: &Client,
    setup: &str,
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    c.batch_execute(&format!("BEGIN; {setup}")).await?;
    match statement.await {
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

/// [`as_user`] for a statement that returns exactly one row.
pub async fn as_user_one(c: &Client, user: &str, sql: &str) -> Result<Row, tokio_postgres::Error> {
    in_transaction(c, &set_local_user(user), c.query_one(sql, &[])).await
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

/// "SQLSTATE: message" of a server error (tokio-postgres's Display says only
/// "db error"), else the error as it displays.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string())
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

/// The first column of every row of `sql` (extended protocol, no
/// parameters) as text, collected (a Vec, a set...); panics on an error.
pub async fn texts<B: FromIterator<String>>(c: &Client, sql: &str) -> B {
    c.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The first two columns of every row of `sql` (extended protocol, no
/// parameters), as pairs; panics on an error.
pub async fn pairs<A, B>(c: &Client, sql: &str) -> Vec<(A, B)>
where
    A: for<'a> FromSql<'a>,
    B: for<'a> FromSql<'a>,
{
    c.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
