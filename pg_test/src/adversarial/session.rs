//! How the adversarial suite acts as an end user: one transaction per statement, the identity named through one of the three identity settings.

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::model::{Expect, Op};
use crate::outcome::{outcome, Outcome};

/// How an end user is named for one transaction.
#[derive(Clone, Debug)]
pub enum Identity {
    Claims(String),
    ClaimSub(String),
    UserId(String),
    Nobody,
}

impl Identity {
    /// Rotates over the three identity sources.
    pub fn of(user: &str, n: usize) -> Self {
        match n % 3 {
            0 => Identity::Claims(user.to_string()),
            1 => Identity::ClaimSub(user.to_string()),
            _ => Identity::UserId(user.to_string()),
        }
    }
    pub fn user(&self) -> Option<&str> {
        match self {
            Identity::Claims(u) | Identity::ClaimSub(u) | Identity::UserId(u) => Some(u),
            Identity::Nobody => None,
        }
    }
    /// The identity for the current transaction. On a Citus cluster Citus
    /// sends it on to the workers (`citus.propagate_set_commands`), so each
    /// source is read there too (docs/scale-out.md#identity-on-the-workers).
    pub fn set_local(&self) -> String {
        let propagate = if crate::citus::enabled() && !matches!(self, Identity::Nobody) {
            "SET LOCAL citus.propagate_set_commands = 'local'; "
        } else {
            ""
        };
        let set = match self {
            Identity::Claims(u) => format!("SET LOCAL request.jwt.claims = '{{\"sub\":\"{u}\"}}';"),
            Identity::ClaimSub(u) => format!("SET LOCAL request.jwt.claim.sub = '{u}';"),
            Identity::UserId(u) => format!("SET LOCAL support.user_id = '{u}';"),
            Identity::Nobody => String::new(),
        };
        format!("{propagate}{set}")
    }
    pub fn label(&self) -> String {
        match self {
            Identity::Claims(u) => format!("claims:{u}"),
            Identity::ClaimSub(u) => format!("claim.sub:{u}"),
            Identity::UserId(u) => format!("user_id:{u}"),
            Identity::Nobody => "nobody".into(),
        }
    }
}

/// A server error in full (SQLSTATE, message, and detail, hint and context
/// when there are any), where tokio-postgres's own text says only "db error".
pub fn error_text(e: &tokio_postgres::Error) -> String {
    let Some(d) = e.as_db_error() else {
        return format!("connection: {e}");
    };
    let mut s = format!("{}: {}", d.code().code(), d.message());
    for (what, field) in [
        ("detail", d.detail()),
        ("hint", d.hint()),
        ("context", d.where_()),
    ] {
        if let Some(f) = field {
            s.push_str(&format!(" ({what}: {f})"));
        }
    }
    s
}

/// `BEGIN`, the identity, then `setup` (statements run before the one under
/// test), all in the current transaction.
///
/// On a Citus cluster the identity is a message of its own: with
/// `citus.propagate_set_commands = 'local'` Citus replays the whole query
/// string a propagated `SET LOCAL` came in on every worker connection the
/// transaction opens, so anything sent in the same string (a `BEGIN`, the
/// setup, a lifecycle call) would run on the workers too (there it fails:
/// XX000 "cannot execute a distributed query from a query on a shard").
pub async fn begin(c: &Client, identity: &Identity, setup: &str) {
    let batches = if crate::citus::enabled() {
        vec!["BEGIN".to_string(), identity.set_local(), setup.to_string()]
    } else {
        vec![format!("BEGIN; {} {setup}", identity.set_local())]
    };
    for sql in batches.iter().filter(|b| !b.trim().is_empty()) {
        if let Err(e) = c.batch_execute(sql).await {
            panic!("begin as {}: `{sql}`: {}", identity.label(), error_text(&e));
        }
    }
}

/// First column of every row of `sql` (simple protocol) as `identity`.
pub async fn rows_as(
    c: &Client,
    identity: &Identity,
    setup: &str,
    sql: &str,
) -> Result<Vec<String>, String> {
    rows_or_outcome(c, identity, setup, sql)
        .await
        .map_err(|o| o.describe())
}

/// [`rows_as`], with the full outcome of a failed statement.
pub async fn rows_or_outcome(
    c: &Client,
    identity: &Identity,
    setup: &str,
    sql: &str,
) -> Result<Vec<String>, Outcome> {
    begin(c, identity, setup).await;
    let r = c.simple_query(sql).await;
    let out = match r {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()),
        Err(e) => Err(Outcome::from_error(&e)),
    };
    c.batch_execute("ROLLBACK").await.unwrap();
    out
}

/// Rows of a COPY ... TO STDOUT as `identity`.
pub async fn copy_as(c: &Client, identity: &Identity, sql: &str) -> Result<Vec<String>, String> {
    use futures::TryStreamExt;
    begin(c, identity, "").await;
    let r = async {
        let stream = c.copy_out(sql).await?;
        futures::pin_mut!(stream);
        let mut all: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.try_next().await? {
            all.extend_from_slice(&chunk);
        }
        Ok::<_, tokio_postgres::Error>(all)
    }
    .await;
    c.batch_execute("ROLLBACK").await.unwrap();
    match r {
        Ok(all) => Ok(String::from_utf8_lossy(&all)
            .lines()
            .map(str::to_string)
            .collect()),
        Err(e) => Err(Outcome::from_error(&e).describe()),
    }
}

/// One statement as `identity` in its own transaction, committed (an error
/// rolls it back).
pub async fn attempt_as(c: &Client, identity: &Identity, sql: &str) -> Outcome {
    begin(c, identity, "").await;
    let o = outcome(c, sql).await;
    c.batch_execute("COMMIT").await.unwrap();
    o
}

/// One statement as `identity`, always rolled back.
pub async fn try_as(c: &Client, identity: &Identity, setup: &str, sql: &str) -> Outcome {
    begin(c, identity, setup).await;
    let o = outcome(c, sql).await;
    c.batch_execute("ROLLBACK").await.unwrap();
    o
}

/// Runs one lifecycle call as `identity` in its own transaction.
pub async fn run_op(c: &Client, identity: &Identity, op: &Op) -> Expect {
    begin(c, identity, "").await;
    let (sql, args) = op.sql();
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let r = c.query(sql.as_str(), &params).await;
    match r {
        Ok(rows) => {
            c.batch_execute("COMMIT").await.unwrap();
            let row = &rows[0];
            let id: Option<String> = row.get(0);
            Expect {
                state: "00000",
                row: id.map(|id| (id, row.get(1), row.get(2))),
            }
        }
        Err(e) => {
            c.batch_execute("ROLLBACK").await.unwrap();
            let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            Expect {
                state: Box::leak(state.into_boxed_str()),
                row: None,
            }
        }
    }
}

/// Ends the transaction of a write whose outcome the matrix predicts
/// (`verdict`, "00000": allowed): commits an allowed write and returns its
/// row; a refused one must have failed with exactly that SQLSTATE.
pub async fn as_the_matrix_says(
    app: &Client,
    result: Result<tokio_postgres::Row, tokio_postgres::Error>,
    verdict: &str,
    what: &str,
) -> Option<tokio_postgres::Row> {
    match result {
        Ok(row) => {
            app.batch_execute("COMMIT").await.unwrap();
            assert_eq!(
                verdict, "00000",
                "{what}: the server allowed it, docs/permissions.tsv says {verdict}"
            );
            Some(row)
        }
        Err(e) => {
            app.batch_execute("ROLLBACK").await.unwrap();
            let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            let said = Outcome::from_error(&e).describe();
            assert_eq!(
                state, verdict,
                "{what}: the server said {said}, docs/permissions.tsv says {verdict}"
            );
            None
        }
    }
}
