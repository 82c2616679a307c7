//! The documented differences of a Citus deployment the adversarial suite accepts, and only in Citus mode ([`crate::citus::enabled`]): each narrowly matched (SQLSTATE and message prefix), counted in the family's [`Report`](super::Report) and printed at its end, so that a reader sees what was accepted. On a single server nothing here accepts anything.
//!
//! - Citus refuses with 0A000, the same message for every id, statements it
//!   cannot distribute ([`refusal`]): such a refusal changes nothing and
//!   reveals nothing, provided the answer for another workspace's id is the
//!   answer for a missing id and the database is unchanged (the callers
//!   check both).
//! - Citus's errors name the shard table (`conversations_102013`, a function
//!   of the workspace id alone) and the worker that raised them (`while
//!   executing command on host:port`): [`comparable`] leaves both out when
//!   two errors are compared; SQLSTATEs are compared exactly.

use tokio_postgres::Client;

use crate::outcome::{ErrorShape, Outcome};

/// Whether the suite runs against a Citus cluster.
pub fn enabled() -> bool {
    crate::citus::enabled()
}

/// Citus mode: the attacker's log table (`public.leak_log`) and leaky
/// operator (`public.<<<`), made on the coordinator by the application role,
/// on every worker too, where Citus runs the attacker's functions inside the
/// shards' queries and plans them with the shards' statistics (Citus
/// propagates the functions, not a local table nor an operator). Made by the
/// superuser: more than an application role could do, so that a value a
/// function sees on a worker is caught in the log as well as in the NOTICE
/// Citus relays, and the estimator attack runs where the statistics are.
pub async fn attacker_objects_on_workers(owner: &Client) {
    if !enabled() {
        return;
    }
    on_workers(
        owner,
        "CREATE TABLE public.leak_log (v text); GRANT ALL ON public.leak_log TO PUBLIC; \
         CREATE OPERATOR public.<<< (LEFTARG = text, RIGHTARG = text, FUNCTION = public.leak_lt, RESTRICT = scalarltsel)",
    )
    .await;
}

/// Runs `sql` on every worker (`run_command_on_workers`), as the superuser;
/// the result of each (one value) in the order of their ports. Panics when
/// one fails.
pub async fn on_workers(owner: &Client, sql: &str) -> Vec<String> {
    let rows = owner
        .query(
            "SELECT success, result FROM run_command_on_workers($1) ORDER BY nodeport",
            &[&sql],
        )
        .await
        .unwrap_or_else(|e| panic!("on the workers: {sql}: {}", super::session::error_text(&e)));
    rows.iter()
        .map(|r| {
            let result: String = r.get(1);
            assert!(r.get::<_, bool>(0), "on a worker: {sql}: {result}");
            result
        })
        .collect()
}

/// The attacker's log: its rows on the coordinator and, in Citus mode, on
/// every worker (read through a connection of the superuser to each).
pub struct LeakLog {
    workers: Vec<Client>,
}

impl LeakLog {
    pub async fn connect(owner: &Client) -> Self {
        let mut workers = Vec::new();
        if let Some(ports) = crate::citus::workers() {
            let db: String = owner
                .query_one("SELECT current_database()", &[])
                .await
                .unwrap()
                .get(0);
            for n in 0..ports.len() {
                workers.push(crate::citus::connect_worker(n, &db).await);
            }
        }
        LeakLog { workers }
    }

    /// Every value logged since the last call, on every node; the log is
    /// emptied everywhere.
    pub async fn take(&self, owner: &Client) -> Vec<String> {
        let read = "SELECT coalesce(v, '<NULL>') FROM public.leak_log";
        let mut out: Vec<String> = crate::session::texts(owner, read).await;
        owner
            .batch_execute("TRUNCATE public.leak_log")
            .await
            .unwrap();
        for w in &self.workers {
            out.extend(crate::session::texts::<Vec<String>>(w, read).await);
            w.batch_execute("TRUNCATE public.leak_log").await.unwrap();
        }
        out
    }
}

/// A statement shape Citus refuses with 0A000 before it reads any row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `SELECT ... FOR UPDATE/SHARE` without an equality on workspace_id.
    ForUpdate,
    /// A generic plan of a prepared statement over several shards.
    GenericPlan,
    /// An UPDATE of workspace_id (the shard key).
    ShardKeyUpdate,
}

impl Refusal {
    pub const ALL: [Refusal; 3] = [
        Refusal::ForUpdate,
        Refusal::GenericPlan,
        Refusal::ShardKeyUpdate,
    ];

    /// The start of Citus's message for it.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::ForUpdate => "could not run distributed query with FOR UPDATE/SHARE commands",
            Refusal::GenericPlan => "could not create distributed plan",
            Refusal::ShardKeyUpdate => "modifying the partition value of rows is not allowed",
        }
    }

    /// What the count printed at the end of a family calls it.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::ForUpdate => "0A000 (FOR UPDATE without workspace_id)",
            Refusal::GenericPlan => "0A000 (generic plan over several shards)",
            Refusal::ShardKeyUpdate => "0A000 (UPDATE of the shard key workspace_id)",
        }
    }
}

/// The Citus refusal `o` is, in Citus mode only, and only one of `allowed`:
/// SQLSTATE 0A000 and a message starting with that refusal's.
pub fn refusal(o: &Outcome, allowed: &[Refusal]) -> Option<Refusal> {
    if !enabled() || o.state != "0A000" {
        return None;
    }
    let message = &o.error.as_ref()?.message;
    Refusal::ALL
        .into_iter()
        .filter(|r| allowed.contains(r))
        .find(|r| message.starts_with(r.message()))
}

/// An error in full, for comparing it with another: every field joined,
/// with each `(needle, placeholder)` replaced ([`ErrorShape::normalized`]);
/// in Citus mode also without the shard suffix of relation names and
/// without the lines naming the worker that raised it.
pub fn comparable(e: &ErrorShape, replacements: &[(&str, &str)]) -> String {
    let s = e.normalized(replacements);
    if !enabled() {
        return s;
    }
    let s: Vec<String> = s
        .split(" | ")
        .map(|field| {
            let lines: Vec<&str> = field
                .lines()
                .filter(|l| !l.trim_start().starts_with("while executing command on "))
                .collect();
            without_shard_suffixes(&lines.join("\n"))
        })
        .collect();
    s.join(" | ")
}

/// `conversations_102013` -> `conversations`: every `_<digits>` that ends a
/// word and follows a word character is removed.
pub fn without_shard_suffixes(s: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '_' && i > 0 && word(chars[i - 1]) {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 && (j == chars.len() || !word(chars[j])) {
                i = j;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_shard_suffixes;

    #[test]
    fn shard_suffixes() {
        assert_eq!(
            without_shard_suffixes(
                "policy for table \"conversation_messages_102017\", conversations_pkey_102013"
            ),
            "policy for table \"conversation_messages\", conversations_pkey"
        );
        assert_eq!(without_shard_suffixes("a_1b x_2 _3"), "a_1b x _3");
    }
}
